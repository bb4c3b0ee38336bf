// hvrun top CONTAINER: its processes as the host sees them (engine/usage.hpp).
#include "cli/commands.hpp"
#include "engine/records.hpp"
#include "engine/usage.hpp"

namespace hvrun::cli {

void register_top(CLI::App& app, Context& ctx, Action& action) {
  auto* sub = app.add_subcommand("top", "Show a running container's processes (a microVM's: its VMM's)");
  auto name = std::make_shared<std::string>();
  sub->add_option("container", *name, "Container name or id")->required();
  sub->callback([=, &ctx, &action] {
    action = [=, &ctx]() -> int {
      engine::Records rec(ctx.root());
      const engine::ProcessTable t = engine::container_top(rec, rec.resolve(*name));
      std::vector<std::vector<std::string>> rows{t.titles};
      rows.insert(rows.end(), t.rows.begin(), t.rows.end());
      print_columns(rows, 20);  // docker top's columns are 20 wide at least
      return 0;
    };
  });
}

}  // namespace hvrun::cli
