#include "engine/relay.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <string>

#include "util/error.hpp"

namespace hvrun::engine {

using Clock = std::chrono::steady_clock;

void relay(Relay& r, int sigfd) {
  bool out_open = r.out >= 0, err_open = r.err >= 0, pty_open = r.pty >= 0;
  bool stdin_open = r.forward_stdin;
  bool exited = r.pidfd < 0;
  Clock::time_point drain_until = Clock::now() + std::chrono::seconds(2);
  std::string inbuf;
  char buf[65536];
  auto sink = [&]() -> int {
    if (r.pty >= 0) return pty_open ? r.pty : -1;
    return r.stdin_pipe && *r.stdin_pipe ? r.stdin_pipe->get() : -1;
  };
  auto output = [&](int fd, Stream s, bool& open) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n > 0) {
      if (r.log) {
        r.log->write(s, buf, static_cast<size_t>(n));
        // A terminal's output is not held for its newline: a prompt must
        // reach an attached client (hvrun serve's attach reads the log).
        if (fd == r.pty) r.log->flush();
      }
      if (r.echo && !write_all(s == Stream::Stdout ? 1 : 2, buf, static_cast<size_t>(n)) && errno == EPIPE) {
        // The caller's reader left (`hvrun run ... | head -1`): like a writer
        // in a pipeline, the workload ends instead of running on unseen.
        r.echo = false;
        if (!exited && r.on_signal) r.on_signal(SIGKILL);
      }
    } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
      open = false;  // EOF, or EIO from a pty whose slave side is gone
    }
  };
  for (;;) {
    if (exited && !out_open && !err_open && !pty_open) break;
    if (exited && Clock::now() >= drain_until) break;
    pollfd p[8];
    int n = 0, i_sig, i_pid = -1, i_out = -1, i_err = -1, i_pty = -1, i_in = -1, i_sink = -1, i_attach = -1;
    p[i_sig = n++] = {sigfd, POLLIN, 0};
    if (r.attach_listen >= 0 && !exited) p[i_attach = n++] = {r.attach_listen, POLLIN, 0};
    if (!exited) p[i_pid = n++] = {r.pidfd, POLLIN, 0};
    if (out_open) p[i_out = n++] = {r.out, POLLIN, 0};
    if (err_open) p[i_err = n++] = {r.err, POLLIN, 0};
    if (pty_open) p[i_pty = n++] = {r.pty, POLLIN, 0};
    int sk = sink();
    if (sk < 0) {
      inbuf.clear();
    } else if (!inbuf.empty()) {
      p[i_sink = n++] = {sk, POLLOUT, 0};
    } else if (stdin_open) {
      p[i_in = n++] = {0, POLLIN, 0};
    }
    int timeout = -1;
    if (exited) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(drain_until - Clock::now()).count();
      timeout = static_cast<int>(std::max<long>(0, left));
    }
    int rc = ::poll(p, static_cast<nfds_t>(n), timeout);
    if (rc < 0) {
      if (errno == EINTR) continue;
      throw_sys("poll");
    }
    if (p[i_sig].revents & POLLIN) {
      signalfd_siginfo si;
      while (::read(sigfd, &si, sizeof si) == static_cast<ssize_t>(sizeof si)) {
        int sig = static_cast<int>(si.ssi_signo);
        if (sig == SIGWINCH) {
          if (r.on_winch) r.on_winch();
        } else if (!exited && r.on_signal) {
          r.on_signal(sig);
        }
      }
    }
    if (i_pid >= 0 && p[i_pid].revents) {
      exited = true;
      drain_until = Clock::now() + std::chrono::seconds(2);
    }
    if (i_attach >= 0 && (p[i_attach].revents & POLLIN) && r.on_attach) r.on_attach();
    if (i_out >= 0 && p[i_out].revents) output(r.out, Stream::Stdout, out_open);
    if (i_err >= 0 && p[i_err].revents) output(r.err, Stream::Stderr, err_open);
    if (i_pty >= 0 && p[i_pty].revents) output(r.pty, Stream::Stdout, pty_open);
    if (i_in >= 0 && p[i_in].revents) {
      ssize_t k = ::read(0, buf, sizeof buf);
      if (k > 0) {
        inbuf.assign(buf, static_cast<size_t>(k));
      } else if (k == 0 || (errno != EAGAIN && errno != EINTR)) {
        stdin_open = false;
        if (r.pty < 0 && r.stdin_pipe) r.stdin_pipe->reset();  // the workload sees EOF
      }
    }
    if (i_sink >= 0 && p[i_sink].revents) {
      ssize_t k = ::write(sk, inbuf.data(), inbuf.size());
      if (k > 0) {
        inbuf.erase(0, static_cast<size_t>(k));
        if (inbuf.empty() && !stdin_open && r.pty < 0 && r.stdin_pipe) r.stdin_pipe->reset();
      } else if (k < 0 && errno != EAGAIN && errno != EINTR) {
        inbuf.clear();  // the workload closed its stdin
        stdin_open = false;
        if (r.pty < 0 && r.stdin_pipe) r.stdin_pipe->reset();
      }
    }
  }
}

}  // namespace hvrun::engine
