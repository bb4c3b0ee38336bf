// hvrun run [OPTIONS] IMAGE [COMMAND [ARG...]]   (also: hvrun --container|--vm ...)
#include <unistd.h>

#include "cli/commands.hpp"
#include "cli/run_flags.hpp"
#include "engine/engine.hpp"
#include "util/error.hpp"

namespace hvrun::cli {

void register_run(CLI::App& app, Context& ctx, Action& action) {
  auto* sub = app.add_subcommand("run", "Run a command in a new container or microVM");
  sub->set_help_flag("--help", "Print this help message and exit");  // -h is --hostname, as Docker
  sub->formatter(std::make_shared<RunUsage>());
  auto f = std::make_shared<RunFlags>();
  f->add(sub, true);
  sub->callback([sub, f, &ctx, &action] {
    f->finish(sub);
    const engine::RunOptions* o = &f->o;
    action = [o, f, &ctx]() -> int {
      // Docker's rule: -it wants a terminal on stdin (a pipe's EOF cannot
      // reach a pty, so the command would wait forever); -dit does not.
      if (o->tty && o->interactive && !o->detach && !::isatty(STDIN_FILENO))
        throw Error("the input device is not a TTY: -it needs a terminal on stdin (drop -t to pipe input into -i)");
      return engine::run(ctx.root(), *o);
    };
  });
}

}  // namespace hvrun::cli
