// hvrun snapshot create|ls|inspect|rm|restore: snapshots of running
// microVMs, and new containers (clones) that go on from them
// (engine/snapshots.hpp).
#include <cstdio>
#include <ctime>

#include "cli/commands.hpp"
#include "engine/snapshots.hpp"
#include "image/present.hpp"
#include "util/error.hpp"

namespace hvrun::cli {

void register_snapshot(CLI::App& app, Context& ctx, Action& action) {
  auto* snap = app.add_subcommand("snapshot", "Save running microVMs and start clones of them");
  snap->require_subcommand(1);

  auto* create = snap->add_subcommand(
      "create", "Save a running microVM (memory, vCPUs, devices, writable disk) as a snapshot and stop it");
  auto container = std::make_shared<std::string>();
  auto name = std::make_shared<std::string>();
  auto leave_running = std::make_shared<bool>(false);
  create->add_flag("--leave-running", *leave_running,
                   "Leave the microVM running after the snapshot (it pauses while its disk is copied; once per run)");
  create->add_option("container", *container, "A running microVM (hvrun run --vm --net none)")->required();
  create->add_option("name", *name, "Snapshot name (default: CONTAINER-N)");
  create->callback([=, &ctx, &action] {
    action = [=, &ctx]() -> int {
      engine::SnapshotInfo s = engine::create_snapshot(ctx.root(), *container, *name, *leave_running);
      std::printf("%s\n", s.name.c_str());
      return 0;
    };
  });

  auto* ls = snap->add_subcommand("ls", "List snapshots");
  ls->alias("list");
  auto quiet = std::make_shared<bool>(false);
  ls->add_flag("-q,--quiet", *quiet, "Only names");
  ls->callback([=, &ctx, &action] {
    action = [=, &ctx]() -> int {
      const auto all = engine::list_snapshots(ctx.root());
      const std::time_t now = std::time(nullptr);
      if (!*quiet) std::printf("%-24s %-20s %-20s %-16s %-10s %s\n", "NAME", "CONTAINER", "IMAGE", "CREATED", "MEMORY", "ON DISK");
      for (const auto& s : all) {
        if (*quiet) {
          std::printf("%s\n", s.name.c_str());
          continue;
        }
        const std::string from = s.container_name.empty() ? s.container_id.substr(0, 12) : s.container_name;
        std::printf("%-24s %-20s %-20s %-16s %-10s %s\n", s.name.c_str(), from.c_str(), s.image.c_str(),
                    image::human_age(s.created, now).c_str(), image::human_size(s.memory_file_bytes).c_str(),
                    image::human_size(s.host_bytes).c_str());
      }
      return 0;
    };
  });

  auto* inspect = snap->add_subcommand("inspect", "Show snapshots as JSON");
  auto inames = std::make_shared<std::vector<std::string>>();
  inspect->add_option("names", *inames, "Snapshots")->required();
  auto format = add_inspect_format(inspect);
  inspect->callback([=, &ctx, &action] {
    action = [=, &ctx]() -> int {
      std::optional<Template> tmpl = format();
      std::vector<nlohmann::json> out;
      for (const auto& n : *inames) out.push_back(engine::load_snapshot(ctx.root(), n));
      print_inspected(out, tmpl);
      return 0;
    };
  });

  auto* rm = snap->add_subcommand("rm", "Remove snapshots (clones running from one go on)");
  rm->alias("remove");
  auto rnames = std::make_shared<std::vector<std::string>>();
  rm->add_option("names", *rnames, "Snapshots")->required();
  rm->callback([=, &ctx, &action] {
    action = [=, &ctx]() -> int {
      int rc = 0;
      for (const auto& n : *rnames) {
        try {
          engine::remove_snapshot(ctx.root(), n);
          std::printf("%s\n", n.c_str());
        } catch (const Error& e) {
          std::fprintf(stderr, "hvrun: %s\n", e.what());
          rc = kHvrunErrorStatus;
        }
      }
      return rc;
    };
  });

  auto* restore = snap->add_subcommand(
      "restore", "Start a new container that goes on from a snapshot (run it several times for clones)");
  auto ro = std::make_shared<engine::RestoreOptions>();
  restore->add_option("snapshot", ro->snapshot, "Snapshot name")->required();
  restore->add_option("--name", ro->name, "The new container's name");
  restore->add_flag("-d,--detach", ro->detach, "Run in the background and print the container id");
  restore->add_flag("--rm", ro->auto_remove, "Remove the container when it exits");
  restore->callback([=, &ctx, &action] {
    action = [=, &ctx]() -> int { return engine::restore_snapshot(ctx.root(), *ro); };
  });
}

}  // namespace hvrun::cli
