// hvrun volume create|ls|inspect|rm|prune (Docker's `docker volume`).
#include <cstdio>

#include "cli/commands.hpp"
#include "engine/options.hpp"
#include "engine/records.hpp"
#include "engine/volumes.hpp"
#include "image/present.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "volume/store.hpp"

namespace hvrun::cli {

void register_volume(CLI::App& app, Context& ctx, Action& action) {
  auto* vol = app.add_subcommand("volume", "Manage named volumes");
  vol->require_subcommand(1);

  auto* create = vol->add_subcommand("create", "Create a volume (a random name when none is given)");
  auto cname = std::make_shared<std::string>();
  auto labels = std::make_shared<std::vector<std::string>>();
  create->add_option("name", *cname, "Volume name");
  create->add_option("-l,--label", *labels, "Set a label KEY=VALUE")->expected(1)->allow_extra_args(false)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  create->callback([=, &ctx, &action] {
    action = [=, &ctx]() -> int {
      const std::string name = cname->empty() ? random_hex(32) : *cname;
      volume::VolumeStore(ctx.root()).ensure(name, 0, engine::parse_labels(*labels));
      std::printf("%s\n", name.c_str());
      return 0;
    };
  });

  auto* ls = vol->add_subcommand("ls", "List volumes");
  ls->alias("list");
  auto quiet = std::make_shared<bool>(false);
  ls->add_flag("-q,--quiet", *quiet, "Only names");
  ls->callback([=, &ctx, &action] {
    action = [=, &ctx]() -> int {
      const auto vols = volume::VolumeStore(ctx.root()).list();
      std::vector<std::vector<std::string>> rows{{"DRIVER", "VOLUME NAME"}};
      for (const auto& v : vols) {
        if (*quiet) std::printf("%s\n", v.name.c_str());
        else rows.push_back({"local", v.name});
      }
      if (!*quiet) print_columns(rows);
      return 0;
    };
  });

  auto* inspect = vol->add_subcommand("inspect", "Show volumes as JSON");
  auto inames = std::make_shared<std::vector<std::string>>();
  inspect->add_option("names", *inames, "Volumes")->required();
  auto format = add_inspect_format(inspect);
  inspect->callback([=, &ctx, &action] {
    action = [=, &ctx]() -> int {
      std::optional<Template> tmpl = format();
      volume::VolumeStore store(ctx.root());
      std::vector<nlohmann::json> out;
      for (const auto& n : *inames) out.push_back(store.describe(store.get(n)));
      print_inspected(out, tmpl);
      return 0;
    };
  });

  auto* rm = vol->add_subcommand("rm", "Remove volumes (refused while a container uses one)");
  rm->alias("remove");
  auto rnames = std::make_shared<std::vector<std::string>>();
  rm->add_option("names", *rnames, "Volumes")->required();
  rm->callback([=, &ctx, &action] {
    action = [=, &ctx]() -> int {
      int rc = 0;
      for (const auto& n : *rnames) {
        try {
          engine::remove_volume(ctx.root(), n);
          std::printf("%s\n", n.c_str());
        } catch (const Error& e) {
          std::fprintf(stderr, "hvrun: %s\n", e.what());
          rc = kHvrunErrorStatus;
        }
      }
      return rc;
    };
  });

  auto* prune = vol->add_subcommand("prune", "Remove volumes no container uses");
  auto force = std::make_shared<bool>(false);
  prune->add_flag("-f,--force", *force, "Do not ask (hvrun never asks)");
  prune->callback([=, &ctx, &action] {
    action = [=, &ctx]() -> int {
      (void)*force;  // kept alive with the parse that sets it (hvrun never asks)
      const auto r = engine::prune_volumes(ctx.root());
      if (!r.removed.empty()) std::printf("Deleted Volumes:\n");
      for (const auto& n : r.removed) std::printf("%s\n", n.c_str());
      std::printf("\nTotal reclaimed space: %s\n", image::human_size(r.reclaimed).c_str());
      return 0;
    };
  });
}

}  // namespace hvrun::cli
