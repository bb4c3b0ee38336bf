#include "vmm/tool/relay.hpp"

#include <fcntl.h>
#include <linux/sockios.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <variant>

#include "contract/control.hpp"
#include "util/error.hpp"
#include "util/fd.hpp"

namespace hvrun::vmm::tool {

namespace {

constexpr int kForwardedSignals[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGCONT};
int g_signal_pipe = -1;

extern "C" void forward_signal_handler(int sig) {
  int saved = errno;
  unsigned char b = static_cast<unsigned char>(sig);
  if (g_signal_pipe >= 0) (void)!::write(g_signal_pipe, &b, 1);
  errno = saved;
}


}  // namespace

void forwarded_signals(sigset_t* set) {
  sigemptyset(set);
  for (int sig : kForwardedSignals) sigaddset(set, sig);
}

int install_signal_forwarding() {
  int sp[2];
  check_sys(::pipe2(sp, O_CLOEXEC | O_NONBLOCK), "signal pipe");
  g_signal_pipe = sp[1];
  struct sigaction sa {};
  sa.sa_handler = forward_signal_handler;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  for (int sig : kForwardedSignals) ::sigaction(sig, &sa, nullptr);
  return sp[0];
}

namespace {

// Bytes waiting for one direction's peer, written as it takes them. The
// relay never blocks on either side: the guest's console device writes the
// guest's lines to hvc2 from the same thread that reads what goes in, so a
// relay blocked writing to hvc2 while that device waits for the relay to
// read would be stuck for good (exec moves megabytes both ways at once).
//
// Each queue's memory is taken once and never grows or shrinks: glibc
// trimming a thread's malloc arena opens /proc/sys/vm/overcommit_memory,
// a syscall the relay's seccomp filter forbids (the VMM would die by
// SIGSYS), so the relay does no large heap churn at all.
struct Outbox {
  static constexpr size_t kRoom = size_t(1) << 20;  // what may wait
  static constexpr size_t kSlack = size_t(128) << 10;  // a line or a read beyond it
  int fd;
  std::string q;
  explicit Outbox(int f) : fd(f) { q.reserve(kRoom + kSlack); }
  // Room for another read (or line) of up to `n` bytes.
  bool has_room(size_t n = 0) const { return q.size() + n <= kRoom; }
  void add(std::string_view s) {
    if (q.size() + s.size() <= q.capacity()) q.append(s);  // else dropped: the sender broke its limits
  }
  // Writes what the fd takes now; false when its reader is gone.
  bool flush() {
    size_t done = 0;
    while (done < q.size()) {
      // write(), not send(): the relay thread's seccomp filter allows no
      // more (vmm/seccomp_filters.cpp); its fds are non-blocking.
      ssize_t n = ::write(fd, q.data() + done, q.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EAGAIN) break;
      if (n <= 0) return false;
      done += size_t(n);
    }
    q.erase(0, done);
    return true;
  }
};

}  // namespace

void relay_loop(RelayFds f) {
  bool ready = f.guest_ready, input_open = f.input >= 0, eof_sent = false;
  const bool trace = std::getenv("HVRUN_VM_TRACE") != nullptr;
  for (int fd : {f.monitor, f.hvc2, f.gate})
    if (fd >= 0) ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  Outbox to_guest(f.hvc2), to_monitor(f.monitor), to_gate(f.gate);
  // The guest's console has gone: what it said last (its exit event) still
  // reaches the monitor, waiting for it now.
  auto last_words = [&] {
    ::fcntl(f.monitor, F_SETFL, ::fcntl(f.monitor, F_GETFL) & ~O_NONBLOCK);
    (void)write_all(f.monitor, to_monitor.q);
  };
  auto send_eof = [&] {
    if (f.tty || eof_sent) return;
    eof_sent = true;
    if (trace) std::fprintf(stderr, "[relay] host->guest: stdin_eof\n");
    to_guest.add(contract::encode(contract::StdinEofMsg{}));
  };
  contract::LineBuffer from_guest;  // until guest-init is ready
  std::string from_monitor;         // a line not yet complete (room reserved: see Outbox)
  char buf[16384];
  from_monitor.reserve(contract::LineBuffer::kMaxLine + sizeof buf + 1);
  if (trace) std::fprintf(stderr, "[relay] start monitor=%d hvc2=%d gate=%d input=%d\n", f.monitor, f.hvc2, f.gate, f.input);
  if (ready && !input_open) send_eof();  // a restored guest: no stdin at all, like /dev/null
  for (;;) {
    if (!to_guest.flush()) return last_words();  // the guest's console is gone
    (void)to_monitor.flush();  // the monitor gone: EOF on its socket ends the loop
    if (f.gate >= 0 && !to_gate.flush()) input_open = false;
    struct pollfd p[5] = {
        {f.monitor, short((to_guest.has_room() ? POLLIN : 0) | (to_monitor.q.empty() ? 0 : POLLOUT)), 0},
        {f.hvc2, short((to_monitor.has_room(sizeof buf) ? POLLIN : 0) | (to_guest.q.empty() ? 0 : POLLOUT)), 0},
        {ready && input_open && to_gate.q.empty() ? f.input : -1, POLLIN, 0},
        {f.signals, POLLIN, 0},
        {to_gate.q.empty() ? -1 : f.gate, POLLOUT, 0}};
    if (::poll(p, 5, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (trace) std::fprintf(stderr, "[relay] poll %x %x %x %x\n", p[0].revents, p[1].revents, p[2].revents, p[3].revents);
    if (p[3].revents) {
      unsigned char sigs[64];
      ssize_t n = ::read(f.signals, sigs, sizeof sigs);
      for (ssize_t i = 0; i < n; ++i) to_guest.add(contract::encode(contract::SignalMsg{int(sigs[i])}));
    }
    if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t n = ::read(f.monitor, buf, sizeof buf);
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) return;  // the monitor is gone; PDEATHSIG follows
      // Whole lines only: a signal message queued above must never land
      // inside one of the monitor's lines (exec input comes in long ones).
      if (n > 0) from_monitor.append(buf, size_t(n));
      const size_t end = from_monitor.rfind('\n');
      if (end != std::string::npos) {
        to_guest.add(std::string_view(from_monitor).substr(0, end + 1));
        from_monitor.erase(0, end + 1);
      } else if (from_monitor.size() > contract::LineBuffer::kMaxLine) {
        from_monitor.clear();  // the guest would drop the whole line anyway
      }
    }
    if (p[1].revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t n = ::read(f.hvc2, buf, sizeof buf);
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) return last_words();
      if (n > 0) {
        const std::string_view chunk(buf, size_t(n));
        if (trace) std::fprintf(stderr, "[relay] guest->host: %.*s", int(chunk.size()), chunk.data());
        to_monitor.add(chunk);
        if (!ready) {
          from_guest.append(chunk);
          while (auto line = from_guest.next()) {
            auto ev = contract::decode_guest_event(*line);
            if (!ev || !std::holds_alternative<contract::ReadyEvent>(*ev)) continue;
            ready = true;
            if (!input_open) send_eof();  // no stdin at all: like /dev/null
            break;
          }
        }
      }
    }
    if (p[2].revents) {
      ssize_t n = ::read(f.input, buf, sizeof buf);
      if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (n > 0) {
        to_gate.add({buf, size_t(n)});  // the input is read again once the gate took it
      } else {
        input_open = false;
        if (!f.tty) {
          for (int i = 0; i < 5000; ++i) {  // the VMM drains the gate as the guest reads
            int queued = 0;
            if (::ioctl(f.gate, SIOCOUTQ, &queued) < 0 || queued == 0) break;
            ::usleep(1000);
          }
          send_eof();
        }
      }
    }
  }
}

}  // namespace hvrun::vmm::tool
