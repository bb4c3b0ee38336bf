// hvrun rm [-f] CONTAINER...

#include "cli/commands.hpp"
#include "engine/engine.hpp"

namespace hvrun::cli {

void register_rm(CLI::App& app, Context& ctx, Action& action) {
  auto* sub = app.add_subcommand("rm", "Remove containers");
  auto force = std::make_shared<bool>(false);
  auto names = std::make_shared<std::vector<std::string>>();
  sub->add_flag("-f,--force", *force, "Kill and remove running containers");
  sub->add_option("containers", *names, "Containers")->required();
  sub->callback([=, &ctx, &action] {
    action = [=, &ctx]() -> int {
      return for_each_container(ctx, *names, [&](const engine::Records& rec, const std::string& id) {
        engine::remove_container(rec, id, *force);
      });
    };
  });
}

}  // namespace hvrun::cli
