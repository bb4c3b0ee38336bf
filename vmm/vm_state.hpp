// The state of a microVM that KVM keeps per VM rather than per vCPU, for
// snapshots (section types IrqChip, Pit and Clock of snapshot_file.hpp,
// carried in one blob here): the in-kernel interrupt controllers (the two
// 8259 PICs and the IOAPIC, with their pin levels and redirection table),
// the 8254 PIT, and kvmclock (the guest's monotonic clock).
//
// save_vm_state() is called with every vCPU stopped. restore_vm_state()
// on a fresh VM whose irqchip and PIT exist (VmFd::create_irqchip), before
// its vCPUs' state is restored, restore_vm_clock() after. The clock is restored as it was saved:
// the guest's monotonic time goes on from the moment of the snapshot (no
// jump of the time it spent on disk: timers the guest armed fire as due,
// not all at once); its wall clock is set again by whoever resumes it.
// decode() reads a blob from a snapshot as hostile input (sizes, chip ids,
// flags); KVM checks the values themselves.
#pragma once
#include <linux/kvm.h>

#include <string>
#include <string_view>
#include <vector>

#include "vmm/kvm.hpp"

namespace hvrun::vmm {

struct VmState {
  kvm_irqchip pic_master{};
  kvm_irqchip pic_slave{};
  kvm_irqchip ioapic{};
  kvm_pit_state2 pit{};
  kvm_clock_data clock{};
};

VmState save_vm_state(const VmFd& vm);
// The ioctls save_vm_state() makes (all reading; for the I/O loop's seccomp filter).
std::vector<unsigned long> save_vm_state_ioctls();
// The PIT and the interrupt controllers; then, once the vCPUs' state (and
// TSCs) are back, the clock.
void restore_vm_state(VmFd& vm, const VmState& s);
void restore_vm_clock(VmFd& vm, const VmState& s);

std::string encode_vm_state(const VmState& s);
VmState decode_vm_state(std::string_view blob);  // throws Error saying what is wrong

}  // namespace hvrun::vmm
