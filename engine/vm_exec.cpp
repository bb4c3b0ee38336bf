#include "engine/vm_exec.hpp"

#include <poll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <memory>

#include "contract/control.hpp"
#include "engine/terminal.hpp"
#include "engine/vm_control.hpp"
#include "util/error.hpp"
#include "util/fd.hpp"

namespace hvrun::engine {

namespace {

// Where a session's stdio goes: the caller's own (hvrun exec), or a copy's
// archive in and its errors collected (no signals, no terminal: it may run
// in a thread of hvrun serve).
struct SessionIo {
  int in = 0;
  std::string* err_text = nullptr;  // output to fd 2 collected here (and fd 1 dropped)
  bool own_terminal = true;         // forward INT/TERM/HUP/QUIT and window changes
};

int run_session(const std::string& control_socket, const std::string& short_id, contract::ExecStartMsg start,
                const SessionIo& io) {
  const container::ExecSpec& spec = start.spec;
  const bool interactive = start.stdin_open;
  UniqueFd sock = connect_control(control_socket);
  if (!sock) throw Error("container " + short_id + " is not running (its microVM's monitor does not answer)");
  std::unique_ptr<SignalGate> gate;
  if (io.own_terminal) gate = std::make_unique<SignalGate>();
  if (spec.tty)
    if (auto w = window_size(0)) {
      start.spec.tty_rows = w->rows;
      start.spec.tty_cols = w->cols;
    }
  if (std::string why = contract::exec_start_problem(start); !why.empty()) throw Error(why);
  // What goes to the monitor waits here and is written only as the socket
  // takes it: this process never blocks on the monitor while the monitor
  // may be writing the session's output to it (that would close a cycle
  // through the monitor, hvrun-vmm's relay and guest-init).
  std::string outq = contract::encode(start);
  auto send = [&](const contract::HostMessage& m) { outq += contract::encode(m); };
  auto flush = [&] {
    while (!outq.empty()) {
      ssize_t n = ::send(sock.get(), outq.data(), outq.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EAGAIN) return;
      if (n <= 0) throw_sys("send to the microVM's monitor", control_socket);
      outq.erase(0, size_t(n));
    }
  };
  flush();
  std::unique_ptr<RawMode> raw;
  if (spec.tty && interactive) raw = std::make_unique<RawMode>(0);

  bool stdin_open = interactive, echo = true;
  uint64_t in_flight = 0;  // input sent that the process has not taken yet
  contract::LineBuffer lines;
  std::string buf(64 * 1024, '\0');
  for (;;) {
    // Stdin is read only while the window has room: a process that reads
    // slowly slows this reader down, nothing is dropped.
    const bool want_input = stdin_open && in_flight + contract::kExecChunk <= contract::kExecStdinWindow &&
                            outq.size() < 4 * contract::kExecChunk;
    pollfd p[3] = {{gate ? gate->fd() : -1, POLLIN, 0},
                   {sock.get(), short(POLLIN | (outq.empty() ? 0 : POLLOUT)), 0},
                   {want_input ? io.in : -1, POLLIN, 0}};
    if (::poll(p, 3, -1) < 0) {
      if (errno == EINTR) continue;
      throw_sys("poll");
    }
    if (p[0].revents & POLLIN) {
      signalfd_siginfo si;
      while (::read(gate->fd(), &si, sizeof si) == static_cast<ssize_t>(sizeof si)) {
        const int sig = static_cast<int>(si.ssi_signo);
        if (sig != SIGWINCH) {
          send(contract::ExecSignalMsg{0, sig});
        } else if (spec.tty) {
          if (auto w = window_size(0)) send(contract::ExecWinsizeMsg{0, w->rows, w->cols});
        }
      }
    }
    if (p[2].revents) {
      ssize_t n = ::read(io.in, buf.data(), contract::kExecChunk);
      if (n > 0) {
        send(contract::ExecInputMsg{0, buf.substr(0, size_t(n))});
        in_flight += uint64_t(n);
      } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
        stdin_open = false;
        send(contract::ExecEofMsg{0});
      }
    }
    flush();
    if (p[1].revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t n = ::read(sock.get(), buf.data(), buf.size());
      if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (n <= 0)
        throw Error("container " + short_id +
                    ": lost the microVM's monitor before the exec'd process ended (the VM stopped, or this exec did "
                    "not read its output for 10 s)");
      lines.append({buf.data(), size_t(n)});
      while (auto line = lines.next()) {
        if (line->rfind("error: ", 0) == 0) throw Error(line->substr(7));
        std::string why;
        auto ev = contract::decode_guest_event(*line, &why);
        if (!ev) throw Error("unexpected answer from the microVM's monitor: " + why);
        if (auto* o = std::get_if<contract::ExecOutputEvent>(&*ev)) {
          if (io.err_text) {
            if (o->fd == 2 && io.err_text->size() < 64 * 1024) *io.err_text += o->data;
          } else if (echo && !write_all(o->fd, o->data) && errno == EPIPE) {
            // Our reader left (`hvrun exec ... | head -1`): the process ends
            // instead of running on unseen, as with a container.
            echo = false;
            send(contract::ExecSignalMsg{0, SIGKILL});
          }
        } else if (auto* r = std::get_if<contract::ExecReadEvent>(&*ev)) {
          in_flight -= std::min(in_flight, r->bytes);
        } else if (auto* x = std::get_if<contract::ExecExitEvent>(&*ev)) {
          raw.reset();
          if (!x->error.empty()) throw ExitError(x->error, x->code);
          return x->code;
        }
      }
    }
  }
}

}  // namespace

int exec_in_vm(const std::string& control_socket, const std::string& short_id, const container::ExecSpec& spec,
               bool interactive) {
  contract::ExecStartMsg start;
  start.spec = spec;
  start.stdin_open = interactive;
  return run_session(control_socket, short_id, start, SessionIo{});
}

void extract_in_vm(const std::string& control_socket, const std::string& short_id, const std::string& dir,
                   bool no_dir_swap, int in_fd) {
  contract::ExecStartMsg start;
  start.spec.args = {"hvrun-cp"};  // names the session in logs; nothing runs it
  start.stdin_open = true;
  start.extract_to = dir;
  start.extract_no_dir_swap = no_dir_swap;
  std::string err;
  SessionIo io;
  io.in = in_fd;
  io.err_text = &err;
  io.own_terminal = false;
  const int code = run_session(control_socket, short_id, start, io);
  while (!err.empty() && err.back() == '\n') err.pop_back();
  if (code != 0) throw Error(err.empty() ? "the copy into microVM " + short_id + " failed (status " + std::to_string(code) + ")" : err);
}

}  // namespace hvrun::engine
