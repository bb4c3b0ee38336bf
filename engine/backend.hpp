// How a workload runs: the container backend (container/ on the host kernel)
// now; the VM backend (vmm/ + guest-init) plugs in beside it.
#pragma once
#include <sys/types.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "container/runtime.hpp"
#include "container/spec.hpp"
#include "engine/mode.hpp"
#include "util/fd.hpp"

namespace hvrun::engine {

struct WinSize {
  unsigned short rows = 0;
  unsigned short cols = 0;
};

class Backend {
 public:
  virtual ~Backend() = default;
  // Starts the workload. For a tty spec the pty master is then available from
  // pty_master() and `winsize` (when given) is applied before returning.
  virtual void start(const container::RunSpec& spec, const container::Stdio& stdio,
                     std::optional<WinSize> winsize) = 0;
  virtual pid_t pid() const = 0;  // host pid of the workload's init (the VMM for a VM)
  virtual int pty_master() const = 0;  // -1 unless tty; owned by the backend
  virtual container::ExitStatus wait() = 0;
  virtual void kill(int sig) = 0;
  virtual void resize(WinSize ws) = 0;
  // After wait(): why the workload ended other than by its own exit (the
  // VMM killed by its seccomp filter, a VM ended without the guest's word,
  // an error inside the guest), for State.Error as Docker keeps it; "" when
  // there is nothing to say.
  virtual std::string end_error() const { return {}; }
};

// Mode::Container only: a VM's backend is made by make_vm_backend
// (vm_backend.hpp), which needs its assets.
// `on_namespaces`: see container::Container::start (the network wiring).
std::unique_ptr<Backend> make_backend(Mode mode, std::function<void(pid_t)> on_namespaces = {});

}  // namespace hvrun::engine
