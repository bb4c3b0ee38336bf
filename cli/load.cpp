// hvrun load [-i FILE] [-q]: every image of a docker archive or OCI layout
// (tar or directory); stdin without -i.
#include <cstdio>

#include "cli/commands.hpp"
#include "image/load.hpp"
#include "image/store.hpp"

namespace hvrun::cli {

void register_load(CLI::App& app, Context& ctx, Action& action) {
  auto input = std::make_shared<std::string>();
  auto quiet = std::make_shared<bool>(false);
  auto* sub = app.add_subcommand("load", "Load images from an archive (docker save, podman save, hvrun save)");
  sub->add_option("-i,--input", *input, "Read from FILE (a tar, or an OCI layout directory); default stdin");
  sub->add_flag("-q,--quiet", *quiet, "Print nothing but errors");
  sub->callback([&ctx, &action, input, quiet] {
    action = [&ctx, input, quiet]() -> int {
      image::Store store(ctx.root());
      image::ImportNotes notes;
      std::string from = input->empty() ? "-" : *input;
      auto loaded = image::load_images(store, from, &notes);
      if (notes.dropped_devices)
        std::fprintf(stderr, "hvrun: warning: %llu device node%s in %s left out (containers get /dev from a tmpfs)\n",
                     static_cast<unsigned long long>(notes.dropped_devices), notes.dropped_devices == 1 ? "" : "s",
                     from == "-" ? "stdin" : from.c_str());
      if (*quiet) return 0;
      for (const auto& img : loaded) {
        if (img.tags.empty()) std::printf("Loaded image ID: sha256:%s\n", img.id.c_str());
        for (const auto& t : img.tags) std::printf("Loaded image: %s\n", t.c_str());
      }
      return 0;
    };
  });
}

}  // namespace hvrun::cli
