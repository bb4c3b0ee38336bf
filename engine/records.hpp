// Container records on disk, shared by every hvrun process:
//   ROOT/containers/.lock               flock: store-wide, held while names change
//   ROOT/containers/names/<name> -> id  the name table (symlinks; dangling = free)
//   ROOT/containers/<id>/config.json    ContainerConfig (holds "image_id")
//   ROOT/containers/<id>/state.json     State
//   ROOT/containers/<id>/container.log  json-file log lines
//   ROOT/containers/<id>/lock           held by the monitor for its whole life:
//                                       try_lock succeeding = the monitor is dead
//   ROOT/containers/<id>/upper, work    overlay upper and work dirs
// A record is built in <id>.tmp and renamed into place with its lock held, so
// a reader never sees a half-made record; an abandoned .tmp is collected later.
#pragma once
#include <sys/types.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <map>
#include <string>
#include <vector>

#include "container/spec.hpp"
#include "engine/mode.hpp"
#include "util/lock.hpp"

namespace hvrun::engine {

struct ContainerConfig {
  std::string id;
  std::string name;
  std::string image;     // the reference the user gave
  std::string image_id;  // resolved image id (the store refuses `image rm` while used)
  std::string created;   // RFC 3339
  Mode mode = Mode::Container;
  bool auto_remove = false;
  bool detach = false;
  container::RunSpec spec;
  // VM mode: what the VMM boots (found when the container is created).
  std::string vm_kernel;
  std::string vm_guest_init;
  std::string vm_image_disk;
  // Restored from this snapshot's directory (hvrun snapshot restore) rather
  // than booted; empty: booted.
  std::string vm_restore;
  // -p: "[HOSTIP:]HOSTPORT:PORT/PROTO" (canonical), proxied by the monitor.
  std::vector<std::string> publish;
  // Who made it: the uid of the caller of hvrun serve's API (a tenant sees
  // only its own), 0 for the CLI (root).
  uint32_t owner_uid = 0;
  // -l KEY=VALUE (the image's own labels are not merged in yet).
  std::map<std::string, std::string> labels;
  // What `stop` sends first ("": SIGTERM): --stop-signal, else the image's
  // STOPSIGNAL, as given (util/signals.hpp parses it).
  std::string stop_signal;
  // Seconds `stop` waits before SIGKILL when not told (-1: kDefaultStopTimeout).
  int stop_timeout = -1;
  // --restart: "" or "no", "always", "unless-stopped", "on-failure" (with
  // at most restart_max restarts; 0: no limit). Kept by the monitor
  // (engine.cpp: maybe_restart) and by restart_by_policy after a reboot.
  std::string restart_policy;
  int restart_max = 0;
  // The named volumes its mounts use (engine/volumes.hpp): not removable
  // while this record exists.
  std::vector<std::string> volumes;
};
inline constexpr int kDefaultStopTimeout = 10;
inline constexpr int kMaxStopTimeout = 86400;
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(ContainerConfig, id, name, image, image_id, created, mode, auto_remove,
                                                detach, spec, vm_kernel, vm_guest_init, vm_image_disk, vm_restore,
                                                publish, owner_uid, labels, stop_signal, stop_timeout,
                                                restart_policy, restart_max, volumes)

struct State {
  std::string status = "created";  // created | running | exited
  int pid = 0;                     // the workload's init, as seen from the host
  uint64_t pid_starttime = 0;      // /proc/<pid>/stat field 22: guards against pid reuse
  int monitor_pid = 0;
  int exit_code = 0;
  bool oom_killed = false;
  std::string started_at;
  std::string finished_at;
  std::string error;  // why it failed to start
  // Made by `hvrun create` (or the API's create) and not started yet: no
  // monitor is expected, so refresh() leaves it "created".
  bool start_pending = false;
  // --restart: restarts made by the policy since the last start by hand;
  // the delay before the next (doubled from 100 ms while runs are short);
  // `restarting` while that delay runs (its monitor is alive).
  int restart_count = 0;
  int restart_delay_ms = 0;
  bool restarting = false;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(State, status, pid, pid_starttime, monitor_pid, exit_code, oom_killed,
                                                started_at, finished_at, error, start_pending, restart_count, restart_delay_ms,
                                                restarting)

// /proc/<pid>/stat starttime; nullopt when the process is gone.
std::optional<uint64_t> proc_starttime(pid_t pid);

// Docker-style "adjective_surname" names, and the allowed name syntax.
std::string generate_name();
bool valid_name(const std::string& name);
bool is_container_id(const std::string& s);  // 64 lowercase hex

class Records {
 public:
  explicit Records(std::string store_root);

  const std::string& base() const { return base_; }
  std::string dir(const std::string& id) const { return base_ + "/" + id; }
  std::string config_path(const std::string& id) const { return dir(id) + "/config.json"; }
  std::string state_path(const std::string& id) const { return dir(id) + "/state.json"; }
  std::string log_path(const std::string& id) const { return dir(id) + "/container.log"; }
  std::string lock_path(const std::string& id) const { return dir(id) + "/lock"; }

  // Creates the record: fills cfg.id, cfg.created, cfg.name (generated when
  // empty; "name already in use" when taken), the overlay dirs in cfg.spec,
  // and writes config.json + state.json ("created"). Returns the record's
  // lock, held: whoever holds it is the container's monitor.
  FileLock create(ContainerConfig& cfg);

  // By full id, name, or unique id prefix. Throws "no such container: X".
  std::string resolve(const std::string& ref) const;
  std::vector<std::string> ids() const;  // every record, oldest first

  ContainerConfig load_config(const std::string& id) const;
  void save_config(const ContainerConfig& cfg) const;  // atomic, no fsync
  State load_state(const std::string& id) const;
  void save_state(const std::string& id, const State& st) const;  // atomic, no fsync

  // The state as it truly is: if it says created/running but the monitor is
  // gone (its lock is free), marks it exited (137 when it was running: the
  // workload died by SIGKILL with its monitor; 255 when it never started),
  // cleans up what the workload left (container::cleanup) and saves that. A
  // --rm record whose monitor is gone is removed instead, and refresh throws
  // "no such container", as if the monitor had finished.
  State refresh(const std::string& id) const;
  bool monitor_alive(const std::string& id) const;

  // Stopped by hand (stop, kill): a restart policy leaves it alone until it
  // is started by hand. A marker file beside the state, which the monitor's
  // own saves of the state never overwrite.
  void mark_stopped_by_user(const std::string& id, bool stopped) const;
  bool stopped_by_user(const std::string& id) const;

  // hvrun rename: the container's name becomes `name` ("invalid container
  // name", or "already in use" when another has it); its id, hostname and
  // everything else stay. The other members of its networks reach it by the
  // new name (engine/network.hpp rename_in_networks).
  void rename(const std::string& id, const std::string& name) const;

  // Removes the record: cgroups (container::cleanup), network leases and
  // veth (engine/network.hpp), dir, name. The caller
  // makes sure the monitor is gone (or is the monitor, holding the lock).
  void remove(const std::string& id, const std::string& name) const;

  // Removes .tmp records whose creator died, and exit notes older than an
  // hour. Cheap when there are none.
  void collect_garbage() const;

  // A --rm container's final state, kept for a while after its record is
  // removed so that a waiter (`hvrun wait`, the API's wait) still learns how
  // it ended: ROOT/containers/exits/<id>.json. The monitor writes it just
  // before it removes the record.
  void save_exit_note(const std::string& id, const State& st) const;
  std::optional<State> load_exit_note(const std::string& id) const;

  std::string store_root() const { return base_.substr(0, base_.size() - std::string("/containers").size()); }

 private:
  std::string base_;
};

}  // namespace hvrun::engine
