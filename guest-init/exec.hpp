// hvrun exec into a running microVM, guest-init's side: each session runs
// a process in the workload's container with container::exec_start (the
// same namespaces, cgroup, capabilities and seccomp filter as an exec into
// a host container) and carries its stdio as control-channel messages
// (contract/control.hpp: exec, exec_stdin, exec_eof, exec_signal,
// exec_winsize in; exec_output and exec_exit out).
//
// guest-init's single poll loop drives it: poll_fds() adds what the
// sessions wait on, dispatch() handles what poll returned. Nothing blocks:
// events wait in a queue until the control channel takes them, and while
// that queue is long the sessions' output is not read (their processes
// wait, the rest of guest-init goes on). Input is acknowledged with
// exec_read as the process takes it, so the host never has more than
// kExecStdinWindow bytes in flight. A process that has exited while
// something it started still holds its output open is reported 2 s later
// (as a container's exec). A session may instead unpack a tar into the
// container's files (docker cp into a running microVM: ExecStartMsg's
// extract_to), in a child of guest-init.
#pragma once
#include <poll.h>
#include <sys/types.h>

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "container/spec.hpp"
#include "contract/control.hpp"
#include "util/fd.hpp"

namespace hvrun::guestinit {

class ExecSessions {
 public:
  // A guest that is told to start more sessions at once refuses the rest.
  static constexpr size_t kMaxSessions = 64;

  // `spec`: the workload's container; `init_pid`: its init; `control`: the
  // channel the events go to (not owned).
  ExecSessions(const container::RunSpec& spec, pid_t init_pid, int control);
  ~ExecSessions();  // kills and reaps what is still running, unreported
  ExecSessions(const ExecSessions&) = delete;
  ExecSessions& operator=(const ExecSessions&) = delete;

  // An exec message from the host (others are ignored). A session that
  // cannot start is reported at once as exec_exit with the reason (127: no
  // such command, 126: not executable, 125: anything else); a message for
  // a session that does not exist (it just ended) is dropped.
  void handle(const contract::HostMessage& m);

  // Appends the descriptors to wait on; dispatch() gets the same vector
  // with poll's revents and the index where these begin (call it after
  // every poll, a timeout included).
  void poll_fds(std::vector<pollfd>& p);
  void dispatch(const std::vector<pollfd>& p, size_t first);
  // How long poll may wait for the sessions' sake (ms; -1: no limit).
  int timeout_ms() const;

  // The workload has ended: the kernel killed every process of its pid
  // namespace. Drains, reaps and reports each session still open, and
  // writes every queued event (blocking).
  void finish_all();

  size_t size() const { return sessions_.size(); }

 private:
  struct Session {
    pid_t pid = -1;
    UniqueFd pidfd;
    UniqueFd out, err;  // pipes' read ends; a tty's master is `out`
    UniqueFd in;        // the stdin pipe's write end, or a dup of the master
    std::string pending;  // input not yet written
    uint64_t taken = 0;   // input the process read, not yet acknowledged
    bool eof_asked = false;
    bool exited = false;
    std::chrono::steady_clock::time_point exited_at;
    bool tty = false;
  };
  enum class Kind { Out, Err, Exited, In, Control };
  void start(const contract::ExecStartMsg& m);
  void write_input(unsigned id, Session& s);  // and acknowledges what the process took
  // Reads what `fd` has and sends it; false at its end.
  bool forward(unsigned id, int fd_number, UniqueFd& fd);
  // Sends exec_exit once the process is gone and its output read.
  bool try_finish(unsigned id, Session& s);
  void send(const contract::GuestEvent& e);  // queued
  void write_queue();                        // what the channel takes now

  const container::RunSpec& spec_;
  pid_t init_pid_;
  int control_;
  std::string queue_;  // encoded events not yet written to `control_`
  std::map<unsigned, Session> sessions_;
  std::vector<std::pair<unsigned, Kind>> polled_;  // what poll_fds() added, in order
};

}  // namespace hvrun::guestinit
