// cgroup v1: one directory per controller hierarchy. Used on v1 and hybrid
// hosts. The pids, memory, cpu(acct), freezer, blkio and devices hierarchies
// are joined when mounted; cpuset is left alone (it would need cpus/mems
// copied down and we set no cpuset limits).
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <tuple>

#include "container/cgroups.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

namespace hvrun::container {
namespace {

using namespace cgroup_detail;

const char* const kControllers[] = {"memory", "cpu", "cpuacct", "pids", "freezer", "blkio", "devices"};

bool is_real_dir(const std::string& p) {
  struct stat st {};
  return ::lstat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

class CgroupV1 final : public Cgroup {
 public:
  CgroupV1(std::string root, std::string rel) : root_(std::move(root)), rel_(std::move(rel)) {
    for (const char* c : kControllers) {
      std::string hier = root_ + "/" + c;
      // cpu and cpuacct are often symlinks to "cpu,cpuacct": follow them once
      // (one readlink, not realpath's walk over every component).
      struct stat st {};
      if (::lstat(hier.c_str(), &st) < 0) continue;
      if (S_ISLNK(st.st_mode)) {
        char target[4096];
        ssize_t n = ::readlink(hier.c_str(), target, sizeof target - 1);
        if (n <= 0) continue;
        std::string t(target, size_t(n));
        hier = t.front() == '/' ? t : root_ + "/" + t;
        if (::stat(hier.c_str(), &st) < 0) continue;
      }
      if (!S_ISDIR(st.st_mode)) continue;
      std::string dir = hier + "/" + rel_;
      bool dup = false;
      for (auto& d : dirs_) dup = dup || d.dir == dir;
      if (!dup) dirs_.push_back({c, dir});
    }
  }

  CgroupVersion version() const override { return CgroupVersion::V1; }

  void create(const CgroupLimits& l) override {
    if (dirs_.empty()) throw Error("cgroup v1: no controller hierarchies under " + root_ + " (is a cgroup filesystem mounted there?)");
    for (auto& d : dirs_) mkdir_parents(d.dir);
    set_limits(l);
    if (auto dv = dir_of("devices"); !dv.empty()) {
      // Deny every device node except the ones /dev gets (and ptys).
      write_value(dv + "/devices.deny", "a");
      for (const char* rule : {"c 1:3 rwm", "c 1:5 rwm", "c 1:7 rwm", "c 1:8 rwm", "c 1:9 rwm", "c 5:0 rwm",
                               "c 5:1 rwm", "c 5:2 rwm", "c 136:* rwm", "c *:* m", "b *:* m"})
        write_value(dv + "/devices.allow", rule);
      for (const auto& rule : l.allow_devices) write_value(dv + "/devices.allow", rule);
    }
  }

  void set_limits(const CgroupLimits& l) override {
    if (auto m = dir_of("memory"); !m.empty() && l.memory_bytes > 0) {
      // memsw may never be below the memory limit: raising both, memsw goes first.
      const std::string memsw = m + "/memory.memsw.limit_in_bytes", v = std::to_string(l.memory_bytes);
      const bool has_memsw = ::access(memsw.c_str(), F_OK) == 0;
      int64_t now = 0;
      try {
        now = std::stoll(read_file(m + "/memory.limit_in_bytes"));
      } catch (const std::exception&) {
      }
      if (has_memsw && l.memory_bytes > now) write_value(memsw, v);
      write_value(m + "/memory.limit_in_bytes", v);
      if (has_memsw && l.memory_bytes <= now) write_value(memsw, v);
    } else if (m.empty() && l.memory_bytes > 0) {
      throw Error("cgroup v1: memory limit asked but the memory controller is not mounted");
    }
    if (auto c = dir_of("cpu"); l.cpus > 0) {
      if (c.empty()) throw Error("cgroup v1: cpu limit asked but the cpu controller is not mounted");
      const int64_t period = 100000;
      write_value(c + "/cpu.cfs_period_us", std::to_string(period));
      write_value(c + "/cpu.cfs_quota_us", std::to_string(std::max<int64_t>(1000, std::llround(l.cpus * period))));
    }
    if (auto p = dir_of("pids"); l.pids_limit > 0) {
      if (p.empty()) throw Error("cgroup v1: pids limit asked but the pids controller is not mounted");
      write_value(p + "/pids.max", std::to_string(l.pids_limit));
    }
  }

  void add(pid_t pid) override {
    for (auto& d : dirs_) write_value(d.dir + "/cgroup.procs", std::to_string(pid));
  }

  std::vector<JoinFile> open_join_files() const override {
    std::vector<JoinFile> out;
    for (auto& d : dirs_) {
      std::string path = d.dir + "/tasks";
      UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
      if (!fd) throw_sys("open", path);
      out.push_back({std::move(fd), std::move(path)});
    }
    return out;
  }

  bool oom_killed() const override {
    auto m = dir_of("memory");
    return !m.empty() && read_keyed(m + "/memory.oom_control", "oom_kill") > 0;
  }

  Usage usage() const override {
    Usage u;
    if (auto m = dir_of("memory"); !m.empty()) {
      u.memory_bytes = read_number(m + "/memory.usage_in_bytes");
      u.memory_limit = read_number(m + "/memory.limit_in_bytes");
      if (u.memory_limit >= (int64_t{1} << 62)) u.memory_limit = -1;  // v1's "unlimited": PAGE_COUNTER_MAX pages
    }
    auto acct = dir_of("cpuacct");
    if (acct.empty()) acct = dir_of("cpu");
    if (!acct.empty()) u.cpu_ns = read_number(acct + "/cpuacct.usage");
    if (auto p = dir_of("pids"); !p.empty()) {
      u.pids = read_number(p + "/pids.current");
      u.pids_limit = read_number(p + "/pids.max");
    }
    if (auto b = dir_of("blkio"); !b.empty())
      std::tie(u.io_read_bytes, u.io_write_bytes) = read_io_bytes(b + "/blkio.throttle.io_service_bytes");
    return u;
  }

  void destroy() override {
    // Freeze first so that nothing can fork while we kill, then thaw so the
    // SIGKILLs are acted on.
    auto fz = dir_of("freezer");
    bool frozen = false;
    if (!fz.empty() && is_real_dir(fz)) {
      try {
        write_value(fz + "/freezer.state", "FROZEN");
        frozen = true;
      } catch (const Error&) {
      }
    }
    for (auto& d : dirs_) {
      if (!is_real_dir(d.dir)) continue;
      for (pid_t p : read_procs(d.dir)) ::kill(p, SIGKILL);
    }
    if (frozen) write_value(fz + "/freezer.state", "THAWED");
    for (auto& d : dirs_) {
      if (!is_real_dir(d.dir)) continue;
      kill_procs_loop(d.dir);
    }
    for (auto& d : dirs_) remove_dir(d.dir);
  }

  std::string path() const override {
    auto m = dir_of("memory");
    return m.empty() ? (dirs_.empty() ? "" : dirs_.front().dir) : m;
  }
  std::vector<std::string> paths() const override {
    std::vector<std::string> out;
    for (auto& d : dirs_) out.push_back(d.dir);
    return out;
  }

 private:
  struct Dir {
    std::string controller, dir;
  };
  std::string dir_of(const std::string& c) const {
    for (auto& d : dirs_)
      if (d.controller == c) return d.dir;
    return "";
  }
  static void mkdir_parents(const std::string& dir) {
    // Usually only the container's own directory is missing: try it first.
    if (::mkdir(dir.c_str(), 0755) == 0 || errno == EEXIST) return;
    if (errno != ENOENT) throw_sys("mkdir", dir);
    for (size_t pos = 1; pos != std::string::npos;) {
      pos = dir.find('/', pos + 1);
      std::string p = dir.substr(0, pos);
      if (::mkdir(p.c_str(), 0755) < 0 && errno != EEXIST) throw_sys("mkdir", p);
    }
  }

  std::string root_, rel_;
  std::vector<Dir> dirs_;
};

}  // namespace

std::unique_ptr<Cgroup> make_cgroup_v1(const std::string& root, const std::string& rel) {
  return std::make_unique<CgroupV1>(root, rel);
}

}  // namespace hvrun::container
