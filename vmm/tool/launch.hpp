// How the engine's VM backend (engine/vm_backend.cpp) starts hvrun-vmm: it
// forks, keeps only the fds the VM needs (without FD_CLOEXEC) and execs
//   hvrun-vmm --launch-fd N
// where fd N (a memfd) holds one JSON object, the Launch below: the VmConfig
// with fd numbers as they are in hvrun-vmm, the relay's fds and the fd that
// gets the result. hvrun-vmm writes to `result_fd`, when the VM has ended,
//   {"reason":R,"detail":"...","boot_ns":N,"broken":["..."]}
// Snapshots: "restore_from" (a snapshot to start from), "snapshot_fd" and
// "snapshot_done_fd" (VmConfig's). With a snapshot_fd, SIGRTMIN+3 asks for a
// snapshot into it (the VM goes on), SIGRTMIN+4 for one and a stop, and
// SIGRTMIN+5 for one after which the vCPUs stay parked until SIGRTMIN+6
// (60 s at most: the engine copies the disk meanwhile); the forwarded
// signals (relay.hpp) stay the workload's.
// (R = int(VmResult::Reason)) and exits 125 on Reason::Error, else 0.
#pragma once
#include <string>

#include "vmm/jail.hpp"
#include "vmm/vm.hpp"

namespace hvrun::vmm::tool {

// The relay (relay.hpp) passes control lines between the monitor and the
// guest's hvc2, and input to hvc0 once the guest is ready.
struct RelayConfig {
  int monitor = -1;   // to/from the monitor (its control socket); -1: no relay
  int hvc2 = -1;      // the relay's end of the guest's control console
  int hvc2_vmm = -1;  // the VMM's end of it (shut down for writing when the VM ends)
  int gate = -1;      // into the guest's hvc0
  int input = -1;     // stdin, or the host side of the tty; -1: none
  bool tty = false;
  // guest-init was ready before this run (a restored VM): input flows at once.
  bool guest_ready = false;
};

// A single host file a share must hold (a file volume, `-v FILE:CTR`): the
// VMM, in a mount namespace of its own, bind-mounts `source` onto `target`
// (a placeholder file in a directory that only this share uses), read-only
// if asked, before the VM starts. The guest sees that one file and nothing
// beside it on the host; the host's mounts are not touched.
struct FileBind {
  std::string source, target;
  bool readonly = false;
};

struct Launch {
  VmConfig vm;
  RelayConfig relay;
  std::vector<FileBind> file_binds;
  int result_fd = -1;
  // {"jail":{"uid":U,"gid":G[,"monitor_pidfd":FD]}}: hvrun-vmm jails itself (vmm/jail.hpp) as
  // that uid/gid; no "jail" key: it runs unjailed (`hvrun --vm` as non-root,
  // or HVRUN_VMM_JAIL=off).
  JailConfig jail;
};

// Makes this process's mount namespace private and does the binds; throws
// Error naming the file and why.
void apply_file_binds(const std::vector<FileBind>& binds);

std::string launch_to_json(const Launch& l);
// Throws Error ("launch config: ...") on malformed JSON, a missing or
// mistyped field, or an fd number that is not open in this process.
Launch launch_from_json(const std::string& text, bool check_fds = true);

// The result line written to result_fd.
std::string result_to_json(const VmResult& r);

}  // namespace hvrun::vmm::tool
