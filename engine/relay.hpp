// The monitor's and exec's byte pump: moves bytes between a workload (its
// stdout/stderr pipes or its pty, its stdin) and the caller (our stdio, the
// container's log) until the workload exits and its output is drained, and
// hands signals, window changes and attach connections to callbacks.
#pragma once
#include <functional>

#include "engine/logs.hpp"
#include "util/fd.hpp"

namespace hvrun::engine {

// Moves bytes between the workload and the caller until the workload exits
// (its pidfd turns readable) and its output is drained.
struct Relay {
  int out = -1;  // workload stdout pipe (read end)
  int err = -1;  // workload stderr pipe (read end)
  int pty = -1;  // pty master: output and input
  UniqueFd* stdin_pipe = nullptr;  // workload stdin pipe (write end), closed at our stdin's EOF
  bool forward_stdin = false;
  bool echo = false;  // copy output to our stdout/stderr
  int pidfd = -1;
  LogWriter* log = nullptr;
  std::function<void(int)> on_signal;
  std::function<void()> on_winch;
  int attach_listen = -1;  // a detached -i container's attach socket (accepts call on_attach)
  std::function<void()> on_attach;
};

void relay(Relay& r, int sigfd);

}  // namespace hvrun::engine
