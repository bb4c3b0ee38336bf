// hvrun logs (stub: to be implemented)
#include "cli/commands.hpp"
#include "util/error.hpp"

namespace hvrun::cli {

void register_logs(CLI::App& app, Context& ctx, Action& action) {
  auto* sub = app.add_subcommand("logs", "(not implemented yet)");
  sub->allow_extras();
  sub->callback([&ctx, &action] {
    (void)ctx;
    action = [] () -> int { throw Error("'logs' is not implemented yet"); };
  });
}

}  // namespace hvrun::cli
