// hvrun version
#include <cstdio>

#include "cli/commands.hpp"

namespace hvrun::cli {

void register_version(CLI::App& app, Context&, Action& action) {
  auto* sub = app.add_subcommand("version", "Print the hvrun version");
  sub->callback([&action] {
    action = [] {
      std::printf("hvrun 0.1.0\n");
      return 0;
    };
  });
}

}  // namespace hvrun::cli
