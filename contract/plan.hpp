// The microVM's device plan: the one place where the host side (the engine's
// VM backend, hvrun-vmm) and the guest side (guest-init) agree on what sits
// where. Plain constants and names; nothing here touches a device.
//
//   initramfs   /init = guest-init (static), /spec.json = the GuestSpec
//               (contract/guest_spec.hpp)
//   serial      ttyS0: kernel console and guest-init's log lines
//   virtio-mmio slots in this order (vmm/vm.hpp numbers them):
//     disks     vda = the image disk (ext4, read-only, shared by every VM of
//               the image), vdb = this VM's writable disk (ext4)
//     consoles  hvc0 = the workload's stdin/stdout (the pty stream with a
//               tty), hvc1 = its stderr, hvc2 = the control channel
//               (contract/control.hpp)
//     nics      at most one virtio-net card, on a tap on the network's bridge
//     shares    virtio-9p: volume i is tagged hvrun-vol<i>; then, with a
//               network, the live /etc/hosts directory, tagged hvrun-hosts
//   ports       0x3f0: the boot timer (guest-init writes one byte first thing)
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace hvrun::contract {

// initramfs entries (cpio names, without the leading '/').
inline constexpr const char* kInitName = "init";
inline constexpr const char* kSpecName = "spec.json";
inline constexpr const char* kSpecPath = "/spec.json";  // where guest-init reads it

// The guest kernel's command line before the VMM's own additions:
// reboot=k: guest-init's reboot() resets through the i8042 (the VMM's way
// of noticing that the guest is done).
inline constexpr const char* kKernelCmdline = "console=ttyS0 reboot=k panic=-1 quiet";

// Disks, in slot order.
enum class Disk : unsigned { Image = 0, Writable = 1 };
inline constexpr unsigned kDiskCount = 2;
// "/dev/vda" for Disk::Image, ...
inline std::string disk_device(Disk d) { return std::string("/dev/vd") + char('a' + unsigned(d)); }

// Consoles, in slot order after the disks.
enum class Console : unsigned { Stdio = 0, Stderr = 1, Control = 2 };
inline constexpr unsigned kConsoleCount = 3;
// "/dev/hvc0" for Console::Stdio, ...
inline std::string console_device(Console c) { return "/dev/hvc" + std::to_string(unsigned(c)); }

// 9p share tags. Volume i (the i-th -v) is the share volume_tag(i); a volume
// of a single file is a share of a directory holding just that file, named
// kVolumeFileName. The live hosts file is kHostsFileName in the share
// kHostsShareTag.
inline constexpr const char* kVolumeTagPrefix = "hvrun-vol";
inline constexpr const char* kVolumeFileName = "file";
inline constexpr const char* kHostsShareTag = "hvrun-hosts";
inline constexpr const char* kHostsFileName = "hosts";
inline std::string volume_tag(size_t i) { return kVolumeTagPrefix + std::to_string(i); }

// Limits. The VMM gives virtio slots IRQs 5-23: 19 slots.
inline constexpr size_t kMaxVirtioSlots = 19;
inline constexpr size_t kMaxNics = 1;
// What is left for volumes after the disks, the consoles, a network card and
// the hosts share: 19 - 2 - 3 - 1 - 1 = 12.
inline constexpr size_t kMaxVolumes = kMaxVirtioSlots - kDiskCount - kConsoleCount - kMaxNics - 1;
static_assert(kMaxVolumes == 12);

// I/O ports. The guest's first write of any byte to kBootTimerPort marks
// "guest init reached" (like Firecracker's boot-timer device).
inline constexpr uint16_t kBootTimerPort = 0x3f0;
// A template VM's guest-init (engine/vm_template.hpp) writes a byte here
// once it waits for its spec: the VMM saves the VM and stops. Only a VMM
// told to (VmConfig::snapshot_on_guest_request) listens; others ignore it.
inline constexpr uint16_t kTemplateReadyPort = 0x3f1;

}  // namespace hvrun::contract
