// hvrun stop (stub: to be implemented)
#include "cli/commands.hpp"
#include "util/error.hpp"

namespace hvrun::cli {

void register_stop(CLI::App& app, Context& ctx, Action& action) {
  auto* sub = app.add_subcommand("stop", "(not implemented yet)");
  sub->allow_extras();
  sub->callback([&ctx, &action] {
    (void)ctx;
    action = [] () -> int { throw Error("'stop' is not implemented yet"); };
  });
}

}  // namespace hvrun::cli
