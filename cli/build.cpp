// hvrun build [-t NAME[:TAG]]... [-f FILE] [--build-arg K=V]... [--target STAGE]
//             [--no-cache] [--isolation container|vm] [--network none|bridge]
//             [--progress auto|plain] [-q] CONTEXT
#include <unistd.h>

#include <cstdio>
#include <memory>

#include "builder/build.hpp"
#include "cli/commands.hpp"
#include "util/error.hpp"
#include "util/fd.hpp"

namespace hvrun::cli {

void register_build(CLI::App& app, Context& ctx, Action& action) {
  struct Args {
    builder::BuildOptions opts;
    std::string isolation = "container";
    std::string progress = "auto";
    bool quiet = false;
  };
  auto a = std::make_shared<Args>();
  auto* sub = app.add_subcommand("build", "Build an image from a Dockerfile or Containerfile");
  sub->add_option("-t,--tag", a->opts.tags, "Name (NAME[:TAG]) for the image; may be repeated");
  sub->add_option("-f,--file", a->opts.file, "The Dockerfile (default: CONTEXT/Dockerfile, else CONTEXT/Containerfile)");
  sub->add_option("--build-arg", a->opts.build_args, "A build argument: KEY=VALUE, or KEY for the environment's value");
  sub->add_option("--target", a->opts.target, "Build up to this stage");
  sub->add_flag("--no-cache", a->opts.no_cache, "Run every step again (the results still fill the cache)");
  sub->add_option("--isolation", a->isolation, "Where RUN steps run: container or vm (each in its own microVM)")
      ->check(CLI::IsMember({"container", "vm"}));
  sub->add_option("--network", a->opts.network, "The network of RUN steps: bridge or none (default: $HVRUN_NETWORK, else bridge)")
      ->check(CLI::IsMember({"none", "bridge", "default"}));
  sub->add_option("--progress", a->progress, "Progress output: auto or plain (the same here: BuildKit's plain form)")
      ->check(CLI::IsMember({"auto", "plain", "tty"}));
  sub->add_flag("-q,--quiet", a->quiet, "Print only the image id (progress and RUN output suppressed)");
  sub->add_option("context", a->opts.context, "The build context directory")->required();
  sub->callback([&ctx, &action, a] {
    action = [&ctx, a]() -> int {
      a->opts.isolation = a->isolation == "vm" ? engine::Mode::Vm : engine::Mode::Container;
      if (a->opts.network == "default") a->opts.network = "bridge";
      if (!a->quiet) {
        std::string id = builder::build(ctx.root(), a->opts, stderr);
        std::printf("%s\n", id.c_str());
        return 0;
      }
      // -q: progress and the steps' output go nowhere; the id to stdout.
      std::unique_ptr<FILE, int (*)(FILE*)> null(std::fopen("/dev/null", "w"), &std::fclose);
      if (!null) throw_sys("open /dev/null");
      std::fflush(stdout);
      UniqueFd saved(::dup(1));
      if (!saved) throw_sys("dup stdout");
      ::dup2(::fileno(null.get()), 1);
      std::string id;
      try {
        id = builder::build(ctx.root(), a->opts, null.get());
      } catch (...) {
        ::dup2(saved.get(), 1);
        throw;
      }
      ::dup2(saved.get(), 1);
      std::printf("sha256:%s\n", id.c_str());
      return 0;
    };
  });
}

}  // namespace hvrun::cli
