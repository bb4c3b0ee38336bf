// hvrun rm [-f] CONTAINER...
#include <cstdio>

#include "cli/commands.hpp"
#include "engine/engine.hpp"
#include "util/error.hpp"

namespace hvrun::cli {

void register_rm(CLI::App& app, Context& ctx, Action& action) {
  auto* sub = app.add_subcommand("rm", "Remove containers");
  auto force = std::make_shared<bool>(false);
  auto names = std::make_shared<std::vector<std::string>>();
  sub->add_flag("-f,--force", *force, "Kill and remove running containers");
  sub->add_option("containers", *names, "Containers")->required();
  sub->callback([=, &ctx, &action] {
    action = [=, &ctx]() -> int {
      engine::Records rec(ctx.root());
      int rc = 0;
      for (const auto& n : *names) {
        try {
          engine::remove_container(rec, rec.resolve(n), *force);
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
