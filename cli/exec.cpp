// hvrun exec (stub: to be implemented)
#include "cli/commands.hpp"
#include "util/error.hpp"

namespace hvrun::cli {

void register_exec(CLI::App& app, Context& ctx, Action& action) {
  auto* sub = app.add_subcommand("exec", "(not implemented yet)");
  sub->allow_extras();
  sub->callback([&ctx, &action] {
    (void)ctx;
    action = [] () -> int { throw Error("'exec' is not implemented yet"); };
  });
}

}  // namespace hvrun::cli
