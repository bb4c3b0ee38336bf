// hvrun-oci's VM mode: a bundle whose config.json has the annotation
// io.hvrun.isolation: vm (or any bundle run through the name hvrun-oci-vm)
// runs inside a microVM through the engine's VM backend, as Kata does, with
// the same container stack inside the guest.
//
//   create  formats DIR/rootfs.ext4 from the bundle's root (mkfs.ext4 -d:
//           the guest's image disk; its writes go to the VM's own writable
//           disk, not back to the bundle) and forks the container's shim:
//           the process whose pid the state reports. It waits at the exec
//           FIFO as runc's init does.
//   start   opens the FIFO; the shim boots the VM, whose guest-init runs
//           the process (the VM boots at start, not at create).
//   kill    signals go to the shim, which passes each to the guest's
//           process (SIGKILL ends the shim, and with it the VMM).
//   state   the shim's pid; "stopped" once it is gone. Its exit status is
//           the guest process's (it dies by the same signal).
//   exec    runs in the guest through the VM's control socket in DIR.
//   process.terminal (and exec --tty): a host pty's master goes to the
//           console socket; the shim (the exec's relay) carries its slave
//           to and from the guest's terminal.
//   pause   freezes the VMM's cgroup, which is the container's
//           (linux.cgroupsPath): the whole VM stops.
//   delete  removes DIR (disks, sockets) and that cgroup.
// Bind mounts become 9p shares. A network namespace given by path (podman's,
// a CNI plugin's) gives the guest its interface (oci/vm_net.hpp); with a
// new one the guest has loopback only.
#pragma once
#include <sys/types.h>

#include <string>

#include "container/spec.hpp"
#include "oci/config.hpp"
#include "oci/runtime.hpp"
#include "oci/state.hpp"

namespace hvrun::oci {

// The name that runs every bundle in a microVM (argv[0]'s last component).
inline constexpr const char* kVmToolName = "hvrun-oci-vm";

// The spec the guest runs for a bundle's `spec`: its root comes from the
// image disk, the host's network becomes the guest's own (loopback), no
// host namespace is joined (join.net stays for create_vm to take over).
container::RunSpec vm_guest_spec(const container::RunSpec& spec, const std::function<void(const std::string&)>& warn);

// create for a microVM: formats the disk, forks the shim and records it
// (r: the record so far, without pid). `detached`: the shim outlives this
// process (create); else it dies with it (run). With process.terminal the
// master of a new pty goes to `console` (a connected console socket) and
// the shim relays its slave to and from the guest's terminal. Returns the
// shim's pid.
// A network namespace joined by path (podman's, a pod's) gives the VM its
// interface (oci/vm_net.hpp); `warn` hears what is left out. `error`
// (may be empty) hears, in the shim, why the VM ended without the guest
// process's exit status.
pid_t create_vm(const StateDir& dir, Record r, const std::string& rootfs, bool detached, int console,
                const std::function<void(const std::string&)>& warn,
                const std::function<void(const std::string&)>& error);

// Gives the interface of the network namespace the VM of `r` took over
// back (oci/vm_net.hpp): delete, and a create that failed after it.
// Failures are a warning on stderr.
void release_vm_network(const Record& r) noexcept;

// exec into the running microVM of record `r`: its exit status as a shell
// would give it; with o.detach a child of this process relays it and its
// pid goes to o.pid_file (the caller's subreaper reaps it). With a
// terminal, a host pty's master goes to `console` (a connected console
// socket) and the relay's session is on its slave.
int exec_vm(const StateDir& dir, const Record& r, const ExecOptions& o, int console);

}  // namespace hvrun::oci
