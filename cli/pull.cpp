// hvrun pull [--tls-verify=false|--insecure] [--cacert F] [--creds U:P] [-q] REF
#include "cli/commands.hpp"
#include "cli/registry_flags.hpp"
#include "image/store.hpp"
#include "registry/pull.hpp"

namespace hvrun::cli {

void register_pull(CLI::App& app, Context& ctx, Action& action) {
  struct Args {
    std::string ref;
    RegistryFlags flags;
    bool quiet = false;
    int parallel = 3;
  };
  auto a = std::make_shared<Args>();
  auto* sub = app.add_subcommand("pull", "Pull an image from a registry: hvrun pull HOST[:PORT]/NAME[:TAG]");
  sub->add_option("ref", a->ref, "Image reference, e.g. 127.0.0.1:5000/team/app:1")->required();
  a->flags.add(sub);
  sub->add_flag("-q,--quiet", a->quiet, "Print only the image reference");
  sub->add_option("--max-concurrent-downloads", a->parallel, "Layers downloaded at once (default 3)")
      ->check(CLI::Range(1, 16));
  sub->callback([&ctx, &action, a] {
    action = [&ctx, a]() -> int {
      image::Store store(ctx.root());
      registry::PullOptions opt;
      opt.client = a->flags.options(ctx.root());
      opt.parallel = a->parallel;
      registry::Progress progress(a->quiet ? nullptr : stdout);
      registry::PullResult r = registry::pull(store, a->ref, opt, progress);
      if (!a->quiet) {
        std::printf("Digest: %s\n", r.digest.c_str());
        std::printf("Status: %s for %s\n", r.up_to_date ? "Image is up to date" : "Downloaded newer image", r.name.c_str());
      }
      std::printf("%s\n", r.name.c_str());
      return 0;
    };
  });
}

}  // namespace hvrun::cli
