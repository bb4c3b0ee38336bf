// The caller's terminal: raw mode for -t sessions (restored by the destructor
// on every exit path) and its window size.
#pragma once
#include <signal.h>
#include <termios.h>

#include <optional>

#include "engine/backend.hpp"
#include "util/fd.hpp"

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

// Blocks the signals a foreground session forwards (INT, TERM, HUP, QUIT)
// and the terminal's WINCH, and reads them from a signalfd; the old mask
// comes back on destruction.
class SignalGate {
 public:
  SignalGate();
  ~SignalGate();
  SignalGate(const SignalGate&) = delete;
  SignalGate& operator=(const SignalGate&) = delete;
  int fd() const { return fd_.get(); }

 private:
  sigset_t old_;
  UniqueFd fd_;
};

}  // namespace hvrun::engine
