// hvrun push [--format oci|docker] [TLS/creds flags] IMAGE [DEST]
#include "cli/commands.hpp"
#include "cli/registry_flags.hpp"
#include "image/store.hpp"
#include "registry/push.hpp"

namespace hvrun::cli {

void register_push(CLI::App& app, Context& ctx, Action& action) {
  struct Args {
    std::string image, dest;
    RegistryFlags flags;
    std::string format = "oci";
    bool quiet = false;
  };
  auto a = std::make_shared<Args>();
  auto* sub = app.add_subcommand("push", "Push an image to a registry: hvrun push HOST[:PORT]/NAME[:TAG] | IMAGE DEST");
  sub->add_option("image", a->image, "Local image (its name is the destination unless DEST is given)")->required();
  sub->add_option("dest", a->dest, "Destination reference HOST[:PORT]/NAME[:TAG]");
  a->flags.add(sub);
  sub->add_option("--format", a->format, "Manifest format: oci (default) or docker (schema 2)")
      ->check(CLI::IsMember({"oci", "docker", "v2s2"}));
  sub->add_flag("-q,--quiet", a->quiet, "Print only the manifest digest");
  sub->callback([&ctx, &action, a] {
    action = [&ctx, a]() -> int {
      image::Store store(ctx.root());
      registry::PushOptions opt;
      opt.client = a->flags.options(ctx.root());
      opt.format = a->format;
      registry::Progress progress(a->quiet ? nullptr : stdout);
      registry::PushResult r = registry::push(store, a->image, a->dest.empty() ? a->image : a->dest, opt, progress);
      if (a->quiet) {
        std::printf("%s\n", r.digest.c_str());
      } else {
        std::string tag = r.name.substr(r.name.rfind(':') + 1);
        std::printf("%s: digest: %s size: %zu\n", tag.c_str(), r.digest.c_str(), r.size);
      }
      return 0;
    };
  });
}

}  // namespace hvrun::cli
