// hvrun vm warm [--memory M] [--cpus N] [--net NET]   make the template now
// hvrun vm ls                                          the templates kept
// hvrun vm prune [--all]                               remove stale ones
// The template snapshots `hvrun --vm` starts from (engine/vm_template.hpp).
#include <cstdio>
#include <ctime>

#include "cli/commands.hpp"
#include "engine/options.hpp"
#include "engine/vm_template.hpp"
#include "image/present.hpp"
#include "util/error.hpp"
#include "util/format.hpp"

namespace hvrun::cli {

namespace {

std::string made_text(int64_t t) {
  char buf[32];
  const std::time_t tt = t;
  std::tm tm{};
  ::gmtime_r(&tt, &tm);
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

std::string shape_text(uint64_t memory_bytes, unsigned vcpus, bool card) {
  return std::to_string(memory_bytes >> 20) + " MiB, " + std::to_string(vcpus) + " vCPU" + (vcpus == 1 ? "" : "s") +
         (card ? ", network card" : ", no network card");
}

}  // namespace

void register_vm(CLI::App& app, Context& ctx, Action& action) {
  auto* sub = app.add_subcommand("vm", "Manage the booted-guest templates `hvrun --vm` starts from (warm, ls, prune)");
  sub->require_subcommand(1);

  auto opts = std::make_shared<engine::RunOptions>();
  auto* warm = sub->add_subcommand("warm", "Make the template a `hvrun --vm` run with these options starts from, now");
  warm->add_option("-m,--memory", opts->memory, "As for run: the workload's memory limit (sets the guest's RAM)");
  warm->add_option("--cpus", opts->cpus, "As for run: vCPUs");
  warm->add_option("--net,--network", opts->net, "As for run: none, or bridge or a network's name (a network card)");
  warm->callback([&ctx, &action, opts] {
    action = [&ctx, opts]() -> int {
      engine::RunOptions o = *opts;
      o.command = {"/bin/true"};
      const container::RunSpec spec = engine::build_spec(o, image::ImageConfig{}, engine::process_env());
      if (spec.net == container::NetMode::Host) throw Error("--net host: a microVM has no host network to share");
      const engine::TemplateChoice c = engine::warm_vm_template(ctx.root(), spec);
      const std::string key = c.dir.substr(c.dir.rfind('/') + 1);
      std::printf("%s %s\n", key.c_str(), c.made ? "made" : "ready (made before)");
      return 0;
    };
  });

  auto* ls = sub->add_subcommand("ls", "List the templates: their shape, size and whether this hvrun can use them");
  ls->callback([&ctx, &action] {
    action = [&ctx]() -> int {
      std::vector<std::string> lines{"TEMPLATE\tSHAPE\tLOG LEVEL\tMADE (UTC)\tSIZE\tUSABLE"};
      for (const auto& t : engine::list_vm_templates(ctx.root()))
        lines.push_back(t.key.substr(0, 12) + "\t" + shape_text(t.memory_bytes, t.vcpus, t.network_card) + "\t" +
                        t.log_level + "\t" + made_text(t.made_at) + "\t" + image::human_size(t.disk_bytes) + "\t" +
                        (t.current ? "yes" : "no (another kernel, guest-init or hvrun-vmm)"));
      std::fputs(align_columns(lines).c_str(), stdout);
      return 0;
    };
  });

  auto all = std::make_shared<bool>(false);
  auto* prune = sub->add_subcommand("prune", "Remove the templates this hvrun cannot use (--all: every one)");
  prune->add_flag("-a,--all", *all, "Remove every template and the blank disk copy; the next run makes them again");
  prune->callback([&ctx, &action, all] {
    action = [&ctx, all]() -> int {
      const auto removed = engine::prune_vm_templates(ctx.root(), *all);
      for (const auto& k : removed) std::printf("removed %s\n", k.substr(0, 12).c_str());
      std::printf("%zu template%s removed\n", removed.size(), removed.size() == 1 ? "" : "s");
      return 0;
    };
  });
}

}  // namespace hvrun::cli
