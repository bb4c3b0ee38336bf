// The VMM's public face: boot one microVM and run it until the guest resets
// (i8042 0xFE / triple fault), halts, or the VMM is told to stop.
//
// Device layout (generic; what hvrun puts in each slot is the contract
// module's device plan, contract/plan.hpp):
//   serial  ttyS0 (0x3f8, IRQ 4): kernel console and guest-init diagnostics
//   virtio-mmio slot i at 0xd0000000 + i*0x1000, IRQ 5+i, announced on the
//   kernel command line as virtio_mmio.device=4K@0x...:IRQ, in this order:
//     disks first (vda, vdb, ...), then consoles (hvc0, hvc1, ...), then
//     network cards (virtio-net on a tap: eth0, eth1, ... in the guest),
//     then shared directories (virtio-9p, 9P2000.L: `mount -t 9p TAG`).
//
// Boot-timer port: the guest's first write of any byte to I/O port 0x3f0
// (contract::kBootTimerPort)
// records "guest init reached" (like Firecracker's boot-timer device);
// VmResult::boot_ns is the time from run_vm() entry to that write. guest-init
// does `outb(0, 0x3f0)` first thing (it needs ioperm(0x3f0, 1, 1)).
//
// Other ports: 0x60/0x64 i8042 (0xFE on 0x64 resets), 0x70/0x71 CMOS RTC (the
// host's UTC time, binary 24-hour mode; other CMOS bytes read 0), 0xcf8-0xcff PCI config (all ones: no PCI), everything else reads all
// ones and ignores writes. PIT, PIC, IOAPIC and LAPIC are KVM's in-kernel ones.
// Guest RAM is one region at 0, at most 3 GiB (below the MMIO hole).
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace hvrun::vmm::snapshot {
class Reader;
}

namespace hvrun::vmm {

struct DiskConfig {
  std::string path;
  bool readonly = false;
};

// A virtio-console port. The VMM reads host->guest bytes from in_fd (-1: none)
// and writes guest->host bytes to out_fd (-1: dropped).
struct ConsoleConfig {
  int in_fd = -1;
  int out_fd = -1;
};

// A virtio-net card whose backend is a tap fd (see vmm/tap.hpp: opened
// non-blocking with IFF_VNET_HDR and a 12-byte header). The fd stays owned
// by the caller and must outlive run_vm().
struct NicConfig {
  int tap_fd = -1;
  std::string mac;  // "02:42:0a:58:00:05": the guest's MAC (config space)
};

// A host directory the guest mounts over virtio-9p with `tag`. readonly:
// the VMM refuses every change (EROFS), whatever the guest mounts.
struct ShareConfig {
  std::string path;
  std::string tag;
  bool readonly = false;
};

// The VMM's threads, each of which gets its own seccomp filter and
// capabilities when the VMM is jailed (vmm/jail.hpp).
enum class ThreadRole {
  Vcpu,      // KVM_RUN and the port/MMIO exits it handles
  IoLoop,    // the calling thread of run_vm: epoll over the devices' fds
  P9Worker,  // one per virtio-9p share: the only thread that opens files
  Relay,     // vmm/tool's relay between the monitor and the guest
};
const char* thread_role_name(ThreadRole r);

struct VmConfig {
  std::string kernel;   // ELF vmlinux (PVH entry) or bzImage
  std::string initrd;   // optional; may be several cpio archives concatenated
  std::string cmdline;  // the VMM appends the virtio_mmio.device=... entries
  uint64_t mem_bytes = 256ull << 20;
  unsigned vcpus = 1;
  std::vector<DiskConfig> disks;
  std::vector<ConsoleConfig> consoles;
  std::vector<NicConfig> nics;
  std::vector<ShareConfig> shares;
  int serial_out_fd = -1;  // where ttyS0 output goes (-1: dropped)
  int serial_in_fd = -1;
  // Raw test guests (tests/guests): `kernel` is a flat binary loaded at
  // 0x100000 and entered in 64-bit long mode at CPL 0, rip = rsp = 0x100000,
  // the first 4 GiB identity-mapped with 2 MiB pages (MMIO included),
  // interrupts off; initrd and cmdline are ignored.
  bool raw_kernel = false;
  bool debug = false;  // Error details carry a full register dump of the vCPU
  // Jail hooks (vmm/jail.hpp; empty: none). after_setup runs on the calling
  // thread once the VM, its devices and images are set up and before any
  // vCPU thread exists; enter_thread runs first thing in each thread that
  // serves the guest (vCPUs, the I/O loop once the vCPUs are started, each
  // 9p worker before its first request). A hook that throws ends the VM
  // with Reason::Error before the guest runs an instruction.
  std::function<void()> after_setup;
  std::function<void(ThreadRole)> enter_thread;
  // Snapshots (vmm/snapshot_file.hpp). restore_from: start from this
  // snapshot instead of booting: kernel, initrd, cmdline, mem_bytes and
  // vcpus are the snapshot's; the devices given here must be the same
  // kinds in the same order as the snapshotted VM's (their backends, the
  // fds and files, are this run's), else run_vm throws saying so.
  // snapshot_path: where request_snapshot() writes. snapshot_fd instead
  // (a jailed VMM opens no files): an open regular file, rewritten by each
  // snapshot. Neither: request_snapshot() is refused. snapshot_done_fd
  // (-1: none) gets each outcome as a line: "snapshot written ..." or
  // "snapshot failed: ...".
  std::string restore_from;
  // restore_from already opened and checked by open_restore_snapshot(),
  // or null (run_vm opens it).
  std::shared_ptr<const snapshot::Reader> restore_snapshot;
  std::string snapshot_path;
  int snapshot_fd = -1;
  int snapshot_done_fd = -1;
  // A template VM (engine/vm_template.hpp): the guest's first write to
  // contract::kTemplateReadyPort asks for a snapshot and a stop, as
  // request_snapshot(true) does. Off: the port is ignored.
  bool snapshot_on_guest_request = false;
};

struct VmResult {
  // Reset: i8042 reset, triple fault (KVM_EXIT_SHUTDOWN: Linux's reboot=t), or
  //   a KVM_SYSTEM_EVENT reset; detail says which.
  // Halt: KVM_EXIT_HLT (only without an in-kernel irqchip, so not normally).
  // Shutdown: request_stop() was called, or a KVM_SYSTEM_EVENT shutdown.
  // Error: the VMM or KVM failed, e.g. KVM_EXIT_INTERNAL_ERROR.
  enum class Reason { Reset, Halt, Shutdown, Error } reason = Reason::Error;
  std::string detail;  // for Error: what broke (e.g. "KVM_EXIT_INTERNAL_ERROR suberror 1 at rip=...")
  uint64_t boot_ns = 0;  // run_vm() entry to the first boot-timer write (0x3f0); 0: never
  uint64_t setup_ns = 0;  // run_vm() entry to the first vCPU ready to run (VM, devices, images loaded)
  uint64_t load_ns = 0;   // of which loading the kernel, initrd and command line
  std::vector<std::string> broken_devices;  // "virtio slot N: why" for devices a guest broke
  uint64_t restore_ns = 0;  // restore_from: run_vm() entry to the restored vCPUs ready to run
  // What snapshots did: "snapshot written to PATH in T ms (M MiB)" or
  // "snapshot failed: why", and notes of a restore on what it could not
  // carry over (e.g. a 9p share's open files).
  std::vector<std::string> notes;
};

// Boots and runs the VM on the calling thread (+ one thread per vCPU). The
// calling thread runs the I/O loop. vCPU threads block every signal but
// SIGRTMIN+2, which the VMM installs (a no-op handler) to kick them out of
// KVM_RUN. One VM per process at a time (request_stop is process-wide).
VmResult run_vm(const VmConfig& config);

// Asks a running VM (from a signal handler or another thread) to stop.
void request_stop();

// Opens cfg.restore_from and checks it whole (origin, header, every state
// section's CRC) into cfg.restore_snapshot, and takes the snapshotted VM's
// memory size and vCPU count into cfg. run_vm does this itself; a caller
// that sizes limits by them, such as the jail, calls it first, and the
// file is then opened and checked once. Throws Error saying what is wrong.
void open_restore_snapshot(VmConfig& cfg);

// Asks a running VM (async-signal-safe) to write a snapshot to
// VmConfig::snapshot_path: the vCPUs stop (each finishing the I/O exit it
// is in), requests in flight in the devices finish, then the vCPUs, the
// interrupt controllers and clock, every device and guest memory are
// written (to a temporary file renamed into place). Then the VM goes on,
// or with then_stop ends with Reason::Shutdown. Each outcome is a line in
// VmResult::notes and on stderr.
void request_snapshot(bool then_stop);
// A snapshot after which the vCPUs stay parked (the guest sees no time
// pass) until release_held_snapshot(), or for 60 s at most, then the VM
// goes on: what the engine needs to copy the VM's disk as the snapshot's
// memory expects it (snapshot create --leave-running). Async-signal-safe.
void request_held_snapshot();
void release_held_snapshot();

}  // namespace hvrun::vmm
