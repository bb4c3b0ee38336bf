// The VM backend: runs a RunSpec inside a microVM. The monitor forks one VMM
// process (vmm::run_vm) that boots the guest kernel with guest-init as PID 1;
// guest-init runs the same container/ stack inside the guest. The device plan
// (disks, hvc0..2, control protocol) is described in vmm/vm.hpp.
#pragma once
#include <memory>
#include <string>

#include "engine/backend.hpp"

namespace hvrun::engine {

struct VmAssets {
  std::string kernel;      // guest vmlinux (PVH) or bzImage
  std::string guest_init;  // static guest-init binary
  std::string image_disk;  // ext4 disk of the flattened image (read-only, shared)
  std::string work_dir;    // per-container dir: writable disk, initramfs, console.log
  bool debug = false;
};

// Finds the guest kernel and guest-init (see find_guest_init) and refuses,
// with the reason and the way out, on a host whose KVM cannot boot Linux in
// useful time (PVM) unless HVRUN_FORCE_VM=1 is set.
VmAssets locate_vm_assets(bool debug);

// $HVRUN_GUEST_INIT, else hvrun-guest-init beside the build tree's hvrun
// (../guest-init/hvrun-guest-init), else /usr/local/lib/hvrun/guest-init.
std::string find_guest_init();

std::unique_ptr<Backend> make_vm_backend(VmAssets assets);

// Guest RAM for a VM whose workload may use `memory_bytes` (0: default).
uint64_t vm_guest_memory(int64_t memory_bytes);

}  // namespace hvrun::engine
