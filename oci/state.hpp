// hvrun-oci's state directory: one folder per container under the global
// --root (default /run/hvrun-oci, a tmpfs: gone at reboot, as runc's), with
// the container's record (state.json), its exec FIFO while it is created
// and not started, and a lock taken by every command that changes it.
//
// The status is never stored: it is read from the kernel each time, as
// runc does. "stopped" when the init is gone (or a zombie, or its pid now
// belongs to another process: the start time recorded at create differs),
// "created" while the exec FIFO exists, "paused" when its cgroup is frozen,
// else "running".
#pragma once
#include <sys/types.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "container/spec.hpp"
#include "oci/hooks.hpp"
#include "util/lock.hpp"

namespace hvrun::oci {

struct Record {
  std::string id;
  pid_t pid = 0;
  uint64_t pid_start = 0;  // /proc/PID/stat starttime (clock ticks since boot)
  std::string bundle;
  std::string rootfs;
  std::string created;     // RFC 3339
  std::string owner;       // "" for root, as runc
  std::map<std::string, std::string> annotations;
  std::string cgroup_parent;  // the container's cgroup: PARENT/NAME
  std::string cgroup_name;
  container::RunSpec spec;    // what it runs (for exec)
  Hooks hooks;                // poststart and poststop run later
  // A microVM (oci/vm.hpp): pid is its shim's, which boots the VM at start;
  // the VMM joins the container's cgroup (pause freezes it).
  bool vm = false;
  // The network namespace whose interface the VM took over (oci/vm_net.hpp;
  // the card it took is spec.netcfg): given back at delete.
  std::string vm_netns;
};

// The runtime-spec state of a container (runc state): ociVersion, id,
// status, pid (0 once stopped), bundle, rootfs, created, owner, annotations.
std::string state_json(const Record& r, const std::string& status);

// Runc's rule for container ids: letters, digits, _ + - and ., 1 to 1024
// characters, not "." or "..". Throws Error otherwise.
void check_id(const std::string& id);

// The starttime of `pid` from /proc (0 when it is gone or a zombie).
uint64_t process_start_time(pid_t pid);
// The record's process still lives (its pid not reused since: the start
// time matches).
bool alive(const Record& r);

class StateDir {
 public:
  explicit StateDir(std::string root);
  const std::string& root() const { return root_; }
  std::string dir(const std::string& id) const { return root_ + "/" + id; }
  std::string exec_fifo(const std::string& id) const { return dir(id) + "/exec.fifo"; }

  // Makes the container's folder; Error "container with id ID exists".
  void make(const std::string& id) const;
  void save(const Record& r) const;  // atomically
  // Error "container ID does not exist" when there is no such container.
  Record load(const std::string& id) const;
  bool exists(const std::string& id) const;
  std::vector<std::string> ids() const;  // sorted
  void remove(const std::string& id) const;
  // Serialises the commands that change one container (create, start,
  // kill, delete, pause, resume).
  FileLock lock(const std::string& id) const;

  std::string status(const Record& r) const;

 private:
  std::string root_;
};

}  // namespace hvrun::oci
