// The VM backend: runs a RunSpec inside a microVM. The monitor forks and
// execs one VMM process, hvrun-vmm (vmm/tool/: launch.hpp says how it is
// configured), that boots the guest kernel with guest-init as PID 1;
// guest-init runs the same container/ stack inside the guest. What the host
// and guest-init agree on (device plan, the GuestSpec, the control channel)
// is the contract module: contract/plan.hpp, guest_spec.hpp, control.hpp.
#pragma once
#include <memory>
#include <string>

#include "engine/backend.hpp"

namespace hvrun::engine {

struct VmAssets {
  std::string kernel;      // guest vmlinux (PVH) or bzImage
  std::string guest_init;  // static guest-init binary
  std::string vmm;         // the hvrun-vmm executable (empty: require_vmm() when the VM starts)
  std::string image_disk;  // ext4 disk of the flattened image (read-only, shared)
  std::string work_dir;    // per-container dir: writable disk, initramfs, console.log
  bool debug = false;
};

// Finds the guest kernel, guest-init and hvrun-vmm (see find_guest_init,
// require_vmm) and refuses,
// with the reason and the way out, on a host whose KVM cannot boot Linux in
// useful time (PVM) unless HVRUN_FORCE_VM=1 is set.
VmAssets locate_vm_assets(bool debug);

// $HVRUN_GUEST_INIT, else hvrun-guest-init beside the build tree's hvrun
// (../guest-init/hvrun-guest-init), else /usr/local/lib/hvrun/guest-init.
std::string find_guest_init();

// $HVRUN_VMM when set (as is, even if it names nothing), else the first
// executable file of: hvrun-vmm in the build tree beside this hvrun
// (../vmm/tool/hvrun-vmm), /usr/local/lib/hvrun/hvrun-vmm; "" when none is.
std::string find_vmm();
// find_vmm(), or an Error that says where it looked and the way out
// (scripts/setup.sh, HVRUN_VMM). A $HVRUN_VMM that is not an executable file
// is an error, never skipped.
std::string require_vmm();

std::unique_ptr<Backend> make_vm_backend(VmAssets assets);

// Guest RAM for a VM whose workload may use `memory_bytes` (0: default).
uint64_t vm_guest_memory(int64_t memory_bytes);

}  // namespace hvrun::engine
