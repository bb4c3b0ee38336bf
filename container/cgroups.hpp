// Cgroups behind one interface: v1 (per-controller hierarchies under
// /sys/fs/cgroup/<ctrl>, as on hybrid hosts) or v2 (unified), detected at run
// time from the filesystem type of /sys/fs/cgroup. Hybrid hosts (v1
// controllers + an empty cgroup2 at /sys/fs/cgroup/unified) use v1.
//
// Layout: v1 /sys/fs/cgroup/<ctrl>/<parent>/<id>, v2 /sys/fs/cgroup/<parent>/<id>.
#pragma once
#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <utility>
#include <string>
#include <vector>

#include "util/fd.hpp"

namespace hvrun::container {

enum class CgroupVersion { V1, V2 };

// statfs("/sys/fs/cgroup"): CGROUP2_SUPER_MAGIC means pure v2, anything else v1.
CgroupVersion detect_cgroup_version(const std::string& root = "/sys/fs/cgroup");

struct CgroupLimits {
  int64_t memory_bytes = 0;  // 0: unlimited; swap is limited to none
  double cpus = 0;           // 0: unlimited; quota = cpus * period (100 ms)
  int64_t pids_limit = 0;    // 0: unlimited
  // v1 devices.allow rules beyond a container's own set, e.g. "c 10:232 rwm"
  // (/dev/kvm, for the VMM's cgroup: engine/vmm_jail.hpp). v2 has no
  // device controller of its own; nothing to do there.
  std::vector<std::string> allow_devices;
};

class Cgroup {
 public:
  virtual ~Cgroup() = default;
  // A handle for container `id` under `parent`; creates nothing yet.
  // Throws Error for an id/parent that would escape the hierarchy.
  static std::unique_ptr<Cgroup> for_container(const std::string& parent, const std::string& id,
                                               const std::string& root = "/sys/fs/cgroup");

  virtual CgroupVersion version() const = 0;
  // Makes the cgroup(s) (enabling controllers on v2) and writes the limits.
  virtual void create(const CgroupLimits& limits) = 0;
  // Writes the limits that are set (> 0) to the existing cgroup, leaving
  // the others as they are (`hvrun-oci update`). create() does this too.
  virtual void set_limits(const CgroupLimits& limits) = 0;
  // Moves a process in (all hierarchies on v1).
  virtual void add(pid_t pid) = 0;

  // A process joining by itself: the files to write "0" to, opened now (by
  // the privileged parent) and written by the child with join_self(). On v1
  // these are the per-hierarchy `tasks` files: moving the calling thread
  // alone skips the kernel's global cgroup_threadgroup_rwsem, whose write
  // side waits for an RCU grace period (10-20 ms) on every cgroup.procs
  // write by pid. Empty on v2 (clone3(CLONE_INTO_CGROUP) or add() there).
  struct JoinFile {
    UniqueFd fd;
    std::string path;
  };
  virtual std::vector<JoinFile> open_join_files() const;
  // Child side, while single-threaded: moves the calling thread (= the whole
  // process) into every hierarchy of `files`. Throws Error naming the file.
  static void join_self(const std::vector<JoinFile>& files);
  // True once the kernel OOM-killed something in this cgroup.
  virtual bool oom_killed() const = 0;
  // What its processes use now (`hvrun stats`); -1 where the controller
  // is missing or has no limit.
  struct Usage {
    int64_t memory_bytes = -1;
    int64_t memory_limit = -1;
    int64_t cpu_ns = -1;  // CPU time, all processes, since the cgroup was made
    int64_t pids = -1;
    int64_t pids_limit = -1;
    int64_t io_read_bytes = -1;   // block I/O since the cgroup was made; -1 unknown
    int64_t io_write_bytes = -1;  // (v2: io.stat; v1: blkio.throttle.io_service_bytes)
  };
  virtual Usage usage() const = 0;
  // Its processes (`hvrun top`): the main directory's cgroup.procs.
  std::vector<pid_t> procs() const;
  // Kills every process in the cgroup(s), then removes the directories.
  // Idempotent: a missing cgroup is not an error.
  virtual void destroy() = 0;
  // The main directory (v2: the cgroup; v1: the memory hierarchy's).
  virtual std::string path() const = 0;
  // Every directory this container uses (one on v2, one per controller on v1).
  virtual std::vector<std::string> paths() const = 0;
};

std::unique_ptr<Cgroup> make_cgroup_v1(const std::string& root, const std::string& rel);
std::unique_ptr<Cgroup> make_cgroup_v2(const std::string& root, const std::string& rel);

// Shared helpers for the two implementations.
namespace cgroup_detail {
std::vector<pid_t> read_procs(const std::string& dir);  // empty when missing
void write_value(const std::string& file, const std::string& value);
int64_t read_keyed(const std::string& file, const std::string& key);  // "key N" lines; -1 when absent
int64_t read_number(const std::string& file);  // a file holding one number; -1 when absent or "max"
// Bytes read and written, summed over devices, from v2's io.stat
// ("MAJ:MIN rbytes=N wbytes=N ...") or v1's blkio.throttle.io_service_bytes
// ("MAJ:MIN Read N" / "MAJ:MIN Write N"); {-1, -1} when the file is absent.
std::pair<int64_t, int64_t> read_io_bytes(const std::string& file);
// SIGKILLs the processes listed in dir/cgroup.procs until it is empty (bounded wait).
void kill_procs_loop(const std::string& dir);
// rmdir, retrying briefly while the kernel still reports it busy; ENOENT is fine.
void remove_dir(const std::string& dir);
}  // namespace cgroup_detail

}  // namespace hvrun::container
