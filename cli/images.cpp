// hvrun images: same as `hvrun image ls`.
#include "cli/commands.hpp"

namespace hvrun::cli {

int list_images(const Context& ctx, bool quiet, const std::string& format, bool all,
                const std::string& reference);  // cli/image.cpp

void register_images(CLI::App& app, Context& ctx, Action& action) {
  auto quiet = std::make_shared<bool>(false);
  auto format = std::make_shared<std::string>();
  auto all = std::make_shared<bool>(false);
  auto* sub = app.add_subcommand("images", "List images");
  sub->add_flag("-q,--quiet", *quiet, "Only show image ids");
  sub->add_flag("-a,--all", *all, "Show intermediate images too (a build's steps)");
  add_list_format(sub, *format);
  auto reference = std::make_shared<std::string>();
  sub->add_option("reference", *reference, "Only this repository (NAME or NAME:TAG)");
  sub->callback([&ctx, &action, quiet, format, all, reference] {
    action = [&ctx, quiet, format, all, reference] { return list_images(ctx, *quiet, *format, *all, *reference); };
  });
}

}  // namespace hvrun::cli
