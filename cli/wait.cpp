// hvrun wait CONTAINER...: blocks until each has exited and prints its exit
// status, one line each, as `docker wait` (a --rm container's too).
#include <cstdio>

#include "cli/commands.hpp"
#include "engine/engine.hpp"
#include "engine/records.hpp"
#include "util/error.hpp"

namespace hvrun::cli {

void register_wait(CLI::App& app, Context& ctx, Action& action) {
  auto* sub = app.add_subcommand("wait", "Wait until containers exit and print their exit status");
  auto names = std::make_shared<std::vector<std::string>>();
  sub->add_option("containers", *names, "Containers")->required();
  sub->callback([=, &ctx, &action] {
    action = [=, &ctx]() -> int {
      engine::Records rec(ctx.root());
      int rc = 0;
      for (const auto& n : *names) {
        try {
          std::printf("%d\n", engine::wait_container(rec, rec.resolve(n), true));
          std::fflush(stdout);
        } catch (const Error& e) {
          std::fprintf(stderr, "hvrun: %s\n", e.what());
          rc = kHvrunErrorStatus;
        }
      }
      return rc;
    };
  });
}

}  // namespace hvrun::cli
