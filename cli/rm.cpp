// hvrun rm (stub: to be implemented)
#include "cli/commands.hpp"
#include "util/error.hpp"

namespace hvrun::cli {

void register_rm(CLI::App& app, Context& ctx, Action& action) {
  auto* sub = app.add_subcommand("rm", "(not implemented yet)");
  sub->allow_extras();
  sub->callback([&ctx, &action] {
    (void)ctx;
    action = [] () -> int { throw Error("'rm' is not implemented yet"); };
  });
}

}  // namespace hvrun::cli
