#include "engine/terminal.hpp"

#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "util/error.hpp"

namespace hvrun::engine {

RawMode::RawMode(int fd) : fd_(fd) {
  if (!::isatty(fd) || ::tcgetattr(fd, &saved_) < 0) return;
  termios raw = saved_;
  ::cfmakeraw(&raw);
  if (::tcsetattr(fd, TCSADRAIN, &raw) == 0) active_ = true;
}

RawMode::~RawMode() {
  if (active_) ::tcsetattr(fd_, TCSADRAIN, &saved_);
}

std::optional<WinSize> window_size(int fd) {
  winsize ws{};
  if (::ioctl(fd, TIOCGWINSZ, &ws) < 0 || ws.ws_row == 0) return std::nullopt;
  return WinSize{ws.ws_row, ws.ws_col};
}

SignalGate::SignalGate() {
  sigset_t set;
  sigemptyset(&set);
  for (int s : {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGWINCH}) sigaddset(&set, s);
  ::sigprocmask(SIG_BLOCK, &set, &old_);
  fd_.reset(::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK));
  if (!fd_) throw_sys("signalfd");
}

SignalGate::~SignalGate() {
  signalfd_siginfo si;
  while (::read(fd_.get(), &si, sizeof si) == static_cast<ssize_t>(sizeof si)) {
  }
  ::sigprocmask(SIG_SETMASK, &old_, nullptr);
}

}  // namespace hvrun::engine
