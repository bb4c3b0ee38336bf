#include "guest-init/exec.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <chrono>

#include "container/namespaces.hpp"
#include "container/runtime.hpp"
#include "image/extract.hpp"
#include "util/error.hpp"
#include "util/log.hpp"

namespace hvrun::guestinit {
namespace {

// Input the host sent that the process has not read yet, per session: the
// host keeps to kExecStdinWindow; a host that does not is cut off here.
constexpr size_t kMaxPendingInput = contract::kExecStdinWindow + 4 * contract::kExecChunk;
// Events waiting for the control channel: beyond this, output is not read.
constexpr size_t kMaxQueue = size_t(1) << 20;
// After its process exits, a session's output is drained this long at most
// (something it left running may hold the pipes open).
constexpr auto kDrainAfterExit = std::chrono::seconds(2);

// docker cp into the running microVM (ExecStartMsg::extract_to): a child
// of guest-init (guest root, outside the container's namespaces, as the
// host's cp of a running container) unpacks the tar from `in` into the
// directory of the container's file system, resolved inside its root
// (/proc/INIT/root). Its errors go to `err`; status 1.
pid_t start_extract(pid_t init_pid, const container::RunSpec& spec, const contract::ExecStartMsg& m, int in, int err) {
  const pid_t pid = ::fork();
  if (pid < 0) throw_sys("fork");
  if (pid > 0) return pid;
  // Only its input and its errors stay open (not the other sessions' pipes).
  if (::dup2(in, 0) < 0 || ::dup2(err, 2) < 0) ::_exit(1);
  ::syscall(SYS_close_range, 3U, ~0U, 0U);
  in = 0;
  err = 2;
  try {
    const std::string root_path = "/proc/" + std::to_string(init_pid) + "/root";
    UniqueFd root(::open(root_path.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!root) throw_sys("open", root_path);
    std::string rel = m.extract_to;
    while (!rel.empty() && rel[0] == '/') rel.erase(0, 1);
    UniqueFd dir = image::open_in_root(root.get(), rel.empty() ? "." : rel, O_RDONLY | O_DIRECTORY);
    if (!dir) {
      if (errno == ENOTDIR) throw Error("invalid destination " + m.extract_to + ": not a directory");
      throw Error("no such directory: " + m.extract_to);
    }
    image::extract_plain_tar(in, "the archive for " + m.extract_to, dir.get(),
                             image::cp_extract_options(spec.userns ? container::kUsernsHostBase : 0,
                                                       m.extract_no_dir_swap));
    ::_exit(0);
  } catch (const std::exception& e) {
    (void)write_all(err, std::string(e.what()) + "\n");
    ::_exit(1);
  }
}

}  // namespace

ExecSessions::ExecSessions(const container::RunSpec& spec, pid_t init_pid, int control)
    : spec_(spec), init_pid_(init_pid), control_(control) {}

ExecSessions::~ExecSessions() {
  for (auto& [id, s] : sessions_) {
    ::kill(s.pid, SIGKILL);
    int st;
    while (::waitpid(s.pid, &st, 0) < 0 && errno == EINTR) {
    }
  }
}

void ExecSessions::send(const contract::GuestEvent& e) { queue_ += contract::encode(e); }

void ExecSessions::write_queue() {
  // The control channel is guest-init's blocking fd, shared with its other
  // writes: non-blocking for these writes only (guest-init has one thread).
  const int fl = ::fcntl(control_, F_GETFL);
  ::fcntl(control_, F_SETFL, fl | O_NONBLOCK);
  while (!queue_.empty()) {
    ssize_t w = ::write(control_, queue_.data(), queue_.size());
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) break;  // EAGAIN: later; an error: the host is gone and so are we soon
    queue_.erase(0, size_t(w));
  }
  ::fcntl(control_, F_SETFL, fl);
}

void ExecSessions::start(const contract::ExecStartMsg& m) {
  if (sessions_.count(m.id)) return;  // the host never reuses an id: a confused or hostile host
  if (sessions_.size() >= kMaxSessions) {
    send(contract::ExecExitEvent{m.id, kHvrunErrorStatus, 0,
                                 "too many exec sessions at once (" + std::to_string(kMaxSessions) + ")"});
    return;
  }
  Session s;
  s.tty = m.spec.tty;
  Pipe in, out, err;
  container::Stdio io;
  try {
    if (!m.spec.tty) {
      if (m.stdin_open) in = Pipe::make();
      out = Pipe::make();
      err = Pipe::make();
      io = {m.stdin_open ? in.read.get() : -1, out.write.get(), err.write.get()};
    }
    container::ExecHandle h;
    if (!m.extract_to.empty()) {
      if (m.spec.tty || !m.stdin_open) throw Error("a copy into the microVM needs its archive as input, without a tty");
      h.pid = start_extract(init_pid_, spec_, m, in.read.get(), err.write.get());
    } else {
      h = container::exec_start(init_pid_, spec_, m.spec, io);
    }
    s.pid = h.pid;
    s.pidfd = open_pidfd(h.pid);
    if (!s.pidfd) {  // without it its end cannot be waited for without blocking
      const int err = errno;
      ::kill(h.pid, SIGKILL);
      (void)container::exec_wait(h.pid);
      throw Error(std::string("pidfd_open: ") + std::strerror(err));
    }
    if (m.spec.tty) {
      s.out = std::move(h.pty_master);
      set_nonblock(s.out.get());
      if (m.stdin_open) s.in.reset(::fcntl(s.out.get(), F_DUPFD_CLOEXEC, 3));
    } else {
      s.out = std::move(out.read);
      s.err = std::move(err.read);
      s.in = std::move(in.write);
    }
    if (s.in) set_nonblock(s.in.get());
  } catch (const ExitError& e) {
    send(contract::ExecExitEvent{m.id, e.exit_status(), 0, e.what()});
    return;
  } catch (const std::exception& e) {
    send(contract::ExecExitEvent{m.id, kHvrunErrorStatus, 0, e.what()});
    return;
  }
  HVRUN_DEBUG("guest-init", "exec session ", m.id, ": pid ", s.pid, ", ", m.spec.args[0]);
  sessions_.emplace(m.id, std::move(s));
}

void ExecSessions::write_input(unsigned id, Session& s) {
  while (s.in && !s.pending.empty()) {
    ssize_t w = ::write(s.in.get(), s.pending.data(), s.pending.size());
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && errno == EAGAIN) break;
    if (w < 0) {  // the process closed its stdin: what it would not read is dropped (and acknowledged)
      s.taken += s.pending.size();
      s.pending.clear();
      s.in.reset();
      break;
    }
    s.pending.erase(0, size_t(w));
    s.taken += uint64_t(w);
  }
  if (s.taken > 0) {
    send(contract::ExecReadEvent{id, s.taken});
    s.taken = 0;
  }
  if (s.eof_asked && s.pending.empty() && !s.tty) s.in.reset();
}

void ExecSessions::handle(const contract::HostMessage& m) {
  if (const auto* x = std::get_if<contract::ExecStartMsg>(&m)) return start(*x);
  auto id = contract::exec_session(m);
  if (!id) return;
  auto it = sessions_.find(*id);
  if (it == sessions_.end()) return;
  Session& s = it->second;
  if (const auto* x = std::get_if<contract::ExecInputMsg>(&m)) {
    if (!s.in) {  // nobody reads it: taken at once, so the host is not held up
      send(contract::ExecReadEvent{*id, x->data.size()});
      return;
    }
    if (s.pending.size() + x->data.size() > kMaxPendingInput) {
      HVRUN_WARN("guest-init", "exec session ", *id, ": the host sent more input than its window; input dropped");
      return;
    }
    s.pending += x->data;
    write_input(*id, s);
  } else if (std::holds_alternative<contract::ExecEofMsg>(m)) {
    s.eof_asked = true;
    write_input(*id, s);
  } else if (const auto* x = std::get_if<contract::ExecSignalMsg>(&m)) {
    if (!s.exited) ::kill(s.pid, x->signal);  // not reaped yet: the pid is still its own
  } else if (const auto* x = std::get_if<contract::ExecWinsizeMsg>(&m)) {
    if (s.tty && s.out) {
      winsize w{x->rows, x->cols, 0, 0};
      ::ioctl(s.out.get(), TIOCSWINSZ, &w);
    }
  }
}

void ExecSessions::poll_fds(std::vector<pollfd>& p) {
  polled_.clear();
  if (!queue_.empty()) {
    p.push_back({control_, POLLOUT, 0});
    polled_.push_back({0, Kind::Control});
  }
  const bool read_output = queue_.size() < kMaxQueue;
  for (auto& [id, s] : sessions_) {
    if (s.out && read_output) {
      p.push_back({s.out.get(), POLLIN, 0});
      polled_.push_back({id, Kind::Out});
    }
    if (s.err && read_output) {
      p.push_back({s.err.get(), POLLIN, 0});
      polled_.push_back({id, Kind::Err});
    }
    if (!s.exited && s.pidfd) {
      p.push_back({s.pidfd.get(), POLLIN, 0});
      polled_.push_back({id, Kind::Exited});
    }
    if (s.in && !s.pending.empty()) {
      p.push_back({s.in.get(), POLLOUT, 0});
      polled_.push_back({id, Kind::In});
    }
  }
}

bool ExecSessions::forward(unsigned id, int fd_number, UniqueFd& fd) {
  char buf[contract::kExecChunk];
  ssize_t n = ::read(fd.get(), buf, sizeof buf);
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return true;
  if (n <= 0) {  // EOF, or EIO: a tty whose last user has gone
    fd.reset();
    return false;
  }
  send(contract::ExecOutputEvent{id, fd_number, std::string(buf, size_t(n))});
  return true;
}

int ExecSessions::timeout_ms() const {
  int ms = -1;
  const auto now = std::chrono::steady_clock::now();
  for (const auto& [id, s] : sessions_) {
    if (!s.exited) continue;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(s.exited_at + kDrainAfterExit - now).count();
    const int m = left < 0 ? 0 : int(left) + 1;
    if (ms < 0 || m < ms) ms = m;
  }
  return ms;
}

bool ExecSessions::try_finish(unsigned id, Session& s) {
  if (!s.exited) return false;
  if ((s.out || s.err) && std::chrono::steady_clock::now() >= s.exited_at + kDrainAfterExit) {
    s.out.reset();  // held open by something it started: what came is sent, the rest is not waited for
    s.err.reset();
  }
  // A tty's master never reads EOF while someone else holds the terminal:
  // once the process is gone, take what is buffered and stop.
  if (s.tty && s.out) {
    for (int i = 0; i < 1024 && s.out; ++i) {
      pollfd p{s.out.get(), POLLIN, 0};
      if (::poll(&p, 1, 0) <= 0) break;
      forward(id, 1, s.out);
    }
    s.out.reset();
  }
  if (s.out || s.err) return false;  // pipes: until their EOF (after all output)
  container::ExitStatus st = container::exec_wait(s.pid);
  HVRUN_DEBUG("guest-init", "exec session ", id, " ended: status ", st.exit_code());
  send(contract::ExecExitEvent{id, st.exit_code(), st.signal, ""});
  return true;
}

void ExecSessions::dispatch(const std::vector<pollfd>& p, size_t first) {
  for (size_t i = 0; i < polled_.size() && first + i < p.size(); ++i) {
    if (!p[first + i].revents) continue;
    auto [id, kind] = polled_[i];
    if (kind == Kind::Control) continue;  // written below
    auto it = sessions_.find(id);
    if (it == sessions_.end()) continue;
    Session& s = it->second;
    switch (kind) {
      case Kind::Out: forward(id, 1, s.out); break;
      case Kind::Err: forward(id, 2, s.err); break;
      case Kind::Exited:
        s.exited = true;
        s.exited_at = std::chrono::steady_clock::now();
        break;
      case Kind::In: write_input(id, s); break;
      case Kind::Control: break;
    }
  }
  polled_.clear();
  for (auto it = sessions_.begin(); it != sessions_.end();)
    it = try_finish(it->first, it->second) ? sessions_.erase(it) : std::next(it);
  write_queue();
}

void ExecSessions::finish_all() {
  // The processes are dying with their pid namespace; give their output
  // up to 2 s to drain, then report each.
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (!sessions_.empty() && std::chrono::steady_clock::now() < until) {
    std::vector<pollfd> p;
    poll_fds(p);
    if (p.empty()) break;
    int rc = ::poll(p.data(), nfds_t(p.size()), 50);
    if (rc < 0 && errno != EINTR) break;
    if (rc >= 0) dispatch(p, 0);
  }
  for (auto& [id, s] : sessions_) {  // whatever still holds a pipe: killed, reported
    ::kill(s.pid, SIGKILL);
    container::ExitStatus st = container::exec_wait(s.pid);
    send(contract::ExecExitEvent{id, st.exit_code(), st.signal, ""});
  }
  sessions_.clear();
  (void)write_all(control_, queue_);  // blocking: the workload's exit event comes after these
  queue_.clear();
}

}  // namespace hvrun::guestinit
