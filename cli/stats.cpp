// hvrun stats [--no-stream] [CONTAINER...]: CPU, memory and pids of running
// containers (a microVM's: its VMM's, guest RAM included), as docker stats.
#include <unistd.h>

#include <cstdio>

#include "cli/commands.hpp"
#include "engine/describe.hpp"
#include "engine/mode.hpp"
#include "engine/records.hpp"
#include "engine/usage.hpp"
#include "util/error.hpp"

namespace hvrun::cli {

namespace {

std::string bytes_text(int64_t b) {
  if (b < 0) return "--";
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(b);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  char s[32];
  std::snprintf(s, sizeof s, u ? "%.2f%s" : "%.0f%s", v, units[u]);
  return s;
}

std::string percent(double p) {
  char s[32];
  std::snprintf(s, sizeof s, "%.2f%%", p);
  return s;
}

}  // namespace

void register_stats(CLI::App& app, Context& ctx, Action& action) {
  auto* sub = app.add_subcommand("stats", "Show running containers' CPU, memory and pids (a microVM's: its VMM's)");
  auto names = std::make_shared<std::vector<std::string>>();
  auto no_stream = std::make_shared<bool>(false);
  sub->add_flag("--no-stream", *no_stream, "Print once and exit");
  sub->add_option("containers", *names, "Containers (default: all running)");
  sub->callback([=, &ctx, &action] {
    action = [=, &ctx]() -> int {
      engine::Records rec(ctx.root());
      std::vector<std::string> ids;
      for (const auto& n : *names) ids.push_back(rec.resolve(n));
      if (names->empty())
        for (const auto& id : rec.ids()) {
          try {
            if (rec.refresh(id).status == "running") ids.push_back(id);
          } catch (const Error&) {
          }
        }
      for (bool first = true;; first = false) {
        // CPU % over half a second: two readings of each.
        std::vector<std::optional<engine::ContainerUsage>> a(ids.size()), b(ids.size());
        for (size_t i = 0; i < ids.size(); ++i) {
          try {
            a[i] = engine::container_usage(rec, ids[i]);
          } catch (const Error& e) {
            if (!names->empty() && first) throw;
          }
        }
        ::usleep(500 * 1000);
        for (size_t i = 0; i < ids.size(); ++i) {
          try {
            b[i] = engine::container_usage(rec, ids[i]);
          } catch (const Error&) {
          }
        }
        std::vector<std::vector<std::string>> rows{
            {"CONTAINER ID", "NAME", "MODE", "CPU %", "MEM USAGE / LIMIT", "MEM %", "PIDS"}};
        for (size_t i = 0; i < ids.size(); ++i) {
          if (!a[i] || !b[i]) continue;
          const auto& u = *b[i];
          const double cpu_delta = static_cast<double>(u.cpu_ns - a[i]->cpu_ns);
          const double sys_delta = static_cast<double>(u.system_cpu_ns - a[i]->system_cpu_ns);
          const double cpu = sys_delta > 0 && u.cpu_ns >= 0 ? cpu_delta / sys_delta * u.online_cpus * 100.0 : 0;
          const int64_t limit = u.memory_limit > 0 ? u.memory_limit : u.host_memory;
          const double mem = limit > 0 && u.memory_bytes >= 0 ? 100.0 * static_cast<double>(u.memory_bytes) / static_cast<double>(limit) : 0;
          engine::ContainerConfig c = rec.load_config(ids[i]);
          rows.push_back({ids[i].substr(0, 12), c.name, engine::to_string(c.mode), percent(cpu),
                          bytes_text(u.memory_bytes) + " / " + bytes_text(limit), percent(mem),
                          u.pids < 0 ? "--" : std::to_string(u.pids)});
        }
        if (!*no_stream) std::printf("\033[2J\033[H");
        print_columns(rows);
        std::fflush(stdout);
        if (*no_stream) return 0;
      }
    };
  });
}

}  // namespace hvrun::cli
