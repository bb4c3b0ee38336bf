// hvrun search HOST[/PREFIX]: repositories of a registry whose name starts
// with PREFIX (the registry's catalog, filtered), with their tag count.
#include "cli/commands.hpp"
#include "cli/registry_flags.hpp"
#include "registry/catalog.hpp"

namespace hvrun::cli {

void register_search(CLI::App& app, Context& ctx, Action& action) {
  struct Args {
    std::string term;
    RegistryFlags flags;
    bool no_trunc = false;
  };
  auto a = std::make_shared<Args>();
  auto* sub = app.add_subcommand("search", "Search a registry's repositories: hvrun search HOST[/PREFIX]");
  sub->add_option("term", a->term, "HOST[:PORT][/PREFIX]")->required();
  a->flags.add(sub);
  sub->callback([&ctx, &action, a] {
    action = [&ctx, a]() -> int {
      std::string host = a->term, prefix;
      if (auto s = host.find('/'); s != std::string::npos) {
        prefix = host.substr(s + 1);
        host.resize(s);
      }
      if (host.find_first_of(".:") == std::string::npos && host != "localhost")
        throw Error("search: '" + a->term + "' names no registry host (use HOST[:PORT][/PREFIX])");
      registry::Client c(registry::registry_host(host), a->flags.options(ctx.root()));
      c.add_scope("registry:catalog:*");
      std::vector<std::string> lines = {"NAME\tTAGS"};
      for (auto& r : registry::list_repositories(c)) {
        if (r.rfind(prefix, 0) != 0) continue;
        size_t n = 0;
        try {
          n = registry::list_tags(c, r).size();
        } catch (const Error&) {
        }
        lines.push_back(host + "/" + r + "\t" + std::to_string(n));
      }
      std::printf("%s", align_columns(lines).c_str());
      return 0;
    };
  });
}

}  // namespace hvrun::cli
