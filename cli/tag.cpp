// hvrun tag SRC DST
#include "cli/commands.hpp"
#include "image/store.hpp"

namespace hvrun::cli {

void register_tag(CLI::App& app, Context& ctx, Action& action) {
  auto args = std::make_shared<std::pair<std::string, std::string>>();
  auto* sub = app.add_subcommand("tag", "Give an image another name: hvrun tag SRC DST");
  sub->add_option("src", args->first, "Image name[:tag] or id")->required();
  sub->add_option("dst", args->second, "New name[:tag]")->required();
  sub->callback([&ctx, &action, args] {
    action = [&ctx, args]() -> int {
      image::Store store(ctx.root());
      store.tag(args->first, args->second);
      return 0;
    };
  });
}

}  // namespace hvrun::cli
