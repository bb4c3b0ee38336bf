// hvrun rmi [-f] IMAGE...: docker's rmi, the same as `hvrun image rm`.
#include "cli/commands.hpp"

namespace hvrun::cli {

void register_rmi(CLI::App& app, Context& ctx, Action& action) {
  auto force = std::make_shared<bool>(false);
  auto refs = std::make_shared<std::vector<std::string>>();
  auto* sub = app.add_subcommand("rmi", "Remove images (same as image rm)");
  sub->add_flag("-f,--force", *force, "Remove even if containers use it or several tags point at it");
  sub->add_option("ref", *refs, "Image name[:tag] or id")->required();
  sub->callback([&ctx, &action, force, refs] {
    action = [&ctx, force, refs] { return remove_images(ctx, *refs, *force); };
  });
}

}  // namespace hvrun::cli
