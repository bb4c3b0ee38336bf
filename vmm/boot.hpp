// x86-64 direct kernel boot: guest memory layout, kernel loaders (ELF vmlinux
// via the PVH entry, bzImage via the Linux boot protocol, raw flat binaries),
// the MP table, and initial vCPU state.
//
// Low memory layout (all below 1 MiB):
//   0x0500  GDT: 0x08 code32, 0x10 code64 (__BOOT_CS), 0x18 data (__BOOT_DS), 0x20 TSS
//   0x6000  PVH hvm_start_info, 0x6040 module list (initrd), 0x6100 memmap
//   0x7000  Linux zero page (boot_params)
//   0x9000  page tables: PML4, PDPT at 0xa000, 4 PDs at 0xb000-0xefff
//           (identity map of the first 4 GiB with 2 MiB pages)
//   0x20000 kernel command line (up to 64 KiB)
//   0x9fc00 MP floating pointer + MP configuration table (e820: reserved)
//   0x100000 bzImage protected-mode kernel / raw guest image
//   initrd: top of RAM (below initrd_addr_max for bzImage), page aligned
#pragma once
#include <cstdint>
#include <string>

#include "vmm/guest_memory.hpp"
#include "vmm/kvm.hpp"

namespace hvrun::vmm {

constexpr uint64_t kGdtAddr = 0x500;
constexpr uint64_t kPvhInfoAddr = 0x6000;
constexpr uint64_t kZeroPageAddr = 0x7000;
constexpr uint64_t kPml4Addr = 0x9000;
constexpr uint64_t kCmdlineAddr = 0x20000;
constexpr uint64_t kCmdlineMax = 0x10000;
constexpr uint64_t kMpTableAddr = 0x9fc00;
constexpr uint64_t kHighMemStart = 0x100000;
constexpr uint64_t kRawLoadAddr = 0x100000;
constexpr uint64_t kTssAddr = 0xfffbd000;
constexpr uint64_t kMaxMemBytes = 3ull << 30;  // RAM ends below the MMIO hole at 0xd0000000

struct BootEntry {
  enum class Mode { Protected32, Long64 } mode = Mode::Long64;
  uint64_t rip = 0;
  uint64_t rsi = 0;  // bzImage: boot_params
  uint64_t rbx = 0;  // PVH: hvm_start_info
  uint64_t rsp = 0;
};

// Detects the format (ELF or bzImage) and loads kernel, initrd and command line.
BootEntry load_linux(const GuestMemory& mem, const std::string& kernel, const std::string& initrd, const std::string& cmdline);
// A flat binary at kRawLoadAddr, entered in 64-bit mode at CPL 0 with rip =
// rsp = kRawLoadAddr (the stack grows down below the image).
BootEntry load_raw(const GuestMemory& mem, const std::string& image);
// MP table listing `vcpus` processors, the IOAPIC and ISA IRQs 0-23.
void write_mptable(const GuestMemory& mem, unsigned vcpus);
// Registers and segments for the entry (page tables and GDT are in memory).
void setup_boot_vcpu(Vcpu& vcpu, const GuestMemory& mem, const BootEntry& entry);
// What the VMM's KVM can give a guest beyond KVM_GET_SUPPORTED_CPUID.
struct CpuidExtras {
  // KVM_CAP_TSC_DEADLINE_TIMER: the in-kernel LAPIC emulates TSC-deadline
  // mode, but KVM leaves it to the VMM to advertise (CPUID.1:ECX[24]). With
  // it Linux skips its LAPIC timer calibration (about 100 ms of guest time
  // spent counting ticks; QEMU and Firecracker set it too).
  bool tsc_deadline = false;
};
// CPUID for one vCPU: the supported table with its APIC id in leaves 1, 0xb
// and 0x1f, the hypervisor bit, and `extras`.
CpuidTable cpuid_for_vcpu(const CpuidTable& supported, unsigned id, unsigned vcpus, const CpuidExtras& extras = {});

}  // namespace hvrun::vmm
