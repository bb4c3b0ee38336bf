// The VMM's public face: boot one microVM and run it until the guest resets
// (i8042 0xFE / triple fault), halts, or the VMM is told to stop.
//
// Device plan shared with guest-init (keep both in sync):
//   serial  ttyS0 (0x3f8, IRQ 4): kernel console and guest-init diagnostics
//   virtio-mmio slot i at 0xd0000000 + i*0x1000, IRQ 5+i, announced on the
//   kernel command line as virtio_mmio.device=4K@0x...:IRQ, in this order:
//     disks first (vda, vdb, ...), then consoles (hvc0, hvc1, ...).
//   hvrun uses: vda = image disk (read-only, shared by all VMs of the image),
//   vdb = per-VM writable disk (ext4), hvc0 = workload stdin/stdout (the pty
//   stream with -t), hvc1 = workload stderr, hvc2 = control channel (JSON
//   lines; guest->host {"event":"exit","code":N,"signal":S,"oom":B},
//   host->guest {"signal":N} and {"winsize":[rows,cols]}).
//   initramfs: /init = guest-init (static), /spec.json = the RunSpec.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

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

struct VmConfig {
  std::string kernel;   // ELF vmlinux (PVH entry) or bzImage
  std::string initrd;   // optional; may be several cpio archives concatenated
  std::string cmdline;  // the VMM appends the virtio_mmio.device=... entries
  uint64_t mem_bytes = 256ull << 20;
  unsigned vcpus = 1;
  std::vector<DiskConfig> disks;
  std::vector<ConsoleConfig> consoles;
  int serial_out_fd = -1;  // where ttyS0 output goes (-1: dropped)
  int serial_in_fd = -1;
};

struct VmResult {
  enum class Reason { Reset, Halt, Shutdown, Error } reason = Reason::Error;
  std::string detail;  // for Error: what broke (e.g. "KVM_EXIT_INTERNAL_ERROR suberror 1 at rip=...")
};

// Boots and runs the VM on the calling thread (+ one thread per vCPU).
VmResult run_vm(const VmConfig& config);

// Asks a running VM (from a signal handler or another thread) to stop.
void request_stop();

}  // namespace hvrun::vmm
