// hvrun exec into a running microVM, guest-init's side: each session runs
// a process in the workload's container with container::exec_start (the
// same namespaces, cgroup, capabilities and seccomp filter as an exec into
// a host container) and carries its stdio as control-channel messages
// (contract/control.hpp: exec, exec_stdin, exec_eof, exec_signal,
// exec_winsize in; exec_output and exec_exit out).
//
// guest-init's single poll loop drives it: poll_fds() adds what the
// sessions wait on, dispatch() handles what poll returned. Everything is
// non-blocking except the writes of events to the control channel, which
// follow the host's pace.
#pragma once
#include <poll.h>
#include <sys/types.h>

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
  // with poll's revents and the index where these begin.
  void poll_fds(std::vector<pollfd>& p);
  void dispatch(const std::vector<pollfd>& p, size_t first);

  // The workload has ended: the kernel killed every process of its pid
  // namespace. Drains, reaps and reports each session still open.
  void finish_all();

  size_t size() const { return sessions_.size(); }

 private:
  struct Session {
    pid_t pid = -1;
    UniqueFd pidfd;
    UniqueFd out, err;  // pipes' read ends; a tty's master is `out`
    UniqueFd in;        // the stdin pipe's write end, or a dup of the master
    std::string pending;  // input not yet written
    bool eof_asked = false;
    bool exited = false;
    bool tty = false;
  };
  enum class Kind { Out, Err, Exited, In };
  void start(const contract::ExecStartMsg& m);
  void write_input(Session& s);
  // Reads what `fd` has and sends it; false at its end.
  bool forward(unsigned id, int fd_number, UniqueFd& fd);
  // Sends exec_exit once the process is gone and its output read.
  bool try_finish(unsigned id, Session& s);
  void send(const contract::GuestEvent& e);

  const container::RunSpec& spec_;
  pid_t init_pid_;
  int control_;
  std::map<unsigned, Session> sessions_;
  std::vector<std::pair<unsigned, Kind>> polled_;  // what poll_fds() added, in order
};

}  // namespace hvrun::guestinit
