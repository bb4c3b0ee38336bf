// The files a microVM starts from, made on the host for each VM (engine/
// vm_backend.cpp): its writable disk and its initramfs.
#pragma once
#include <string>

namespace hvrun::engine {

// In the container's record directory: the writable disk, and the mark of
// one that `hvrun cp` made before the VM's first start, which that start
// then boots on (engine/changes.cpp, engine/monitor.cpp).
inline constexpr const char* kVmRwDisk = "vm-rw.ext4";
inline constexpr const char* kVmRwKeep = "vm-rw.keep";

// The per-VM writable disk (the container's upper layer; sparse, so only
// what the workload writes takes host space): an empty ext4 file system of
// 4 GiB. A copy of `blank` (formatted once, then copied with its holes: no
// mkfs process per VM), or formatted at `path` when there is no blank ("")
// or it cannot be made. Throws Error naming the file and the step.
void make_rw_disk(const std::string& path, const std::string& blank);

// Puts a writable disk the guest left in order before the host writes it
// (the guest syncs but does not unmount; a VM killed hard may leave its
// bitmaps behind its inodes): e2fsck -f -p. Throws Error naming the file
// when e2fsck cannot fix it (exit 4 and up).
void repair_rw_disk(const std::string& path);

// initramfs (cpio newc): /init = guest-init, /spec.json = the GuestSpec
// (contract/plan.hpp). Throws Error naming the file.
void make_initramfs(const std::string& path, const std::string& guest_init, const std::string& spec_json);

}  // namespace hvrun::engine
