// hvrun diff CONTAINER: what the container changed in its image's files.
#include <cstdio>

#include "cli/commands.hpp"
#include "engine/changes.hpp"

namespace hvrun::cli {

void register_diff(CLI::App& app, Context& ctx, Action& action) {
  auto name = std::make_shared<std::string>();
  auto* sub = app.add_subcommand("diff", "Files a container added (A), changed (C) or deleted (D)");
  sub->add_option("container", *name, "Container name or id")->required();
  sub->callback([&ctx, &action, name] {
    action = [&ctx, name]() -> int {
      std::fputs(image::format_changes(engine::container_diff(ctx.root(), *name)).c_str(), stdout);
      return 0;
    };
  });
}

}  // namespace hvrun::cli
