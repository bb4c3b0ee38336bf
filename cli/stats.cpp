// hvrun stats [--no-stream] [--format T] [CONTAINER...]: CPU, memory, network
// and block I/O and pids of running containers (a microVM's: its VMM's,
// guest RAM included), as docker stats; {{.Mode}} says container or vm.
#include <unistd.h>

#include <cstdio>
#include <map>

#include "cli/commands.hpp"
#include "engine/describe.hpp"
#include "engine/mode.hpp"
#include "engine/records.hpp"
#include "engine/usage.hpp"
#include "image/present.hpp"
#include "util/error.hpp"
#include "util/format.hpp"

namespace hvrun::cli {

namespace {

// Docker's sizes in stats: memory in binary units to 4 digits ("480KiB",
// "23.54GiB"); network and block I/O in decimal ones to 3 ("1.23kB"), as
// image sizes are (image::human_size).
std::string binary_size(int64_t b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  double v = static_cast<double>(b);
  int u = 0;
  while (v >= 1024 && u < 5) {
    v /= 1024;
    ++u;
  }
  char s[32];
  std::snprintf(s, sizeof s, "%.4g%s", v, units[u]);
  return s;
}

std::string pair_text(int64_t a, int64_t b, bool binary) {
  if (a < 0 || b < 0) return "--";
  if (binary) return binary_size(a) + " / " + binary_size(b);
  return image::human_size(static_cast<uint64_t>(a)) + " / " + image::human_size(static_cast<uint64_t>(b));
}

const std::vector<std::string> kFields = {"Container", "ID", "Name", "CPUPerc", "MemUsage", "MemPerc", "NetIO", "BlockIO", "PIDs", "Mode"};
const std::map<std::string, std::string> kHeaders = {
    {"Container", "CONTAINER"}, {"ID", "CONTAINER ID"}, {"Name", "NAME"},         {"CPUPerc", "CPU %"},
    {"MemUsage", "MEM USAGE / LIMIT"}, {"MemPerc", "MEM %"}, {"NetIO", "NET I/O"}, {"BlockIO", "BLOCK I/O"},
    {"PIDs", "PIDS"},           {"Mode", "MODE"}};

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
  auto format = std::make_shared<std::string>();
  add_list_format(sub, *format);
  sub->add_option("containers", *names, "Containers (default: all running)");
  sub->callback([=, &ctx, &action] {
    action = [=, &ctx]() -> int {
      const std::string fmt = format->empty() ? "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t"
                                                "{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}"
                                              : *format;
      const Template tmpl = Template::parse(fmt);
      check_fields(tmpl, fmt, kFields);
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
        std::vector<nlohmann::json> objs;
        for (size_t i = 0; i < ids.size(); ++i) {
          if (!a[i] || !b[i]) continue;
          const auto& u = *b[i];
          const double cpu_delta = static_cast<double>(u.cpu_ns - a[i]->cpu_ns);
          const double sys_delta = static_cast<double>(u.system_cpu_ns - a[i]->system_cpu_ns);
          const double cpu = sys_delta > 0 && u.cpu_ns >= 0 ? cpu_delta / sys_delta * u.online_cpus * 100.0 : 0;
          const int64_t limit = u.memory_limit > 0 ? u.memory_limit : u.host_memory;
          const double mem = limit > 0 && u.memory_bytes >= 0 ? 100.0 * static_cast<double>(u.memory_bytes) / static_cast<double>(limit) : 0;
          engine::ContainerConfig c = rec.load_config(ids[i]);
          objs.push_back({{"Container", names->empty() ? ids[i].substr(0, 12) : (*names)[i]},
                          {"ID", ids[i].substr(0, 12)},
                          {"Name", c.name},
                          {"CPUPerc", percent(cpu)},
                          {"MemUsage", pair_text(u.memory_bytes, limit, true)},
                          {"MemPerc", percent(mem)},
                          {"NetIO", pair_text(u.net_rx, u.net_tx, false)},
                          {"BlockIO", pair_text(u.blk_read, u.blk_write, false)},
                          {"PIDs", u.pids < 0 ? "--" : std::to_string(u.pids)},
                          {"Mode", engine::to_string(c.mode)}});
        }
        if (!*no_stream) std::printf("\033[2J\033[H");
        std::fputs(format_objects(tmpl, objs, kHeaders).c_str(), stdout);
        std::fflush(stdout);
        if (*no_stream) return 0;
      }
    };
  });
}

}  // namespace hvrun::cli
