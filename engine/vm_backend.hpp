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
  // Snapshots (engine/snapshots.hpp). snapshot_store: the directory the
  // VM's snapshot file is made in (unnamed until a snapshot is taken: it
  // must be on the file system of the snapshots it is linked into); empty:
  // this VM takes none. restore_dir: a snapshot's directory to start from
  // (vm.snap, rw.ext4) instead of booting the kernel.
  std::string snapshot_store;
  std::string restore_dir;
  // Template VMs (engine/vm_template.hpp). make_template: boot on
  // placeholder disks with guest-init in template mode; the VMM saves the
  // VM when guest-init asks and stops; wait() links the snapshot as
  // template_out/vm.snap (status 0, else 125 saying why). template_dir:
  // start from that template instead of booting: the spec and the real
  // disks are handed over once it is restored.
  bool make_template = false;
  // A formatted empty writable disk to copy for each VM ("" : mkfs each).
  std::string blank_rw_disk;
  // The writable disk in work_dir is the VM's own from an earlier run: kept.
  bool keep_rw_disk = false;
  std::string template_out;
  std::string template_dir;
  // Networks beside spec.netcfg's that the container was connected to
  // (engine/network.hpp's connected_networks, as NetConfigs with bridge,
  // ifname, address, prefix, MAC and MTU): a tap and a card each. A VM with
  // any starts from no template and takes no snapshot.
  std::vector<container::NetConfig> more_networks;
};

// Why a microVM run with `spec` cannot start from a template (engine/
// vm_template.hpp; "" when it can): volumes (their count changes the
// devices), a network without its hosts file, a test's network hook.
// `more_networks`: its cards beyond the first (VmAssets::more_networks; a
// template has one).
std::string vm_template_refusal(const container::RunSpec& spec, size_t more_networks = 0);


// The files of a snapshot directory (engine/snapshots.hpp).
inline constexpr const char* kSnapshotMemoryFile = "vm.snap";
inline constexpr const char* kSnapshotDiskFile = "rw.ext4";
// Why a template VM was not saved, in its template_out directory.
inline constexpr const char* kTemplateFailureFile = "failed";

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
