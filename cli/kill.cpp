// hvrun kill [-s SIGNAL] CONTAINER...

#include "cli/commands.hpp"
#include "engine/engine.hpp"
#include "util/signals.hpp"

namespace hvrun::cli {

void register_kill(CLI::App& app, Context& ctx, Action& action) {
  auto* sub = app.add_subcommand("kill", "Send a signal to running containers (default SIGKILL)");
  auto sig = std::make_shared<std::string>("KILL");
  auto names = std::make_shared<std::vector<std::string>>();
  sub->add_option("-s,--signal", *sig, "Signal name or number");
  sub->add_option("containers", *names, "Containers")->required();
  sub->callback([=, &ctx, &action] {
    action = [=, &ctx]() -> int {
      int s = parse_signal(*sig);
      return for_each_container(ctx, *names, [&](const engine::Records& rec, const std::string& id) {
        engine::signal_container(rec, id, s);
      });
    };
  });
}

}  // namespace hvrun::cli
