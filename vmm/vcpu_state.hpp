// One vCPU's whole architectural state as KVM holds it, for microVM
// snapshots (vmm/snapshot_file.hpp, section type Vcpu): general and
// segment/control registers, the FPU/SSE/AVX state (XSAVE, legacy 4 KiB
// area) and XCRs, the local APIC, pending exceptions/interrupts/NMIs
// (vcpu events), debug registers, the multiprocessing state, and every MSR
// KVM lists as saveable (TSC, kvmclock, SYSCALL, PAT, ...).
//
// save() is called with the vCPU stopped (not inside KVM_RUN, by the
// thread that runs it); it first completes an I/O exit in progress, so that
// the state saved is after the instruction; restore()
// on a fresh vCPU of a VM whose CPUID, memory and irqchip are already set
// up, in the order KVM needs (registers, then the APIC, then MSRs such as
// the TSC deadline that depend on it, then pending events). decode() reads
// a blob from a snapshot file as hostile input: every size is checked; the
// values themselves are checked by KVM, which refuses an impossible state
// with EINVAL (an Error naming the ioctl).
#pragma once
#include <linux/kvm.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "vmm/kvm.hpp"

namespace hvrun::vmm {

struct VcpuState {
  static constexpr size_t kXsaveSize = 4096;  // struct kvm_xsave without KVM_CAP_XSAVE2's extra
  static constexpr size_t kMaxMsrs = 1024;
  kvm_regs regs{};
  kvm_sregs sregs{};
  std::vector<uint8_t> xsave = std::vector<uint8_t>(kXsaveSize);
  kvm_xcrs xcrs{};
  kvm_lapic_state lapic{};
  kvm_vcpu_events events{};
  kvm_debugregs debugregs{};
  kvm_mp_state mp_state{};
  std::vector<std::pair<uint32_t, uint64_t>> msrs;  // index, value
};

// The MSRs KVM can save and restore on this host (KVM_GET_MSR_INDEX_LIST).
std::vector<uint32_t> saveable_msrs(const Kvm& kvm);

VcpuState save_vcpu(const Vcpu& v, const std::vector<uint32_t>& msrs);
// The ioctls save_vcpu() makes (all reading; for the vCPU threads' seccomp filter).
std::vector<unsigned long> save_vcpu_ioctls();
void restore_vcpu(Vcpu& v, const VcpuState& s);

std::string encode_vcpu_state(const VcpuState& s);
VcpuState decode_vcpu_state(std::string_view blob);  // throws Error saying what is wrong

}  // namespace hvrun::vmm
