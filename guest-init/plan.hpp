// guest-init's decisions, kept apart from the syscalls so they can be unit
// tested on the host: what to mount, how the RunSpec from the host is
// rewritten for the guest's disks, and the control-channel protocol (JSON
// lines on /dev/hvc2, see vmm/vm.hpp).
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "container/runtime.hpp"
#include "container/spec.hpp"

namespace hvrun::guestinit {

// Where the devices of the plan in vmm/vm.hpp land inside the guest.
struct Layout {
  std::string spec_path = "/spec.json";
  std::string image_dev = "/dev/vda";  // image disk, ext4, mounted read-only
  std::string image_dir = "/mnt/image";
  std::string rw_dev = "/dev/vdb";     // per-VM writable disk, ext4
  std::string rw_dir = "/mnt/rw";
  std::string stdio_dev = "/dev/hvc0";
  std::string stderr_dev = "/dev/hvc1";
  std::string control_dev = "/dev/hvc2";
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
// `-v HOST:CTR[:ro]` reaches the guest as a virtio-9p share of HOST with the
// mount tag hvrun-vol<i> (i: its index in spec.mounts), which the host puts
// in the mount's source.
constexpr const char* kVolumeTagPrefix = "hvrun-vol";
// A single-file volume (`-v FILE:CTR`) is a share holding just that file,
// under this name; the host puts hvrun-vol<i>/file in the mount's source.
constexpr const char* kVolumeFileName = "file";
// The host's live /etc/hosts for this VM (engine/network.hpp) comes as a
// read-only 9p share of its directory with this tag, which the host puts in
// spec.netcfg.hosts_path; the file in it is `hosts`.
constexpr const char* kHostsShareTag = "hvrun-hosts";
std::string volume_tag(size_t i);
std::string volume_file_source(size_t i);  // hvrun-vol<i>/file
std::string volume_dir(const Layout& l, size_t i);
// The 9p mounts (read-only where the volume is) of the spec's volume
// shares, in spec.mounts order, then the hosts share if the spec has one.
std::vector<MountStep> share_mounts(const container::RunSpec& host_spec, const Layout& l);

// Parses /spec.json; throws hvrun::Error saying what is wrong.
container::RunSpec parse_spec(const std::string& json_text);

// Rewrites the host's RunSpec for the guest: the rootfs becomes an overlay of
// the image disk (spec.lowerdirs, if given, are paths inside the image disk,
// top layer first; none means the disk's root) with upper/work on the
// writable disk; spec.mounts whose source is a volume share (hvrun-vol<i>)
// get /mnt/vol/<i> as their source; netcfg.hosts_path kHostsShareTag
// becomes the hosts file in that share; net "bridge" becomes "host"
// (the guest's network, which guest-init configured from netcfg; netcfg is
// kept). Rejects what cannot work in a VM (no args, host bind mounts,
// lowerdirs escaping the image disk) with hvrun::Error.
container::RunSpec plan_spec(container::RunSpec spec, const Layout& layout);

// host -> guest control messages.
struct ControlMsg {
  enum class Kind { Signal, Winsize, StdinEof } kind;
  int signal = 0;
  unsigned short rows = 0, cols = 0;
};
// One JSON line: {"signal":N}, {"winsize":[rows,cols]}, {"stdin_eof":true}.
// Returns nullopt (and fills *why) for anything else.
std::optional<ControlMsg> parse_control(const std::string& line, std::string* why = nullptr);

// guest -> host: {"event":"ready"}\n once the consoles are raw (send stdin after it).
std::string ready_event();
// guest -> host: {"event":"exit","code":N,"signal":S,"oom":B}\n
std::string exit_event(const container::ExitStatus& st);
// A fatal guest-init error: exit code 125 plus the reason.
std::string error_event(const std::string& message);

}  // namespace hvrun::guestinit
