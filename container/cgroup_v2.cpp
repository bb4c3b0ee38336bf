// cgroup v2 (unified hierarchy): the container's cgroup is
// <root>/<parent>/<id>; memory, cpu and pids are enabled in each ancestor's
// cgroup.subtree_control on the way down. cgroup.kill (5.14+) takes the
// whole cgroup down at once; a SIGKILL loop over cgroup.procs otherwise.
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <tuple>
#include <sstream>

#include "container/cgroups.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

namespace hvrun::container {
namespace {

using namespace cgroup_detail;

class CgroupV2 final : public Cgroup {
 public:
  CgroupV2(std::string root, std::string rel) : root_(std::move(root)), rel_(std::move(rel)), dir_(root_ + "/" + rel_) {}

  CgroupVersion version() const override { return CgroupVersion::V2; }

  void create(const CgroupLimits& l) override {
    // Walk down from the root: enable controllers in each ancestor, mkdir the next level.
    std::string cur = root_;
    std::istringstream in(rel_);
    std::string comp;
    while (std::getline(in, comp, '/')) {
      enable_controllers(cur);
      cur += "/" + comp;
      if (::mkdir(cur.c_str(), 0755) < 0 && errno != EEXIST) throw_sys("mkdir", cur);
    }
    set_limits(l);
  }

  void set_limits(const CgroupLimits& l) override {
    require_controller(l.memory_bytes > 0, "memory");
    require_controller(l.cpus > 0, "cpu");
    require_controller(l.pids_limit > 0, "pids");
    if (l.memory_bytes > 0) {
      write_value(dir_ + "/memory.max", std::to_string(l.memory_bytes));
      if (::access((dir_ + "/memory.swap.max").c_str(), F_OK) == 0) write_value(dir_ + "/memory.swap.max", "0");
    }
    if (l.cpus > 0) {
      const int64_t period = 100000;
      write_value(dir_ + "/cpu.max",
                  std::to_string(std::max<int64_t>(1000, std::llround(l.cpus * period))) + " " + std::to_string(period));
    }
    if (l.pids_limit > 0) write_value(dir_ + "/pids.max", std::to_string(l.pids_limit));
  }

  void add(pid_t pid) override { write_value(dir_ + "/cgroup.procs", std::to_string(pid)); }

  bool oom_killed() const override { return read_keyed(dir_ + "/memory.events", "oom_kill") > 0; }

  Usage usage() const override {
    Usage u;
    u.memory_bytes = read_number(dir_ + "/memory.current");
    u.memory_limit = read_number(dir_ + "/memory.max");
    const int64_t usec = read_keyed(dir_ + "/cpu.stat", "usage_usec");
    if (usec >= 0) u.cpu_ns = usec * 1000;
    u.pids = read_number(dir_ + "/pids.current");
    u.pids_limit = read_number(dir_ + "/pids.max");
    std::tie(u.io_read_bytes, u.io_write_bytes) = read_io_bytes(dir_ + "/io.stat");
    return u;
  }

  void destroy() override {
    struct stat st {};
    if (::stat(dir_.c_str(), &st) < 0) return;
    if (::access((dir_ + "/cgroup.kill").c_str(), F_OK) == 0) {
      try {
        write_value(dir_ + "/cgroup.kill", "1");
      } catch (const Error&) {
      }
    }
    kill_procs_loop(dir_);
    remove_dir(dir_);
  }

  std::string path() const override { return dir_; }
  std::vector<std::string> paths() const override { return {dir_}; }

 private:
  void require_controller(bool needed, const char* c) const {
    if (!needed) return;
    std::string avail;
    try {
      avail = read_file(dir_ + "/cgroup.controllers");
    } catch (const Error&) {
    }
    std::istringstream in(avail);
    std::string w;
    while (in >> w)
      if (w == c) return;
    throw Error(std::string("cgroup v2: the ") + c + " controller is not available in " + dir_ +
                " (not delegated, or bound to a v1 hierarchy)");
  }

  // Enables memory, cpu and pids below `dir`, one at a time and best effort
  // (e.g. cpu cannot be enabled while realtime tasks sit in the root): a
  // limit that needs a missing controller is refused by require_controller.
  static void enable_controllers(const std::string& dir) {
    std::string avail, enabled;
    try {
      avail = read_file(dir + "/cgroup.controllers");
      enabled = read_file(dir + "/cgroup.subtree_control");
    } catch (const Error&) {
      return;
    }
    auto has = [](const std::string& list, const char* c) {
      std::istringstream in(list);
      std::string w;
      while (in >> w)
        if (w == c) return true;
      return false;
    };
    for (const char* c : {"memory", "cpu", "pids"}) {
      if (!has(avail, c) || has(enabled, c)) continue;
      try {
        write_value(dir + "/cgroup.subtree_control", std::string("+") + c);
      } catch (const Error&) {
      }
    }
  }

  std::string root_, rel_, dir_;
};

}  // namespace

std::unique_ptr<Cgroup> make_cgroup_v2(const std::string& root, const std::string& rel) {
  return std::make_unique<CgroupV2>(root, rel);
}

}  // namespace hvrun::container
