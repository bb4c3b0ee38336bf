// guest-init's decisions, kept apart from the syscalls so they can be unit
// tested on the host: what to mount, and the RunSpec the container stack
// runs inside the guest, planned from the host's GuestSpec
// (contract/guest_spec.hpp) and the device plan (contract/plan.hpp).
#pragma once
#include <string>
#include <vector>

#include "container/spec.hpp"
#include "contract/guest_spec.hpp"
#include "contract/plan.hpp"

namespace hvrun::guestinit {

// Where the devices of the plan (contract/plan.hpp) land inside the guest.
struct Layout {
  std::string spec_path = contract::kSpecPath;
  std::string image_dev = contract::disk_device(contract::Disk::Image);  // ext4, mounted read-only
  std::string image_dir = "/mnt/image";
  std::string rw_dev = contract::disk_device(contract::Disk::Writable);  // ext4
  std::string rw_dir = "/mnt/rw";
  std::string stdio_dev = contract::console_device(contract::Console::Stdio);
  std::string stderr_dev = contract::console_device(contract::Console::Stderr);
  std::string control_dev = contract::console_device(contract::Console::Control);
  std::string volumes_dir = "/mnt/vol";  // volume shares (9p) land in /mnt/vol/<i>
  std::string hosts_dir = "/mnt/hosts";  // the live /etc/hosts share (9p, ro)
};

struct MountStep {
  std::string source;
  std::string target;  // created (mkdir -p) before mounting
  std::string fstype;
  unsigned long flags = 0;
  std::string data;
};

// proc, sys, dev (devtmpfs), dev/pts, dev/shm, run, tmp, cgroup2.
std::vector<MountStep> early_mounts();
// The image disk (ro) and the writable disk (rw), both ext4.
std::vector<MountStep> disk_mounts(const Layout& layout);
// Where volume share i is mounted: /mnt/vol/<i>.
std::string volume_dir(const Layout& l, size_t i);
// The 9p mounts (read-only where the volume is) of the spec's volume
// shares, in order, then the hosts share if the spec has one.
std::vector<MountStep> share_mounts(const contract::GuestSpec& g, const Layout& l);

// The RunSpec the container stack runs in the guest: the rootfs an overlay
// of the image disk (workload.lowerdirs, if given, are paths inside the
// image disk, top layer first; none means the disk's root) with upper/work
// on the writable disk; one bind mount per volume, from its share's mount
// point (a file volume: the file in it); the live hosts file from the hosts
// share. Rejects what cannot work in a VM (no args, host bind mounts or a
// host hosts file in the workload, net "bridge", lowerdirs escaping the
// image disk) with hvrun::Error.
container::RunSpec plan_spec(const contract::GuestSpec& g, const Layout& layout);

}  // namespace hvrun::guestinit
