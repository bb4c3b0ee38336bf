// The relay of an engine-launched VMM (hvrun --vm): a thread beside the
// VMM's own that passes control lines (contract/control.hpp) both ways
// between the monitor and the guest's hvc2, lets input through to hvc0 only
// once guest-init sent its ready event (before that the guest's console
// could echo it), and at the end of non-tty input waits until the VMM has
// taken every byte, then sends the stdin-EOF message.
//
// Signals sent to the VMM process (`hvrun kill -s TERM`, `hvrun stop`) are
// meant for the workload, as they are for a container's init: they travel
// into the guest as signal messages on hvc2. SIGKILL still ends the VMM.
#pragma once
#include <signal.h>

namespace hvrun::vmm::tool {

// SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGCONT.
void forwarded_signals(sigset_t* set);

// Installs the handlers that queue the forwarded signals for the relay
// (a self-pipe) and returns the pipe's read end. Call once, before unblocking them.
int install_signal_forwarding();

struct RelayFds {
  int signals;  // read end of the signal self-pipe (-1: none)
  int monitor;  // to/from the monitor
  int hvc2;     // to/from the guest's control console
  int gate;     // into the guest's hvc0
  int input;    // stdin, or the host side of the tty; -1: none
  bool tty;
  bool guest_ready = false;  // guest-init was ready before (a restored VM): no wait for its ready event
};

// Returns when the monitor or hvc2 reaches end of file. Its peers may go at
// any time: SIGPIPE must be ignored (hvrun-vmm's main does).
void relay_loop(RelayFds f);

}  // namespace hvrun::vmm::tool
