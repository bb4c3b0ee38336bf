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

void relay_loop(RelayFds f) {
  bool ready = false, input_open = f.input >= 0, eof_sent = false;
  const bool trace = std::getenv("HVRUN_VM_TRACE") != nullptr;
  auto send_eof = [&] {
    if (f.tty || eof_sent) return;
    eof_sent = true;
    if (trace) std::fprintf(stderr, "[relay] host->guest: stdin_eof\n");
    (void)write_all(f.hvc2, contract::encode(contract::StdinEofMsg{}));
  };
  contract::LineBuffer from_guest;  // until guest-init is ready
  std::string from_monitor;         // a line not yet complete
  char buf[16384];
  if (trace) std::fprintf(stderr, "[relay] start monitor=%d hvc2=%d gate=%d input=%d\n", f.monitor, f.hvc2, f.gate, f.input);
  for (;;) {
    struct pollfd p[4] = {{f.monitor, POLLIN, 0},
                          {f.hvc2, POLLIN, 0},
                          {ready && input_open ? f.input : -1, POLLIN, 0},
                          {f.signals, POLLIN, 0}};
    if (::poll(p, 4, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (trace) std::fprintf(stderr, "[relay] poll %x %x %x %x\n", p[0].revents, p[1].revents, p[2].revents, p[3].revents);
    if (p[3].revents) {
      unsigned char sigs[64];
      ssize_t n = ::read(f.signals, sigs, sizeof sigs);
      for (ssize_t i = 0; i < n; ++i) (void)write_all(f.hvc2, contract::encode(contract::SignalMsg{int(sigs[i])}));
    }
    if (p[0].revents) {
      ssize_t n = ::read(f.monitor, buf, sizeof buf);
      if (n <= 0) return;  // the monitor is gone; PDEATHSIG follows
      // Whole lines only: a signal message written above must never land
      // inside one of the monitor's lines (exec input comes in long ones).
      from_monitor.append(buf, size_t(n));
      const size_t end = from_monitor.rfind('\n');
      if (end != std::string::npos) {
        (void)write_all(f.hvc2, std::string_view(from_monitor).substr(0, end + 1));
        from_monitor.erase(0, end + 1);
      } else if (from_monitor.size() > contract::LineBuffer::kMaxLine) {
        from_monitor.clear();  // the guest would drop the whole line anyway
      }
    }
    if (p[1].revents) {
      ssize_t n = ::read(f.hvc2, buf, sizeof buf);
      if (n <= 0) return;
      std::string chunk(buf, size_t(n));
      if (trace) std::fprintf(stderr, "[relay] guest->host: %s", chunk.c_str());
      (void)write_all(f.monitor, chunk);
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
    if (p[2].revents) {
      ssize_t n = ::read(f.input, buf, sizeof buf);
      if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (n > 0) {
        (void)write_all(f.gate, std::string(buf, size_t(n)));
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
