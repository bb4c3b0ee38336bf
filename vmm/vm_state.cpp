#include "vmm/vm_state.hpp"

#include "vmm/state_codec.hpp"

namespace hvrun::vmm {
namespace {

constexpr char kTag[4] = {'V', 'M', 'S', 'T'};
constexpr uint32_t kVersion = 1;

kvm_irqchip get_chip(const VmFd& vm, uint32_t id, const char* what) {
  kvm_irqchip c{};
  c.chip_id = id;
  xioctl(vm.fd(), KVM_GET_IRQCHIP, &c, what);
  return c;
}

}  // namespace

std::vector<unsigned long> save_vm_state_ioctls() { return {KVM_GET_IRQCHIP, KVM_GET_PIT2, KVM_GET_CLOCK}; }

VmState save_vm_state(const VmFd& vm) {
  VmState s;
  s.pic_master = get_chip(vm, KVM_IRQCHIP_PIC_MASTER, "KVM_GET_IRQCHIP (PIC master)");
  s.pic_slave = get_chip(vm, KVM_IRQCHIP_PIC_SLAVE, "KVM_GET_IRQCHIP (PIC slave)");
  s.ioapic = get_chip(vm, KVM_IRQCHIP_IOAPIC, "KVM_GET_IRQCHIP (IOAPIC)");
  xioctl(vm.fd(), KVM_GET_PIT2, &s.pit, "KVM_GET_PIT2");
  xioctl(vm.fd(), KVM_GET_CLOCK, &s.clock, "KVM_GET_CLOCK");
  return s;
}

void restore_vm_state(VmFd& vm, const VmState& s) {
  xioctl(vm.fd(), KVM_SET_PIT2, &s.pit, "KVM_SET_PIT2");
  kvm_irqchip c = s.pic_master;
  xioctl(vm.fd(), KVM_SET_IRQCHIP, &c, "KVM_SET_IRQCHIP (PIC master)");
  c = s.pic_slave;
  xioctl(vm.fd(), KVM_SET_IRQCHIP, &c, "KVM_SET_IRQCHIP (PIC slave)");
  c = s.ioapic;
  xioctl(vm.fd(), KVM_SET_IRQCHIP, &c, "KVM_SET_IRQCHIP (IOAPIC)");
}

void restore_vm_clock(VmFd& vm, const VmState& s) {
  // The clock value only: KVM_CLOCK_REALTIME would add the time the
  // snapshot spent on disk, the TSC flags are KVM's to report.
  kvm_clock_data clock{};
  clock.clock = s.clock.clock;
  xioctl(vm.fd(), KVM_SET_CLOCK, &clock, "KVM_SET_CLOCK");
}

std::string encode_vm_state(const VmState& s) {
  StateOut o(kTag, kVersion);
  o.bytes(&s.pic_master, sizeof s.pic_master);
  o.bytes(&s.pic_slave, sizeof s.pic_slave);
  o.bytes(&s.ioapic, sizeof s.ioapic);
  o.bytes(&s.pit, sizeof s.pit);
  o.bytes(&s.clock, sizeof s.clock);
  return o.take();
}

VmState decode_vm_state(std::string_view blob) {
  StateIn in(blob, kTag, kVersion, "interrupt controller and clock");
  VmState s;
  in.bytes(&s.pic_master, sizeof s.pic_master, "PIC master");
  in.bytes(&s.pic_slave, sizeof s.pic_slave, "PIC slave");
  in.bytes(&s.ioapic, sizeof s.ioapic, "IOAPIC");
  in.bytes(&s.pit, sizeof s.pit, "PIT");
  in.bytes(&s.clock, sizeof s.clock, "clock");
  in.end();
  // The chip ids pick what KVM_SET_IRQCHIP writes: each must be its own.
  if (s.pic_master.chip_id != KVM_IRQCHIP_PIC_MASTER || s.pic_slave.chip_id != KVM_IRQCHIP_PIC_SLAVE ||
      s.ioapic.chip_id != KVM_IRQCHIP_IOAPIC)
    in.fail("its interrupt controllers are not PIC master, PIC slave and IOAPIC in that order");
  return s;
}

}  // namespace hvrun::vmm
