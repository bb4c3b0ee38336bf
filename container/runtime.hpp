// The container runtime's public face: start a workload described by a
// RunSpec, wait for it, signal it, join it (exec). Used by the host engine
// and by guest-init inside the VM; nothing here knows about the image store.
#pragma once
#include <sys/types.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "container/spec.hpp"
#include "util/fd.hpp"

namespace hvrun::container {

class Cgroup;

// The OCI create/start split (hvrun-oci, as runc's exec FIFO): with a gate,
// Container::create() builds the whole container (namespaces, cgroup, root,
// capabilities, user) and returns with its init stopped right before its
// execve, waiting to open `exec_fifo` for writing. Whoever then opens the
// FIFO for reading (open_gate(), `hvrun-oci start`) lets it exec.
struct Gate {
  std::string exec_fifo;  // an existing FIFO (mkfifo), host path
  // The init outlives the caller: no parent-death signal, and the Container
  // is released (its init is reparented to the caller's subreaper, e.g.
  // conmon or containerd's shim). Off: as start(), the init dies with the
  // thread that created it.
  bool detached = false;
};

// The workload's stdio as seen by the caller. -1 means /dev/null.
// Ignored for a tty spec: then the workload gets the pty slave.
struct Stdio {
  int in = -1;
  int out = -1;
  int err = -1;
  // The caller's own 0, 1 and 2, each that is open (a closed one: -1).
  static Stdio inherited();
};

struct ExitStatus {
  int code = 0;     // exit code when it exited
  int signal = 0;   // signal number when it was killed
  bool oom_killed = false;
  // Docker convention: 128+N for death by signal N.
  int exit_code() const { return signal ? 128 + signal : code; }
};

// Threads: start() and exec_start() clone the calling thread straight into
// the new namespaces (no helper process), and the child runs ordinary C++
// (it allocates) until it execs. Call them from a single-threaded process
// (the monitor, guest-init), or at least while no other thread can hold the
// malloc lock. The container init's parent-death signal fires when the
// *thread* that called start() exits, so keep that thread alive while the
// container runs.
class Container {
 public:
  // Creates cgroup + namespaces + rootfs and execs spec.args as PID 1 of a
  // new pid namespace. Returns once the workload has been exec'd. Throws
  // Error with the reason on failure (exec failure included: code 127 for
  // "not found", 126 for "not executable", as Docker).
  //
  // `on_namespaces`, when given, runs in the caller once the workload's
  // namespaces exist and before its root filesystem is built or anything of
  // it runs (the host engine wires its network namespace here: veth, address,
  // route). It gets the init's host pid; an exception from it aborts the start.
  static Container start(const RunSpec& spec, const Stdio& stdio,
                         const std::function<void(pid_t)>& on_namespaces = {});

  // As start(), but the init waits at `gate` right before its execve; the
  // command is checked then (not found: ExitError 127, as start()). Returns
  // once the init waits there.
  static Container create(const RunSpec& spec, const Stdio& stdio, const Gate& gate,
                          const std::function<void(pid_t)>& on_namespaces = {});

  // Moves transfer ownership of the process. Destroying a Container whose
  // init was not reaped SIGKILLs and reaps it (its cgroup stays until
  // cleanup()).
  Container(Container&& o) noexcept;
  Container& operator=(Container&& o) noexcept;
  ~Container();

  pid_t pid() const { return pid_; }
  int pty_master() const { return pty_master_.get(); }  // -1 unless spec.tty
  UniqueFd take_pty_master() { return std::move(pty_master_); }
  const std::string& cgroup_path() const { return cgroup_; }

  ExitStatus wait();              // reaps the init; fills oom_killed from the cgroup
  void kill(int sig);             // signals the init process
  void set_pty_size(unsigned short rows, unsigned short cols);
  // Gives up the init: it is neither killed nor reaped by this object (a
  // detached create's caller exits and leaves it to its subreaper).
  pid_t release() {
    reaped_ = true;
    return pid_;
  }

 private:
  Container() = default;
  static Container start_gated(const RunSpec& spec, const Stdio& stdio, const Gate* gate,
                               const std::function<void(pid_t)>& on_namespaces);
  pid_t pid_ = -1;
  UniqueFd pty_master_;
  std::string cgroup_;
  bool reaped_ = false;
  std::shared_ptr<Cgroup> cg_;
};

// Removes everything a container with this id may have left behind on this
// kernel (its cgroups, after killing what is in them). Safe to call twice.
void cleanup(const std::string& id, const std::string& cgroup_parent = "hvrun", const std::string& cgroup_root = "");

// Runs a process inside the running container whose init is `init_pid`,
// with the same namespaces, cgroup, capabilities and seccomp filter as the
// workload. Returns the exit status of the exec'd process (waits for it).
// When spec.tty, a pty is made and `on_pty_master` gets the master fd.
struct ExecHandle {
  pid_t pid = -1;
  UniqueFd pty_master;
};
// `detached`: no parent-death signal, the process outlives the caller
// (hvrun-oci exec --detach: conmon, its subreaper, waits for it).
ExecHandle exec_start(pid_t init_pid, const RunSpec& container_spec, const ExecSpec& spec, const Stdio& stdio,
                      bool detached = false);
ExitStatus exec_wait(pid_t pid);

// `hvrun-oci start`: opens a created container's exec FIFO for reading, so
// that its init (waiting at its Gate) execs. Returns true once the init went
// through; false when `init_alive` says the init is gone before it got
// there. Polls `init_alive` every 50 ms while it waits; throws Error when
// the FIFO cannot be opened.
bool open_gate(const std::string& exec_fifo, const std::function<bool()>& init_alive);

}  // namespace hvrun::container
