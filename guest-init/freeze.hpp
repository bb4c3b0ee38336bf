// Freezing the guest's writable file system for a host-side copy (hvrun
// commit / export / diff of a running microVM: contract/control.hpp's
// FreezeMsg). FIFREEZE, as QEMU's guest agent does for snapshots: the kernel
// writes back every dirty page and inode of that file system, ext4 commits
// its superblock (and checkpoints its journal when it has one), and every new
// write waits until FITHAW. The host then reads a consistent disk image
// (engine/vm_changes.hpp). Pausing the vCPUs alone would leave what the
// guest's page cache holds off the disk.
#pragma once
#include <string>

#include "contract/control.hpp"

namespace hvrun::guestinit {

class FsFreeze {
 public:
  explicit FsFreeze(std::string mount_point) : dir_(std::move(mount_point)) {}
  ~FsFreeze() { thaw_if_frozen(); }  // never leaves the file system frozen behind it
  FsFreeze(const FsFreeze&) = delete;
  FsFreeze& operator=(const FsFreeze&) = delete;

  // Does what `m` asks and returns the answer for the host: the state after
  // the request, and why it failed (e.g. "FIFREEZE /mnt/rw: Operation not
  // supported"). Freezing a frozen file system or thawing a thawed one is
  // not an error.
  contract::FrozenEvent apply(const contract::FreezeMsg& m);
  // Thaws when frozen (the workload ended, guest-init is about to report
  // and reset); best effort, quiet.
  void thaw_if_frozen();
  bool frozen() const { return frozen_; }

 private:
  std::string dir_;
  bool frozen_ = false;
};

}  // namespace hvrun::guestinit
