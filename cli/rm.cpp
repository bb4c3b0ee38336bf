// hvrun rm [-f] [-v] CONTAINER...

#include "cli/commands.hpp"
#include "engine/engine.hpp"

namespace hvrun::cli {

void register_rm(CLI::App& app, Context& ctx, Action& action) {
  auto* sub = app.add_subcommand("rm", "Remove containers");
  auto force = std::make_shared<bool>(false);
  auto names = std::make_shared<std::vector<std::string>>();
  auto volumes = std::make_shared<bool>(false);
  sub->add_flag("-f,--force", *force, "Kill and remove running containers");
  sub->add_flag("-v,--volumes", *volumes, "Remove the anonymous volumes of the containers too");
  sub->add_option("containers", *names, "Containers")->required();
  sub->callback([=, &ctx, &action] {
    action = [=, &ctx]() -> int {
      return for_each_container(ctx, *names, [&](const engine::Records& rec, const std::string& id) {
        engine::remove_container(rec, id, *force, *volumes);
      });
    };
  });
}

}  // namespace hvrun::cli
