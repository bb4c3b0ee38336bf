#include "vmm/vcpu_state.hpp"

#include <sys/ioctl.h>

#include <cerrno>
#include <cstring>

#include "util/error.hpp"
#include "vmm/state_codec.hpp"

namespace hvrun::vmm {
namespace {

// The flexible-array structs (kvm_msr_list, kvm_msrs, kvm_xsave) in their C
// layout: <linux/kvm.h> compiled as C++ gives them another sizeof, hence
// other ioctl numbers (see kvm.cpp).
struct MsrsHeader {
  uint32_t count;
  uint32_t padding;
};
constexpr unsigned long kGetMsrIndexList = _IOC(_IOC_READ | _IOC_WRITE, KVMIO, 0x02, sizeof(uint32_t));
constexpr unsigned long kGetMsrs = _IOC(_IOC_READ | _IOC_WRITE, KVMIO, 0x88, sizeof(MsrsHeader));
constexpr unsigned long kSetMsrs = _IOC(_IOC_WRITE, KVMIO, 0x89, sizeof(MsrsHeader));
constexpr unsigned long kGetXsave = _IOC(_IOC_READ, KVMIO, 0xa4, VcpuState::kXsaveSize);
constexpr unsigned long kSetXsave = _IOC(_IOC_WRITE, KVMIO, 0xa5, VcpuState::kXsaveSize);

// MSR values through one KVM_GET_MSRS/KVM_SET_MSRS buffer; returns how
// many KVM handled (it stops at the first it cannot).
int msr_ioctl(int fd, unsigned long req, std::vector<kvm_msr_entry>& e, const char* what) {
  std::vector<uint8_t> buf(sizeof(MsrsHeader) + e.size() * sizeof(kvm_msr_entry));
  reinterpret_cast<MsrsHeader*>(buf.data())->count = static_cast<uint32_t>(e.size());
  if (!e.empty()) std::memcpy(buf.data() + sizeof(MsrsHeader), e.data(), e.size() * sizeof(kvm_msr_entry));
  int n;
  do n = ::ioctl(fd, req, buf.data());
  while (n < 0 && errno == EINTR);
  if (n < 0) throw_sys(what);
  if (!e.empty()) std::memcpy(e.data(), buf.data() + sizeof(MsrsHeader), e.size() * sizeof(kvm_msr_entry));
  return n;
}

// The blob (state_codec.hpp): "VCPU", a version, then each struct as a
// (size, bytes) pair so that a blob from a kernel whose structs differ is
// refused, not misread.
constexpr char kTag[4] = {'V', 'C', 'P', 'U'};
constexpr uint32_t kBlobVersion = 1;

}  // namespace

std::vector<uint32_t> saveable_msrs(const Kvm& kvm) {
  // First ask how many (E2BIG with the count filled in), then get them.
  std::vector<uint32_t> buf(1, 0);
  if (::ioctl(kvm.fd(), kGetMsrIndexList, buf.data()) < 0 && errno != E2BIG) throw_sys("KVM_GET_MSR_INDEX_LIST");
  const uint32_t n = buf[0];
  if (n > VcpuState::kMaxMsrs) throw Error("KVM_GET_MSR_INDEX_LIST: " + std::to_string(n) + " MSRs (at most 1024)");
  buf.assign(1 + n, 0);
  buf[0] = n;
  xioctl(kvm.fd(), kGetMsrIndexList, buf.data(), "KVM_GET_MSR_INDEX_LIST");
  return std::vector<uint32_t>(buf.begin() + 1, buf.begin() + 1 + buf[0]);
}

std::vector<unsigned long> save_vcpu_ioctls() {
  return {KVM_RUN, KVM_GET_MP_STATE, KVM_GET_REGS, KVM_GET_SREGS, kGetXsave, KVM_GET_XCRS, KVM_GET_LAPIC,
          KVM_GET_VCPU_EVENTS, KVM_GET_DEBUGREGS, kGetMsrs};
}

VcpuState save_vcpu(const Vcpu& v, const std::vector<uint32_t>& msrs) {
  const int fd = v.fd();
  // An exit to userspace (port or MMIO I/O) is finished by the next
  // KVM_RUN: until then RIP still points at the instruction. Enter once
  // with immediate_exit so that the saved state is after it (KVM's API
  // documentation asks this of whoever saves state).
  kvm_run* run = v.run_struct();
  run->immediate_exit = 1;
  const int rc = ::ioctl(fd, KVM_RUN, 0);
  const int err = errno;
  run->immediate_exit = 0;
  // 0: finishing it made a new exit (the rest of a string I/O) that the
  // VMM must handle before the state can be saved.
  if (rc == 0) throw Error("cannot save a vCPU in the middle of a string I/O instruction (exit " +
                           std::to_string(run->exit_reason) + "): handle the exit, then save");
  if (err != EINTR) throw_sys("KVM_RUN (completing pending I/O before a save)", err);
  VcpuState s;
  xioctl(fd, KVM_GET_MP_STATE, &s.mp_state, "KVM_GET_MP_STATE");
  s.regs = v.regs();
  s.sregs = v.sregs();
  xioctl(fd, kGetXsave, s.xsave.data(), "KVM_GET_XSAVE");
  xioctl(fd, KVM_GET_XCRS, &s.xcrs, "KVM_GET_XCRS");
  xioctl(fd, KVM_GET_LAPIC, &s.lapic, "KVM_GET_LAPIC");
  xioctl(fd, KVM_GET_VCPU_EVENTS, &s.events, "KVM_GET_VCPU_EVENTS");
  xioctl(fd, KVM_GET_DEBUGREGS, &s.debugregs, "KVM_GET_DEBUGREGS");
  // KVM stops at the first MSR it cannot read (one the index list names
  // but this vCPU's CPUID lacks): skip it and read on.
  std::vector<kvm_msr_entry> e;
  for (uint32_t i : msrs) e.push_back(kvm_msr_entry{i, 0, 0});
  size_t done = 0;
  while (done < e.size()) {
    std::vector<kvm_msr_entry> rest(e.begin() + long(done), e.end());
    const int n = msr_ioctl(fd, kGetMsrs, rest, "KVM_GET_MSRS");
    for (int k = 0; k < n; ++k) s.msrs.emplace_back(rest[size_t(k)].index, rest[size_t(k)].data);
    done += size_t(n) + 1;  // the one that failed is left out
  }
  return s;
}

void restore_vcpu(Vcpu& v, const VcpuState& s) {
  const int fd = v.fd();
  v.set_sregs(s.sregs);
  v.set_regs(s.regs);
  xioctl(fd, kSetXsave, s.xsave.data(), "KVM_SET_XSAVE");
  xioctl(fd, KVM_SET_XCRS, &s.xcrs, "KVM_SET_XCRS");
  xioctl(fd, KVM_SET_DEBUGREGS, &s.debugregs, "KVM_SET_DEBUGREGS");
  xioctl(fd, KVM_SET_LAPIC, &s.lapic, "KVM_SET_LAPIC");
  std::vector<kvm_msr_entry> e;
  for (const auto& [i, val] : s.msrs) e.push_back(kvm_msr_entry{i, 0, val});
  const int n = msr_ioctl(fd, kSetMsrs, e, "KVM_SET_MSRS");
  if (size_t(n) != e.size()) {
    char hex[16];
    std::snprintf(hex, sizeof hex, "%#x", e[size_t(n)].index);
    throw Error(std::string("KVM_SET_MSRS: this host refused MSR ") + hex + " of the snapshot");
  }
  xioctl(fd, KVM_SET_MP_STATE, &s.mp_state, "KVM_SET_MP_STATE");
  xioctl(fd, KVM_SET_VCPU_EVENTS, &s.events, "KVM_SET_VCPU_EVENTS");
}

std::string encode_vcpu_state(const VcpuState& s) {
  StateOut b(kTag, kBlobVersion);
  b.bytes(&s.regs, sizeof s.regs);
  b.bytes(&s.sregs, sizeof s.sregs);
  b.bytes(s.xsave.data(), s.xsave.size());
  b.bytes(&s.xcrs, sizeof s.xcrs);
  b.bytes(&s.lapic, sizeof s.lapic);
  b.bytes(&s.events, sizeof s.events);
  b.bytes(&s.debugregs, sizeof s.debugregs);
  b.bytes(&s.mp_state, sizeof s.mp_state);
  b.u32(static_cast<uint32_t>(s.msrs.size()));
  for (const auto& [i, val] : s.msrs) {
    b.u32(i);
    b.u64(val);
  }
  return b.take();
}

VcpuState decode_vcpu_state(std::string_view blob) {
  StateIn p(blob, kTag, kBlobVersion, "vCPU");
  VcpuState s;
  p.bytes(&s.regs, sizeof s.regs, "regs");
  p.bytes(&s.sregs, sizeof s.sregs, "sregs");
  p.bytes(s.xsave.data(), s.xsave.size(), "xsave");
  p.bytes(&s.xcrs, sizeof s.xcrs, "xcrs");
  p.bytes(&s.lapic, sizeof s.lapic, "lapic");
  p.bytes(&s.events, sizeof s.events, "events");
  p.bytes(&s.debugregs, sizeof s.debugregs, "debugregs");
  p.bytes(&s.mp_state, sizeof s.mp_state, "mp_state");
  const uint32_t n = p.u32("msr count");
  if (n > VcpuState::kMaxMsrs) p.fail(std::to_string(n) + " MSRs (at most 1024)");
  if (p.left() != size_t(n) * 12) p.fail("its MSR list is not " + std::to_string(n) + " entries long");
  for (uint32_t k = 0; k < n; ++k) {
    const uint32_t index = p.u32("msr");
    s.msrs.emplace_back(index, p.u64("msr value"));
  }
  return s;
}

}  // namespace hvrun::vmm
