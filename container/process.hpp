// The last steps of every container process (init and exec alike), run in
// the child after its namespaces and root are in place: resolve the user in
// the image, build the environment, enter the cwd (inside the root, created
// if missing as Docker does), seccomp (here when no_new_privs is off:
// loading a filter then needs CAP_SYS_ADMIN), drop capabilities around the
// uid switch, no_new_privs (when asked), parent-death signal, close-on-exec
// for every inherited fd, seccomp (here when no_new_privs is on), execve.
// Also the child->parent report protocol over a CLOEXEC pipe: EOF means the
// exec succeeded; a SyncReport means it did not.
#pragma once
#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "container/capabilities.hpp"
#include "container/runtime.hpp"
#include "container/seccomp.hpp"

namespace hvrun::container {

struct ProcessSetup {
  std::vector<std::string> args;
  std::vector<std::string> env;
  std::string cwd = "/";
  std::string user;
  CapSet caps = 0;
  std::vector<SeccompProgram> filters;  // loaded in this order; empty programs are skipped
  bool no_new_privs = false;
  std::vector<Rlimit> rlimits;
  std::vector<uint32_t> additional_gids;
  int umask = -1;  // -1: 0022
  std::optional<int> oom_score_adj;
  // Re-armed after the credentials change (as start_child arms it first).
  bool parent_death_signal = true;
  // A Gate's FIFO, opened O_PATH before pivot_root (-1: none). The init
  // reports kReady on the report pipe, opens /proc/self/fd/N for writing
  // (blocking until `hvrun-oci start` reads it), writes one byte, and execs;
  // nobody reads the report pipe after kReady.
  int gate_fd = -1;
  // --init: fork_init (container/init.hpp) right before the execve.
  bool init = false;
};

// The workload's confinement from its spec: spec.privileged gives every
// capability and no filter; otherwise the resolved --cap-add/--cap-drop set,
// the mount guard and the seccomp profile. Compiles the filters (cached).
// Also carries the spec's rlimits, additional groups, umask and oom score.
void apply_security(const RunSpec& spec, ProcessSetup& p);

// "RLIMIT_NOFILE" -> RLIMIT_NOFILE; -1 for a name Linux has not.
int rlimit_resource(const std::string& type);

inline constexpr const char* kDefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

// spec env with PATH added when absent, and HOME (the user's home from the
// container's /etc/passwd, "/" without one) as Docker does.
std::vector<std::string> build_env(const std::vector<std::string>& env, const std::string& home = "/");

// Points fds 0,1,2 at the caller's stdio (-1: /dev/null, opened now, so
// call it before pivot_root / setns).
void setup_stdio(const Stdio& stdio);

// Never returns: execs, or reports why not on report_fd and _exits.
// Setup failures throw Error (the caller reports them).
[[noreturn]] void finish_and_exec(const ProcessSetup& p, int report_fd);

// Child side: reports a setup failure and _exits(1).
[[noreturn]] void report_failure_and_exit(int report_fd, const std::string& msg);

// Parent side: reads the report pipe until EOF. On a report, reaps `child`
// and throws: ExitError (127 not found / 126 not executable) for exec
// failures, Error for setup failures.
void await_exec(int report_read_fd, pid_t child);
// Reads the report pipe until EOF and throws what the child reported, if it
// reported anything (no reaping). For error paths that already reaped it.
void rethrow_report(int report_read_fd);
// As rethrow_report, for a gated init: returns once it reports that it waits
// at its gate; throws what it reported instead, or that it died.
void await_gate(int report_read_fd);

ExitStatus wait_exit(pid_t pid);

}  // namespace hvrun::container
