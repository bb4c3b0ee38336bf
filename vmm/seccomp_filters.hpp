// hvrun-vmm's seccomp filters, one allow-list per thread role (vm.hpp's
// ThreadRole), as Firecracker has per-thread filters. The default action
// kills the whole process (SCMP_ACT_KILL_PROCESS, SIGSYS): a VMM thread
// that makes a syscall outside its list is a VMM under attack or a bug, and
// neither may go on serving a guest. HVRUN_VMM_SECCOMP_DEBUG=1 (for
// debugging a filter) traps instead and prints the syscall's number before
// the VMM exits with status 159.
//
// What each role may do (common: memory, futexes, reading and writing fds it
// already holds, poll, time, its own signals and threads):
//   vcpu   ioctl only KVM_RUN and the KVM_GET_* that read its state (error
//          dumps, snapshots: vcpu_state.hpp), the device I/O of port and
//          MMIO exits (disk pread/pwrite/fdatasync, tap and console
//          writes, eventfds)
//   io     epoll, the devices' I/O, shutdown(2) of its control socket,
//          ioctl only KVM_GET_IRQCHIP/PIT2/CLOCK and ftruncate (writing a
//          snapshot into the fd it was given: vm.hpp)
//   p9     the file system calls of 9P2000.L passthrough (openat, openat2,
//          mkdirat, renameat2, unlinkat, fchownat, getdents64, ...): the
//          only thread allowed to open anything, and it sees only its share
//          (vmm/jail.hpp pivoted the VMM into a root holding the shares)
//   relay  ioctl SIOCOUTQ on its socket
// No role may open sockets, exec, fork or clone, mount, ptrace, kill another
// process, map executable memory, or load a new filter.
#pragma once
#include <string>
#include <vector>

#include "vmm/vm.hpp"

namespace hvrun::vmm {

// Installs `role`'s filter on the calling thread only (not the process:
// no TSYNC), with no_new_privs. Throws Error naming the role on failure.
void install_seccomp_filter(ThreadRole role);

// The syscall names `role` may make (for docs and tests).
std::vector<std::string> seccomp_allowed(ThreadRole role);

}  // namespace hvrun::vmm
