#include "engine/vm_control.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>

#include "util/error.hpp"
#include "util/log.hpp"

namespace hvrun::engine {

namespace {

using Clock = std::chrono::steady_clock;

std::string seconds_text(std::chrono::milliseconds t) {
  auto ms = t.count();
  return ms % 1000 == 0 ? std::to_string(ms / 1000) + " s" : std::to_string(ms) + " ms";
}

// Sends all of `s` (MSG_NOSIGNAL: a peer gone is EPIPE, not a signal).
bool send_all(int fd, const std::string& s) {
  size_t done = 0;
  while (done < s.size()) {
    ssize_t n = ::send(fd, s.data() + done, s.size() - done, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += size_t(n);
  }
  return true;
}

// All of `s`, unless the peer goes or takes longer than `limit` over all.
bool send_within(int fd, const std::string& s, std::chrono::milliseconds limit) {
  const auto until = std::chrono::steady_clock::now() + limit;
  size_t done = 0;
  while (done < s.size()) {
    ssize_t n = ::send(fd, s.data() + done, s.size() - done, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      pollfd p{fd, POLLOUT, 0};
      if (::poll(&p, 1, int(left.count())) < 0 && errno != EINTR) return false;
      continue;
    }
    if (n <= 0) return false;
    done += size_t(n);
  }
  return true;
}

// A client that does not take a line for this long (a stopped terminal) is
// cut off, so that the guest's other output is not held up for long.
constexpr std::chrono::seconds kClientSendLimit{10};

// An AF_UNIX address for `path`. A path too long for sun_path (a deep
// --root) is reached through its directory: /proc/self/fd/N/NAME, with N
// an O_PATH descriptor held in `dir` for as long as the address is used.
sockaddr_un unix_address(const std::string& path, UniqueFd& dir) {
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::string p = path;
  if (p.size() >= sizeof a.sun_path) {
    const size_t slash = path.rfind('/');
    const std::string parent = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
    dir.reset(::open(parent.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!dir) throw_sys("open", parent);
    p = "/proc/self/fd/" + std::to_string(dir.get()) + "/" + path.substr(slash + 1);
    if (p.size() >= sizeof a.sun_path) throw Error("socket name too long: " + path);
  }
  std::memcpy(a.sun_path, p.c_str(), p.size() + 1);
  return a;
}

}  // namespace

std::string vm_control_socket(const std::string& container_dir) { return container_dir + "/control.sock"; }

// ---- GuestChannel ----

GuestChannel::GuestChannel(UniqueFd fd) : fd_(std::move(fd)), stop_(Pipe::make()) {
  thread_ = std::thread([this] { reader(); });
}

GuestChannel::~GuestChannel() {
  if (thread_.joinable()) {
    (void)write_all(stop_.write.get(), "x", 1);
    thread_.join();
  }
}

bool GuestChannel::send(const contract::HostMessage& m) {
  std::lock_guard<std::mutex> lk(write_mu_);
  return send_all(fd_.get(), contract::encode(m));
}

void GuestChannel::set_exec_sink(std::function<void(const contract::GuestEvent&)> sink) {
  std::lock_guard<std::mutex> lk(sink_mu_);
  exec_sink_ = std::move(sink);
}

void GuestChannel::take(const char* p, size_t n) {
  lines_.append({p, n});
  while (auto line = lines_.next()) {
    auto ev = contract::decode_guest_event(*line);
    const auto* f = ev ? std::get_if<contract::FrozenEvent>(&*ev) : nullptr;
    if (ev && contract::exec_session(*ev)) {
      exec_events_.push_back(std::move(*ev));
    } else if (!f) {
      if (ev && std::holds_alternative<contract::ReadyEvent>(*ev)) ready_ = true;
      other_ += *line + "\n";
    } else if (stale_ > 0) {
      --stale_;  // the late answer to a request given up on
    } else {
      answers_.push_back(*f);
    }
  }
}

bool GuestChannel::ready() {
  std::lock_guard<std::mutex> lk(mu_);
  return ready_;
}

bool GuestChannel::closed() {
  std::lock_guard<std::mutex> lk(mu_);
  return closed_;
}

void GuestChannel::mark_ready() {
  std::lock_guard<std::mutex> lk(mu_);
  ready_ = true;
}

void GuestChannel::reader() {
  char buf[4096];
  for (;;) {
    pollfd p[2] = {{fd_.get(), POLLIN, 0}, {stop_.read.get(), POLLIN, 0}};
    if (::poll(p, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (p[1].revents) return;  // finish(): it reads the rest itself
    if (!p[0].revents) continue;
    ssize_t n = ::read(fd_.get(), buf, sizeof buf);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n <= 0) break;
    std::vector<contract::GuestEvent> exec_events;
    {
      std::lock_guard<std::mutex> lk(mu_);
      take(buf, size_t(n));
      exec_events.swap(exec_events_);
      cv_.notify_all();
    }
    if (!exec_events.empty()) {
      std::lock_guard<std::mutex> lk(sink_mu_);
      if (exec_sink_)
        for (const auto& e : exec_events) exec_sink_(e);
    }
  }
  std::lock_guard<std::mutex> lk(mu_);
  closed_ = true;
  cv_.notify_all();
}

contract::FrozenEvent GuestChannel::request_freeze(bool freeze, std::chrono::milliseconds timeout) {
  std::lock_guard<std::mutex> one(request_mu_);
  const char* what = freeze ? "freeze" : "thaw";
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (closed_) return {false, std::string("cannot ") + what + ": the VM has stopped"};
  }
  if (!send(contract::FreezeMsg{freeze})) {
    const int err = errno;
    return {false, std::string("cannot ") + what + ": the VM's control channel is closed (" + std::strerror(err) + ")"};
  }
  std::unique_lock<std::mutex> lk(mu_);
  cv_.wait_for(lk, timeout, [&] { return !answers_.empty() || closed_; });
  if (!answers_.empty()) {
    contract::FrozenEvent ev = answers_.front();
    answers_.pop_front();
    return ev;
  }
  if (closed_) return {false, std::string("the VM stopped before it answered the ") + what + " request"};
  ++stale_;
  return {false, std::string("the guest did not answer the ") + what + " request within " + seconds_text(timeout) +
                     " (its guest-init may predate this hvrun)"};
}

std::string GuestChannel::finish() {
  if (thread_.joinable()) {
    (void)write_all(stop_.write.get(), "x", 1);
    thread_.join();
  }
  std::unique_lock<std::mutex> lk(mu_);
  char buf[4096];
  for (;;) {
    pollfd p{fd_.get(), POLLIN, 0};
    if (::poll(&p, 1, 0) <= 0) break;
    ssize_t n = ::read(fd_.get(), buf, sizeof buf);
    if (n <= 0) break;
    take(buf, size_t(n));
  }
  closed_ = true;
  cv_.notify_all();
  std::vector<contract::GuestEvent> exec_events;
  exec_events.swap(exec_events_);
  std::string rest = std::move(other_);
  lk.unlock();
  // The last exec_exit events guest-init sent as the workload ended.
  std::lock_guard<std::mutex> sl(sink_mu_);
  if (exec_sink_)
    for (const auto& e : exec_events) exec_sink_(e);
  return rest;
}

// ---- FreezeServer ----

FreezeServer::FreezeServer(std::string path, GuestChannel& guest, std::chrono::milliseconds guest_timeout,
                           SnapshotHook snapshot)
    : path_(std::move(path)), guest_(guest), timeout_(guest_timeout), snapshot_(std::move(snapshot)), stop_(Pipe::make()) {
  UniqueFd dir;
  sockaddr_un a = unix_address(path_, dir);
  listen_.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!listen_) throw_sys("socket for", path_);
  if (::unlink(path_.c_str()) < 0 && errno != ENOENT) throw_sys("remove the old", path_);
  if (::bind(listen_.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) < 0) throw_sys("bind", path_);
  // Only root (the store's owner) may freeze a VM.
  if (::chmod(path_.c_str(), 0600) < 0 || ::listen(listen_.get(), 8) < 0) {
    int err = errno;
    ::unlink(path_.c_str());
    throw_sys("listen on", path_, err);
  }
  guest_.set_exec_sink([this](const contract::GuestEvent& e) { on_exec_event(e); });
  thread_ = std::thread([this] { serve(); });
}

FreezeServer::~FreezeServer() {
  guest_.set_exec_sink(nullptr);
  if (thread_.joinable()) {
    (void)write_all(stop_.write.get(), "x", 1);
    thread_.join();
  }
  ::unlink(path_.c_str());
}

void FreezeServer::on_exec_event(const contract::GuestEvent& e) {
  const unsigned id = *contract::exec_session(e);
  std::shared_ptr<Writer> w;
  {
    std::lock_guard<std::mutex> lk(sessions_mu_);
    auto it = sessions_.find(id);
    if (it == sessions_.end()) return;  // its client left, or a session the guest made up: dropped
    w = it->second;
    if (std::holds_alternative<contract::ExecExitEvent>(e)) sessions_.erase(it);
  }
  if (!w->send(contract::encode(e))) {
    std::lock_guard<std::mutex> lk(sessions_mu_);
    sessions_.erase(id);
  }
}

bool FreezeServer::Writer::send(const std::string& line) {
  std::lock_guard<std::mutex> lk(mu);
  if (broken) return false;
  if (send_within(fd.get(), line, kClientSendLimit)) return true;
  // Gone, or stalled (perhaps mid-line): it gets nothing more, and EOF.
  broken = true;
  ::shutdown(fd.get(), SHUT_RDWR);
  return false;
}

void FreezeServer::end_session(Client& c) {
  if (!c.session) return;
  {
    std::lock_guard<std::mutex> lk(sessions_mu_);
    sessions_.erase(c.session);
  }
  // Its input ends; a terminal's user has gone (SIGHUP, as a pty's hangup
  // does). For a session already over, the guest ignores both.
  (void)guest_.send(contract::ExecEofMsg{c.session});
  if (c.tty) (void)guest_.send(contract::ExecSignalMsg{c.session, SIGHUP});
  c.session = 0;
}

std::string FreezeServer::handle_exec(Client& c, const std::string& line) {
  std::string why;
  auto msg = contract::decode_host_message(line, &why);
  if (!msg) return "error: " + why;
  if (!contract::exec_session(*msg)) return "error: only exec messages may be sent here";
  if (std::holds_alternative<contract::ExecStartMsg>(*msg)) {
    if (c.session || c.had_session) return "error: this connection already ran an exec session";
    if (std::string why = contract::exec_start_problem(std::get<contract::ExecStartMsg>(*msg)); !why.empty())
      return "error: " + why;
    if (++next_session_ == 0) ++next_session_;  // 0 is "none"
    c.session = next_session_;
    c.had_session = true;
    c.tty = std::get<contract::ExecStartMsg>(*msg).spec.tty;
    {
      std::lock_guard<std::mutex> lk(sessions_mu_);
      sessions_[c.session] = c.writer;
    }
    contract::set_exec_session(*msg, c.session);
    HVRUN_DEBUG("engine", "exec session ", c.session, ": ", std::get<contract::ExecStartMsg>(*msg).spec.args[0]);
  } else {
    if (!c.session) return "error: no exec session on this connection";
    contract::set_exec_session(*msg, c.session);
  }
  if (!guest_.send(*msg)) {
    end_session(c);
    return std::string("error: the VM's control channel is closed (") + std::strerror(errno) + ")";
  }
  return "";
}

std::string FreezeServer::release(Client& c) {
  if (!c.holds) return "";
  c.holds = false;
  if (--holders_ > 0) return "";  // another client still needs it frozen
  auto ev = guest_.request_freeze(false, timeout_);
  if (!ev.error.empty()) return ev.error;
  if (ev.frozen) return "the guest's file system is still frozen";
  return "";
}

std::string FreezeServer::handle(Client& c, const std::string& request) {
  if (!request.empty() && request[0] == '{') return handle_exec(c, request);
  if (request == "freeze") {
    if (c.holds) return "frozen";
    if (holders_ > 0) {
      c.holds = true;
      ++holders_;
      return "frozen";
    }
    auto ev = guest_.request_freeze(true, timeout_);
    if (ev.error.empty() && ev.frozen) {
      c.holds = true;
      ++holders_;
      HVRUN_DEBUG("engine", "guest file system frozen (for a client of ", path_, ")");
      return "frozen";
    }
    // Whatever state the guest is left in by a failed or unanswered
    // request, ask for a thaw (a no-op on a thawed file system).
    (void)guest_.request_freeze(false, std::min(timeout_, std::chrono::milliseconds(5000)));
    return "error: " + (ev.error.empty() ? std::string("the guest did not freeze its file system") : ev.error);
  }
  if (request == "thaw") {
    std::string why;
    if (c.holds) {
      why = release(c);
    } else if (holders_ == 0) {
      auto ev = guest_.request_freeze(false, timeout_);
      why = ev.error;
    }
    if (!why.empty()) return "error: " + why;
    HVRUN_DEBUG("engine", "guest file system thawed (", holders_, " holder(s) left)");
    return "thawed";
  }
  for (const std::string verb : {"snapshot ", "snapshot-leave-running "}) {
    if (request.rfind(verb, 0) != 0) continue;
    if (!snapshot_) return "error: this VM's monitor takes no snapshots";
    const std::string dir = request.substr(verb.size());
    if (dir.empty() || dir[0] != '/') return "error: snapshot needs an absolute directory";
    if (holders_ > 0) return "error: the VM's file system is frozen by another client (a commit or export of it)";
    return snapshot_(dir, verb != "snapshot ");
  }
  std::string shown = request.substr(0, 64);
  return "error: unknown request '" + shown + "' (freeze, thaw, snapshot DIR or snapshot-leave-running DIR)";
}

void FreezeServer::serve() {
  constexpr size_t kMaxClients = 16;
  char buf[32768];  // exec input: lines of base64
  for (;;) {
    std::vector<pollfd> p;
    p.push_back({stop_.read.get(), POLLIN, 0});
    p.push_back({listen_.get(), POLLIN, 0});
    bool pending = false;
    for (auto& c : clients_) {
      p.push_back({c->fd.get(), short(c->pending_start ? 0 : POLLIN), 0});
      pending |= c->pending_start.has_value();
    }
    // An exec waiting for the guest to get ready: looked at every 50 ms.
    if (::poll(p.data(), nfds_t(p.size()), pending ? 50 : -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (p[0].revents) break;
    if (p[1].revents) {
      UniqueFd fd(::accept4(listen_.get(), nullptr, nullptr, SOCK_CLOEXEC));
      if (fd && clients_.size() < kMaxClients) {
        auto c = std::make_unique<Client>();
        c->writer = std::make_shared<Writer>();
        c->writer->fd.reset(::fcntl(fd.get(), F_DUPFD_CLOEXEC, 3));
        c->fd = std::move(fd);
        if (c->writer->fd) clients_.push_back(std::move(c));
      } else if (fd) {
        (void)send_all(fd.get(), "error: too many clients\n");
      }
    }
    // Clients in the order polled; one that leaves is dropped after the loop.
    for (size_t i = 0; i + 2 < p.size(); ++i) {
      Client& c = *clients_[i];
      if (c.pending_start) {  // not read until its start is sent; gone: nothing starts for it
        if (p[i + 2].revents & (POLLHUP | POLLERR)) {
          c.pending_start.reset();
          (void)release(c);
          c.fd.reset();
        } else if (settle_pending(c)) {
          take_lines(c);
        }
        continue;
      }
      if (!p[i + 2].revents) continue;
      ssize_t n = ::read(c.fd.get(), buf, sizeof buf);
      if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (n <= 0) {
        if (std::string why = release(c); !why.empty())
          HVRUN_WARN("engine", "thaw after a client of ", path_, " left: ", why);
        end_session(c);
        c.fd.reset();
        continue;
      }
      c.lines.append({buf, size_t(n)});
      take_lines(c);
    }
    std::erase_if(clients_, [](const std::unique_ptr<Client>& c) { return !c->fd; });
  }
  // Stopping (the VM ended, or the monitor is unwinding): nothing stays frozen.
  for (auto& c : clients_) (void)release(*c);
  {
    std::lock_guard<std::mutex> lk(sessions_mu_);
    sessions_.clear();
  }
  clients_.clear();
}

void FreezeServer::take_lines(Client& c) {
  while (auto line = c.lines.next()) {
    if (!line->empty() && line->back() == '\r') line->pop_back();
    // A VM still booting: a session starts once its guest-init reads the
    // control channel (sent earlier, the line would meet a cooked
    // console). Meanwhile the others are served.
    if (!line->empty() && (*line)[0] == '{' && !guest_.ready()) {
      auto msg = contract::decode_host_message(*line);
      if (msg && std::holds_alternative<contract::ExecStartMsg>(*msg)) {
        c.pending_start = *line;
        c.pending_since = std::chrono::steady_clock::now();
        if (!settle_pending(c)) return;
        continue;
      }
    }
    std::string answer = handle(c, *line);
    if (answer.empty()) continue;  // exec messages are answered by events
    // Through the writer: never inside an event the reader thread writes.
    if (!c.writer->send(answer + "\n")) return;  // it left: EOF comes next
  }
}

bool FreezeServer::settle_pending(Client& c) {
  std::string answer;
  if (guest_.ready()) {
    answer = handle(c, *c.pending_start);
  } else if (guest_.closed()) {
    answer = "error: the VM ended before its guest got ready";
  } else if (std::chrono::steady_clock::now() - c.pending_since > kExecReadyWait) {
    answer = "error: the VM's guest did not get ready in " +
             std::to_string(std::chrono::duration_cast<std::chrono::seconds>(kExecReadyWait).count()) + " s";
  } else {
    return false;
  }
  c.pending_start.reset();
  if (!answer.empty()) (void)c.writer->send(answer + "\n");
  return true;
}

// ---- VmFreeze ----

UniqueFd connect_control(const std::string& path) {
  UniqueFd dir;
  sockaddr_un a = unix_address(path, dir);
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) throw_sys("socket");
  while (::connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) < 0) {
    if (errno == EINTR) continue;
    if (errno == ENOENT || errno == ECONNREFUSED) return UniqueFd();
    throw_sys("connect to", path);
  }
  return fd;
}

std::unique_ptr<VmFreeze> VmFreeze::connect(const std::string& path) {
  UniqueFd fd = connect_control(path);
  if (!fd) return nullptr;
  return std::unique_ptr<VmFreeze>(new VmFreeze(std::move(fd)));
}

std::string VmFreeze::ask(const std::string& request, std::chrono::milliseconds timeout) {
  return ask_control(fd_.get(), lines_, request, timeout);
}

std::string ask_control(int fd, contract::LineBuffer& lines, const std::string& request, std::chrono::milliseconds timeout) {
  if (!send_all(fd, request + "\n")) throw_sys("send '" + request + "' to the VM's monitor");
  const auto until = Clock::now() + timeout;
  char buf[512];
  for (;;) {
    if (auto line = lines.next()) return *line;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now()).count();
    if (left <= 0)
      throw Error("the VM's monitor did not answer '" + request + "' within " + seconds_text(timeout));
    pollfd p{fd, POLLIN, 0};
    int rc = ::poll(&p, 1, int(left));
    if (rc < 0 && errno == EINTR) continue;
    if (rc < 0) throw_sys("poll");
    if (rc == 0) continue;
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw_sys("read the answer of the VM's monitor");
    if (n == 0) throw Error("the VM's monitor ended before it answered '" + request + "' (the VM stopped)");
    lines.append({buf, size_t(n)});
  }
}

void VmFreeze::freeze(std::chrono::milliseconds timeout) {
  std::string answer = ask("freeze", timeout);
  if (answer == "frozen") return;
  if (answer.rfind("error: ", 0) == 0) throw Error(answer.substr(7));
  throw Error("unexpected answer from the VM's monitor: '" + answer.substr(0, 64) + "'");
}

std::string VmFreeze::thaw(std::chrono::milliseconds timeout) {
  try {
    std::string answer = ask("thaw", timeout);
    if (answer == "thawed") return "";
    if (answer.rfind("error: ", 0) == 0) return answer.substr(7);
    return "unexpected answer from the VM's monitor: '" + answer.substr(0, 64) + "'";
  } catch (const std::exception& e) {
    return e.what();
  }
}

}  // namespace hvrun::engine
