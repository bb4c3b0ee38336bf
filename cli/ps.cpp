// hvrun ps (stub: to be implemented)
#include "cli/commands.hpp"
#include "util/error.hpp"

namespace hvrun::cli {

void register_ps(CLI::App& app, Context& ctx, Action& action) {
  auto* sub = app.add_subcommand("ps", "(not implemented yet)");
  sub->allow_extras();
  sub->callback([&ctx, &action] {
    (void)ctx;
    action = [] () -> int { throw Error("'ps' is not implemented yet"); };
  });
}

}  // namespace hvrun::cli
