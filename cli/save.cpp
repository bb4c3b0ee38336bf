// hvrun save [-o FILE] [--format docker-archive|oci-archive|oci-dir] IMAGE...
#include <unistd.h>

#include "cli/commands.hpp"
#include "image/save.hpp"
#include "image/store.hpp"

namespace hvrun::cli {

void register_save(CLI::App& app, Context& ctx, Action& action) {
  struct Opts {
    std::string output;
    std::string format = "docker-archive";
    std::vector<std::string> refs;
  };
  auto o = std::make_shared<Opts>();
  auto* sub = app.add_subcommand("save", "Save images to an archive (docker-archive, oci-archive or oci-dir)");
  sub->add_option("-o,--output", o->output, "Write to FILE (a directory for oci-dir); default stdout");
  sub->add_option("--format", o->format, "docker-archive (default, for docker/podman load), oci-archive or oci-dir");
  sub->add_option("image", o->refs, "Image name[:tag] or id")->required();
  sub->callback([&ctx, &action, o] {
    action = [&ctx, o]() -> int {
      image::SaveFormat f = image::parse_save_format(o->format);  // before any lookup
      image::Store store(ctx.root());
      image::save_images(store, o->refs, f, o->output.empty() ? "-" : o->output);
      return 0;
    };
  });
}

}  // namespace hvrun::cli
