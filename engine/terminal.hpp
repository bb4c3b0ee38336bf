// The caller's terminal: raw mode for -t sessions (restored by the destructor
// on every exit path) and its window size.
#pragma once
#include <termios.h>

#include <optional>

#include "engine/backend.hpp"

namespace hvrun::engine {

class RawMode {
 public:
  explicit RawMode(int fd);  // no-op when fd is not a terminal
  ~RawMode();
  RawMode(const RawMode&) = delete;
  RawMode& operator=(const RawMode&) = delete;

 private:
  int fd_ = -1;
  termios saved_{};
  bool active_ = false;
};

std::optional<WinSize> window_size(int fd);

}  // namespace hvrun::engine
