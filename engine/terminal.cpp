#include "engine/terminal.hpp"

#include <sys/ioctl.h>
#include <unistd.h>

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

}  // namespace hvrun::engine
