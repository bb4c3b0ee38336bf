// hvrun vmm (stub: to be implemented)
#include "cli/commands.hpp"
#include "util/error.hpp"

namespace hvrun::cli {

void register_vmm(CLI::App& app, Context& ctx, Action& action) {
  auto* sub = app.add_subcommand("vmm", "(not implemented yet)");
  sub->allow_extras();
  sub->callback([&ctx, &action] {
    (void)ctx;
    action = [] () -> int { throw Error("'vmm' is not implemented yet"); };
  });
}

}  // namespace hvrun::cli
