// hvrun kill [-s SIGNAL] CONTAINER...
#include <cstdio>

#include "cli/commands.hpp"
#include "engine/engine.hpp"
#include "util/error.hpp"

namespace hvrun::cli {

void register_kill(CLI::App& app, Context& ctx, Action& action) {
  auto* sub = app.add_subcommand("kill", "Send a signal to running containers (default SIGKILL)");
  auto sig = std::make_shared<std::string>("KILL");
  auto names = std::make_shared<std::vector<std::string>>();
  sub->add_option("-s,--signal", *sig, "Signal name or number");
  sub->add_option("containers", *names, "Containers")->required();
  sub->callback([=, &ctx, &action] {
    action = [=, &ctx]() -> int {
      int s = engine::parse_signal(*sig);
      engine::Records rec(ctx.root());
      int rc = 0;
      for (const auto& n : *names) {
        try {
          engine::signal_container(rec, rec.resolve(n), s);
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
