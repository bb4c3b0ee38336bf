// hvrun restart [-t SECONDS] CONTAINER...: stop (as hvrun stop) if it runs,
// then start again on the files it left (as hvrun start), as `docker restart`.
#include "cli/commands.hpp"
#include "engine/engine.hpp"

namespace hvrun::cli {

void register_restart(CLI::App& app, Context& ctx, Action& action) {
  auto* sub = app.add_subcommand("restart", "Restart containers (stop if running, then start again)");
  auto t = std::make_shared<std::optional<int>>();
  auto names = std::make_shared<std::vector<std::string>>();
  sub->add_option("-t,--time", *t, "Seconds to wait before killing (default: the container's --stop-timeout, else 10)")
      ->check(CLI::Range(0, 86400));
  sub->add_option("containers", *names, "Containers")->required();
  sub->callback([=, &ctx, &action] {
    action = [=, &ctx]() -> int {
      return for_each_container(ctx, *names, [&](const engine::Records& rec, const std::string& id) {
        engine::restart_container(rec, id, *t);
      });
    };
  });
}

}  // namespace hvrun::cli
