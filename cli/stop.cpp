// hvrun stop [-t SECONDS] CONTAINER...
#include <cstdio>

#include "cli/commands.hpp"
#include "engine/engine.hpp"
#include "util/error.hpp"

namespace hvrun::cli {

void register_stop(CLI::App& app, Context& ctx, Action& action) {
  auto* sub = app.add_subcommand("stop", "Stop running containers (SIGTERM, then SIGKILL)");
  auto t = std::make_shared<int>(10);
  auto names = std::make_shared<std::vector<std::string>>();
  sub->add_option("-t,--time", *t, "Seconds to wait before killing")->check(CLI::Range(0, 3600));
  sub->add_option("containers", *names, "Containers")->required();
  sub->callback([=, &ctx, &action] {
    action = [=, &ctx]() -> int {
      engine::Records rec(ctx.root());
      int rc = 0;
      for (const auto& n : *names) {
        try {
          engine::stop_container(rec, rec.resolve(n), *t);
          std::printf("%s\n", n.c_str());
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
