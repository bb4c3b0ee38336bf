// hvrun pause CONTAINER...  /  hvrun unpause CONTAINER...
// Both modes: a container's processes, or a microVM's VMM (vCPUs and
// devices), frozen by the cgroup freezer until unpause (engine/pause.hpp).
#include "cli/commands.hpp"
#include "engine/pause.hpp"

namespace hvrun::cli {

namespace {

void register_one(CLI::App& app, Context& ctx, Action& action, const char* name, const char* help,
                  void (*apply)(const engine::Records&, const std::string&)) {
  auto* sub = app.add_subcommand(name, help);
  auto names = std::make_shared<std::vector<std::string>>();
  sub->add_option("containers", *names, "Containers")->required();
  sub->callback([=, &ctx, &action] {
    action = [=, &ctx]() -> int { return for_each_container(ctx, *names, apply); };
  });
}

}  // namespace

void register_pause(CLI::App& app, Context& ctx, Action& action) {
  register_one(app, ctx, action, "pause",
               "Pause every process of running containers (a microVM: its vCPUs and devices)", engine::pause_container);
  register_one(app, ctx, action, "unpause", "Unpause paused containers", engine::unpause_container);
}

}  // namespace hvrun::cli
