// hvrun rename CONTAINER NEW_NAME (as docker rename).
#include "cli/commands.hpp"
#include "engine/records.hpp"

namespace hvrun::cli {

void register_rename(CLI::App& app, Context& ctx, Action& action) {
  auto* sub = app.add_subcommand("rename", "Rename a container");
  auto from = std::make_shared<std::string>();
  auto to = std::make_shared<std::string>();
  sub->add_option("container", *from, "Container name or id")->required();
  sub->add_option("new_name", *to, "Its new name")->required();
  sub->callback([=, &ctx, &action] {
    action = [=, &ctx]() -> int {
      engine::Records rec(ctx.root());
      rec.rename(rec.resolve(*from), *to);
      return 0;
    };
  });
}

}  // namespace hvrun::cli
