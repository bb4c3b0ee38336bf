// hvrun images: same as `hvrun image ls`.
#include "cli/commands.hpp"

namespace hvrun::cli {

int list_images(const Context& ctx, bool quiet);  // cli/image.cpp

void register_images(CLI::App& app, Context& ctx, Action& action) {
  auto quiet = std::make_shared<bool>(false);
  auto* sub = app.add_subcommand("images", "List images");
  sub->add_flag("-q,--quiet", *quiet, "Only show image ids");
  sub->callback([&ctx, &action, quiet] { action = [&ctx, quiet] { return list_images(ctx, *quiet); }; });
}

}  // namespace hvrun::cli
