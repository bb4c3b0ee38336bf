// hvrun registry ls HOST [REPO]: the repositories a registry holds, or a
// repository's tags (the catalog and tags/list APIs, every page).
#include <algorithm>

#include "cli/commands.hpp"
#include "cli/registry_flags.hpp"
#include "registry/catalog.hpp"

namespace hvrun::cli {

void register_registry(CLI::App& app, Context& ctx, Action& action) {
  struct Args {
    std::string host, repo;
    RegistryFlags flags;
    size_t page_size = 100;
  };
  auto a = std::make_shared<Args>();
  auto* sub = app.add_subcommand("registry", "Browse a registry: hvrun registry ls HOST [REPO]");
  sub->require_subcommand(1);
  auto* ls = sub->add_subcommand("ls", "List a registry's repositories, or a repository's tags");
  ls->add_option("host", a->host, "Registry host[:port]")->required();
  ls->add_option("repo", a->repo, "Repository: list its tags");
  a->flags.add(ls);
  ls->add_option("--page-size", a->page_size, "Entries asked for per request (the Link header gives the next page)")
      ->check(CLI::Range(1, 10000));
  ls->callback([&ctx, &action, a] {
    action = [&ctx, a]() -> int {
      registry::Client c(registry::registry_host(a->host), a->flags.options(ctx.root()));
      // Sorted: registries page in their own order.
      if (a->repo.empty()) {
        c.add_scope("registry:catalog:*");
        auto repos = registry::list_repositories(c, a->page_size);
        std::sort(repos.begin(), repos.end());
        for (auto& r : repos) std::printf("%s/%s\n", a->host.c_str(), r.c_str());
      } else {
        c.add_scope("repository:" + a->repo + ":pull");
        auto tags = registry::list_tags(c, a->repo, a->page_size);
        std::sort(tags.begin(), tags.end());
        for (auto& t : tags) std::printf("%s/%s:%s\n", a->host.c_str(), a->repo.c_str(), t.c_str());
      }
      return 0;
    };
  });
}

}  // namespace hvrun::cli
