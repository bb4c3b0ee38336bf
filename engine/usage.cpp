#include "engine/usage.hpp"

#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ctime>
#include <map>
#include <sstream>

#include "container/cgroups.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "vmm/tap.hpp"

namespace hvrun::engine {

namespace {

// A running container's cgroup (a microVM's: its VMM's), with its record as read.
struct Running {
  ContainerConfig cfg;
  State st;
  std::unique_ptr<container::Cgroup> cgroup;
};
Running running_cgroup(const Records& rec, const std::string& id) {
  Running r;
  r.st = rec.refresh(id);
  if (r.st.status != "running" || r.st.pid <= 0 || proc_starttime(r.st.pid) != r.st.pid_starttime)
    throw Error("container " + id.substr(0, 12) + " is not running");
  r.cfg = rec.load_config(id);
  r.cgroup = container::Cgroup::for_container(r.cfg.spec.cgroup_parent, id,
                                              r.cfg.spec.cgroup_root.empty() ? "/sys/fs/cgroup" : r.cfg.spec.cgroup_root);
  return r;
}

// A /proc file's text; "" when it is gone (a process that ended meanwhile).
std::string slurp(const std::string& path) {
  try {
    return read_file(path);
  } catch (const Error&) {
    return "";
  }
}

// /proc/.../net/dev ("  eth0: RXBYTES p e d f fr c m TXBYTES ..."): bytes
// received and sent, by interface.
std::map<std::string, std::pair<int64_t, int64_t>> net_dev_bytes(const std::string& text) {
  std::map<std::string, std::pair<int64_t, int64_t>> out;
  std::istringstream dev(text);
  for (std::string line; std::getline(dev, line);) {
    const size_t colon = line.find(':');
    if (colon == std::string::npos) continue;  // the two header lines
    std::istringstream name(line.substr(0, colon)), f(line.substr(colon + 1));
    std::string n;
    name >> n;
    int64_t v[9] = {};
    for (auto& x : v) f >> x;
    if (f && !n.empty()) out[n] = {v[0], v[8]};
  }
  return out;
}

std::string user_name(uid_t uid) {
  passwd pw{}, *res = nullptr;
  char buf[4096];
  if (::getpwuid_r(uid, &pw, buf, sizeof buf, &res) == 0 && res) return res->pw_name;
  return std::to_string(uid);
}

}  // namespace

ContainerUsage container_usage(const Records& rec, const std::string& id) {
  const Running run = running_cgroup(rec, id);
  const ContainerConfig& cfg = run.cfg;
  const State& st = run.st;
  const container::Cgroup::Usage u = run.cgroup->usage();
  ContainerUsage out;
  out.blk_read = u.io_read_bytes;
  out.blk_write = u.io_write_bytes;
  if (cfg.mode != Mode::Vm && cfg.spec.net != container::NetMode::Host) {
    // The container's own netns: every interface but lo.
    int64_t rx = 0, tx = 0;
    bool any = false;
    for (const auto& [name, bytes] : net_dev_bytes(slurp("/proc/" + std::to_string(st.pid) + "/net/dev"))) {
      if (name == "lo") continue;
      rx += bytes.first;
      tx += bytes.second;
      any = true;
    }
    if (any || cfg.spec.net == container::NetMode::None) {
      out.net_rx = rx;
      out.net_tx = tx;
    }
  } else if (cfg.mode == Mode::Vm) {
    // A microVM's card is its VMM's tap, in its monitor's netns: what the
    // tap sends is what the guest receives.
    const std::vector<std::string> taps = vmm::taps_held_by(st.pid);
    const auto dev = net_dev_bytes(slurp("/proc/" + std::to_string(st.monitor_pid) + "/net/dev"));
    int64_t rx = 0, tx = 0;
    bool any = false;
    for (const auto& t : taps)
      if (auto it = dev.find(t); it != dev.end()) {
        rx += it->second.second;
        tx += it->second.first;
        any = true;
      }
    if (any || (cfg.spec.net == container::NetMode::None && taps.empty())) {
      out.net_rx = rx;
      out.net_tx = tx;
    }
  }
  out.memory_bytes = u.memory_bytes;
  out.memory_limit = u.memory_limit;
  out.cpu_ns = u.cpu_ns;
  out.pids = u.pids;
  out.pids_limit = u.pids_limit;
  // "cpu  user nice system idle iowait irq softirq steal ..." in USER_HZ ticks.
  std::istringstream stat(slurp("/proc/stat"));
  std::string label;
  stat >> label;
  int64_t ticks = 0;
  for (int i = 0; i < 8; ++i) {
    int64_t v = 0;
    if (stat >> v) ticks += v;
  }
  out.system_cpu_ns = ticks * (1000000000 / ::sysconf(_SC_CLK_TCK));
  const long n = ::sysconf(_SC_NPROCESSORS_ONLN);
  out.online_cpus = n > 0 ? static_cast<unsigned>(n) : 1;
  out.host_memory = static_cast<int64_t>(::sysconf(_SC_PHYS_PAGES)) * ::sysconf(_SC_PAGESIZE);
  return out;
}

ProcessTable container_top(const Records& rec, const std::string& id) {
  const auto cg = running_cgroup(rec, id).cgroup;
  ProcessTable t;
  t.titles = {"UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"};
  const long hz = ::sysconf(_SC_CLK_TCK);
  const std::string up = slurp("/proc/uptime");
  const double uptime = up.empty() ? 0 : std::stod(up);
  const time_t now = ::time(nullptr);
  for (pid_t pid : cg->procs()) {
    const std::string dir = "/proc/" + std::to_string(pid);
    const std::string line = slurp(dir + "/stat");
    const size_t close = line.rfind(')');
    if (close == std::string::npos) continue;  // gone meanwhile
    std::istringstream rest(line.substr(close + 2));
    std::vector<std::string> f;  // f[0] = state (field 3)
    for (std::string x; rest >> x;) f.push_back(x);
    if (f.size() < 20) continue;
    struct stat sb {};
    if (::stat(dir.c_str(), &sb) < 0) continue;
    const int64_t cpu_ticks = std::stoll(f[11]) + std::stoll(f[12]);  // utime + stime
    const double started = static_cast<double>(std::stoll(f[19])) / static_cast<double>(hz);
    const time_t start = now - static_cast<time_t>(uptime - started);
    char stime[16], cputime[32];
    std::tm tm{};
    ::localtime_r(&start, &tm);
    std::strftime(stime, sizeof stime, "%H:%M", &tm);
    const int64_t secs = cpu_ticks / hz;
    std::snprintf(cputime, sizeof cputime, "%02lld:%02lld:%02lld", static_cast<long long>(secs / 3600),
                  static_cast<long long>(secs / 60 % 60), static_cast<long long>(secs % 60));
    std::string cmd = slurp(dir + "/cmdline");
    while (!cmd.empty() && cmd.back() == '\0') cmd.pop_back();
    for (char& c : cmd)
      if (c == '\0') c = ' ';
    if (cmd.empty()) cmd = "[" + line.substr(line.find('(') + 1, close - line.find('(') - 1) + "]";
    const int tty_nr = std::stoi(f[4]);
    t.rows.push_back({user_name(sb.st_uid), std::to_string(pid), f[1], "0", stime,
                      tty_nr ? "pts/" + std::to_string(tty_nr & 0xff) : "?", cputime, cmd});
  }
  return t;
}

}  // namespace hvrun::engine
