// hvrun-oci's commands, runc's meaning (runtime-spec "Operations"): create
// builds the container and leaves its init waiting at the exec FIFO, start
// lets it exec, state/kill/delete work on what the kernel says. The
// container stack is container/ (Container::create with a Gate); the state
// is oci/state.hpp. oci/tool/main.cpp is the command line over these.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "oci/state.hpp"

namespace hvrun::oci {

struct CreateOptions {
  std::string bundle;          // "": the current directory
  std::string console_socket;  // AF_UNIX socket that gets the pty master (process.terminal)
  std::string pid_file;        // the init's pid is written here
  // A bundle without the io.hvrun.isolation annotation runs in a microVM
  // (the name hvrun-oci-vm; oci/vm.hpp).
  bool vm_default = false;
  // Warnings (config.json fields not applied) go here, one line each.
  std::function<void(const std::string&)> warn;
  // A microVM's shim that ends without its guest process's exit status
  // (the VM died or did not boot) says why here, one line, as well as on
  // its stderr, which a detached engine does not keep (runc's init errors
  // go to its --log file too).
  std::function<void(const std::string&)> error;
};

// create: the container's init is set up and waits at its exec FIFO;
// detached (it outlives this process: the caller's subreaper or init
// reaps it).
void create(const StateDir& dir, const std::string& id, const CreateOptions& o);
// start: the created container's process execs. Error unless "created".
void start(const StateDir& dir, const std::string& id);
// run: create, start, wait (this process stays the init's parent), delete
// unless `keep`; returns the exit status as a shell would (128+N on signal N).
int run(const StateDir& dir, const std::string& id, const CreateOptions& o, bool keep);
struct ExecOptions {
  container::ExecSpec process;  // from --process FILE, or the command line
  std::string console_socket;   // with process.tty: gets the pty master
  std::string pid_file;
  bool detach = false;          // return once it runs; it outlives us
};
// exec: a process in the running container (its namespaces, cgroup and
// confinement). Returns its exit status as a shell would, or 0 detached.
int exec(const StateDir& dir, const std::string& id, const ExecOptions& o);
// state: the runtime-spec state JSON.
std::string state(const StateDir& dir, const std::string& id);
// kill: `signal` (a number, or a name with or without SIG) to the init, or
// with `all` to every process in the container's cgroup. Error once stopped.
void kill(const StateDir& dir, const std::string& id, const std::string& signal, bool all);
// delete: removes a stopped (or created) container: its cgroup and state.
// `force` kills a running one first; a missing container is then no error.
void remove(const StateDir& dir, const std::string& id, bool force);
// update: new memory/cpu/pids limits for a created, running or paused
// container. `resources_json` is a runtime-spec LinuxResources object
// (memory.limit, cpu.quota/period, pids.limit; "" for none); the other
// arguments (0: not given) win over it. Error naming the field for a bad
// value, or for a field it cannot apply.
void update(const StateDir& dir, const std::string& id, const std::string& resources_json, int64_t memory,
            int64_t cpu_quota, int64_t cpu_period, int64_t pids_limit);
// pause/resume: the cgroup freezer.
void pause(const StateDir& dir, const std::string& id);
void resume(const StateDir& dir, const std::string& id);
// The pids in the container's cgroup.
std::vector<pid_t> pids(const StateDir& dir, const std::string& id);
// list: "ID PID STATUS BUNDLE CREATED OWNER" table, or a JSON array of states.
std::string list(const StateDir& dir, bool json, bool quiet);
// features: what this runtime supports (runtime-spec features.md).
std::string features();

// Where warnings of start and delete go (a poststart or poststop hook that
// failed): one line each. Default: stderr.
void set_warning_sink(std::function<void(const std::string&)> sink);

}  // namespace hvrun::oci
