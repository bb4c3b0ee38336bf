// hvrun create [OPTIONS] IMAGE [COMMAND [ARG...]]: the container of `run`,
// made but not started (hvrun start runs it, detached).
#include <cstdio>

#include "cli/commands.hpp"
#include "cli/run_flags.hpp"
#include "engine/engine.hpp"

namespace hvrun::cli {

void register_create(CLI::App& app, Context& ctx, Action& action) {
  auto* sub = app.add_subcommand("create", "Create a container or microVM without starting it (hvrun start runs it)");
  sub->set_help_flag("--help", "Print this help message and exit");  // -h is --hostname, as Docker
  sub->formatter(std::make_shared<RunUsage>());
  auto f = std::make_shared<RunFlags>();
  f->add(sub, false);
  sub->callback([sub, f, &ctx, &action] {
    f->finish(sub);
    action = [f, &ctx]() -> int {
      std::printf("%s\n", engine::create(ctx.root(), f->o).c_str());
      return 0;
    };
  });
}

}  // namespace hvrun::cli
