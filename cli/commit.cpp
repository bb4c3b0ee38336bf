// hvrun commit [-m MSG] [--author A] [-c INSTR]... [-p=false] CONTAINER [REPO[:TAG]]
#include <cstdio>

#include "cli/commands.hpp"
#include "engine/changes.hpp"

namespace hvrun::cli {

void register_commit(CLI::App& app, Context& ctx, Action& action) {
  struct Args {
    std::string container, reference;
    engine::CommitOptions opts;
  };
  auto a = std::make_shared<Args>();
  auto* sub = app.add_subcommand("commit", "Create a new image from a container's changes");
  sub->add_option("-m,--message", a->opts.message, "Commit message");
  sub->add_option("-a,--author", a->opts.author, "Author (e.g. \"Jane <jane@example.com>\")");
  sub->add_option("-c,--change", a->opts.changes,
                  "Dockerfile instruction for the new config: CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, STOPSIGNAL, USER, "
                  "VOLUME, WORKDIR")
      ->allow_extra_args(false);
  sub->add_flag("-p,--pause", a->opts.pause, "Pause a running container (a microVM: freeze its file system) while its files are read (default true)")
      ->default_val(true);
  sub->add_option("container", a->container, "Container name or id")->required();
  sub->add_option("repository", a->reference, "REPO[:TAG] for the new image");
  sub->callback([&ctx, &action, a] {
    action = [&ctx, a]() -> int {
      if (!a->reference.empty()) a->opts.reference = a->reference;
      std::string id = engine::commit_container(ctx.root(), a->container, a->opts);
      std::printf("sha256:%s\n", id.c_str());
      return 0;
    };
  });
}

}  // namespace hvrun::cli
