// hvrun exec into a running microVM, the client's side: the request goes
// to the VM's monitor (engine/vm_control.hpp, its control socket), which
// hands it to guest-init (guest-init/exec.hpp); the process runs in the
// workload's container inside the guest. Stdin, output, signals and the
// terminal's size travel as exec messages (contract/control.hpp).
#pragma once
#include <string>

#include "container/runtime.hpp"

namespace hvrun::engine {

// Runs `spec` in the microVM whose monitor listens on `control_socket`,
// relays the caller's stdio (stdin only when `interactive`; a pty and raw
// mode with spec.tty), forwards INT/TERM/HUP/QUIT and window changes, and
// returns the process's exit status. Throws Error when the VM is not
// running or the exec fails (ExitError 126/127 when the command is not
// executable or not found, as Docker).
int exec_in_vm(const std::string& control_socket, const std::string& short_id, const container::ExecSpec& spec,
               bool interactive);

// docker cp into the running microVM: the plain tar read from in_fd to its
// end is unpacked by guest-init into `dir` of the container's file system
// (resolved inside its root, owned by its root; contract/control.hpp
// ExecStartMsg::extract_to). Throws Error with guest-init's one line
// ("no such directory: DIR", "invalid destination ...", the archive's).
void extract_in_vm(const std::string& control_socket, const std::string& short_id, const std::string& dir,
                   bool no_dir_swap, int in_fd);

}  // namespace hvrun::engine
