// hvrun start CONTAINER...: starts created containers, each detached (its
// own monitor), and prints each one's name as given, as `docker start`.
#include "cli/commands.hpp"
#include "engine/engine.hpp"

namespace hvrun::cli {

void register_start(CLI::App& app, Context& ctx, Action& action) {
  auto* sub = app.add_subcommand("start", "Start created containers (each runs detached)");
  auto names = std::make_shared<std::vector<std::string>>();
  sub->add_option("containers", *names, "Containers")->required();
  sub->callback([=, &ctx, &action] {
    action = [=, &ctx]() -> int {
      return for_each_container(ctx, *names, [](const engine::Records& rec, const std::string& id) {
        engine::start_container(rec, id);
      });
    };
  });
}

}  // namespace hvrun::cli
