// guest-init in a template VM (engine/vm_template.hpp). The VM boots with
// placeholder disks and no workload; guest-init gets as far as it can
// without its spec (initramfs left, early mounts, consoles open and raw),
// then asks the VMM to save the VM (contract::kTemplateReadyPort) and waits.
// Each `hvrun --vm` restored from that snapshot sends, on the control
// channel, a RestoredMsg (clock, RNG seed) and then its SpecMsg; guest-init
// waits until each disk has the size the host says (the VMM raised a
// configuration change: the placeholder's size is still cached), drops
// the block cache the kernel filled from the placeholder, and goes on as a
// booted guest-init does with spec.json.
#pragma once
#include <string>
#include <vector>

namespace hvrun::guestinit {

// Returns the GuestSpec text. `disks`: the disk devices in contract::Disk
// order. Throws Error saying what failed (the port, a disk that never
// reached its size, the control channel closing).
std::string wait_as_template(int control, const std::vector<std::string>& disks);

// Waits up to `timeout_ms` until block device `dev` is `bytes` long, then
// drops its cached blocks (BLKFLSBUF). Throws Error saying what it saw.
void wait_for_disk(const std::string& dev, uint64_t bytes, int timeout_ms = 10000);

}  // namespace hvrun::guestinit
