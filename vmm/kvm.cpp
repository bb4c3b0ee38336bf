#include "vmm/kvm.hpp"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <string>

#include "util/error.hpp"

namespace hvrun::vmm {
namespace {

// <linux/kvm.h> declares kvm_cpuid2 and kvm_msrs with __DECLARE_FLEX_ARRAY,
// which C++ compiles with an extra empty member: wrong sizeof, wrong entries
// offset, wrong ioctl numbers. Use the C layout explicitly: an 8-byte header
// (count, padding) followed by the entries.
struct FlexHeader {
  uint32_t count;
  uint32_t padding;
};
static_assert(sizeof(FlexHeader) == 8);
constexpr unsigned long kGetSupportedCpuid = _IOC(_IOC_READ | _IOC_WRITE, KVMIO, 0x05, sizeof(FlexHeader));
constexpr unsigned long kSetCpuid2 = _IOC(_IOC_WRITE, KVMIO, 0x90, sizeof(FlexHeader));
constexpr unsigned long kSetMsrs = _IOC(_IOC_WRITE, KVMIO, 0x89, sizeof(FlexHeader));

}  // namespace

Kvm::Kvm(const char* path) {
  fd_.reset(::open(path, O_RDWR | O_CLOEXEC));
  if (!fd_) throw_sys("open", path);
  int api = xioctl(fd_.get(), KVM_GET_API_VERSION, 0, "KVM_GET_API_VERSION");
  if (api != KVM_API_VERSION) throw Error("KVM API version " + std::to_string(api) + " is not the supported " + std::to_string(KVM_API_VERSION));
  for (long cap : {KVM_CAP_IRQCHIP, KVM_CAP_USER_MEMORY, KVM_CAP_SET_TSS_ADDR, KVM_CAP_EXT_CPUID, KVM_CAP_IRQFD, KVM_CAP_PIT2})
    if (!has_cap(cap)) throw Error("KVM lacks a required capability (KVM_CAP #" + std::to_string(cap) + ")");
  mmap_size_ = xioctl(fd_.get(), KVM_GET_VCPU_MMAP_SIZE, 0, "KVM_GET_VCPU_MMAP_SIZE");
}

bool Kvm::has_cap(long cap) const { return ::ioctl(fd_.get(), KVM_CHECK_EXTENSION, cap) > 0; }

CpuidTable Kvm::supported_cpuid() const {
  for (size_t n = 64; n <= 4096; n *= 2) {
    std::vector<uint8_t> buf(sizeof(FlexHeader) + n * sizeof(kvm_cpuid_entry2));
    auto* h = reinterpret_cast<FlexHeader*>(buf.data());
    h->count = static_cast<uint32_t>(n);
    if (::ioctl(fd_.get(), kGetSupportedCpuid, h) == 0) {
      CpuidTable t;
      t.entries.resize(h->count);
      std::memcpy(t.entries.data(), buf.data() + sizeof(FlexHeader), h->count * sizeof(kvm_cpuid_entry2));
      return t;
    }
    if (errno != E2BIG) throw_sys("KVM_GET_SUPPORTED_CPUID");
  }
  throw Error("KVM_GET_SUPPORTED_CPUID: too many entries");
}

VmFd::VmFd(const Kvm& kvm) {
  int fd;
  do fd = ::ioctl(kvm.fd(), KVM_CREATE_VM, 0);
  while (fd < 0 && errno == EINTR);
  if (fd < 0) throw_sys("KVM_CREATE_VM");
  fd_.reset(fd);
}

void VmFd::set_memory(uint32_t slot, uint64_t gpa, uint64_t size, void* host) {
  kvm_userspace_memory_region r{};
  r.slot = slot;
  r.guest_phys_addr = gpa;
  r.memory_size = size;
  r.userspace_addr = reinterpret_cast<uint64_t>(host);
  xioctl(fd_.get(), KVM_SET_USER_MEMORY_REGION, &r, "KVM_SET_USER_MEMORY_REGION");
}

void VmFd::create_irqchip() {
  xioctl(fd_.get(), KVM_CREATE_IRQCHIP, 0, "KVM_CREATE_IRQCHIP");
  kvm_pit_config pit{};
  pit.flags = KVM_PIT_SPEAKER_DUMMY;
  xioctl(fd_.get(), KVM_CREATE_PIT2, &pit, "KVM_CREATE_PIT2");
}

void VmFd::set_tss_addr(uint64_t addr) {
  uint64_t ident = addr - 0x1000;
  xioctl(fd_.get(), KVM_SET_IDENTITY_MAP_ADDR, &ident, "KVM_SET_IDENTITY_MAP_ADDR");
  xioctl(fd_.get(), KVM_SET_TSS_ADDR, static_cast<unsigned long>(addr), "KVM_SET_TSS_ADDR");
}

void VmFd::add_irqfd(int eventfd, uint32_t gsi) {
  kvm_irqfd f{};
  f.fd = static_cast<uint32_t>(eventfd);
  f.gsi = gsi;
  xioctl(fd_.get(), KVM_IRQFD, &f, "KVM_IRQFD");
}

void VmFd::irq_line(uint32_t irq, bool level) {
  kvm_irq_level l{};
  l.irq = irq;
  l.level = level ? 1 : 0;
  xioctl(fd_.get(), KVM_IRQ_LINE, &l, "KVM_IRQ_LINE");
}

void VmFd::add_ioeventfd(int eventfd, uint64_t addr, uint32_t len, uint64_t value) {
  kvm_ioeventfd e{};
  e.datamatch = value;
  e.addr = addr;
  e.len = len;
  e.fd = eventfd;
  e.flags = KVM_IOEVENTFD_FLAG_DATAMATCH;
  xioctl(fd_.get(), KVM_IOEVENTFD, &e, "KVM_IOEVENTFD");
}

Vcpu::Vcpu(const Kvm& kvm, const VmFd& vm, unsigned id) : id_(id) {
  int fd = ::ioctl(vm.fd(), KVM_CREATE_VCPU, static_cast<unsigned long>(id));
  if (fd < 0) throw_sys("KVM_CREATE_VCPU", std::to_string(id));
  fd_.reset(fd);
  void* p = ::mmap(nullptr, static_cast<size_t>(kvm.vcpu_mmap_size()), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) throw_sys("mmap kvm_run of vcpu", std::to_string(id));
  run_ = Mapping(p, static_cast<size_t>(kvm.vcpu_mmap_size()));
}

kvm_regs Vcpu::regs() const {
  kvm_regs r{};
  xioctl(fd_.get(), KVM_GET_REGS, &r, "KVM_GET_REGS");
  return r;
}
void Vcpu::set_regs(const kvm_regs& r) { xioctl(fd_.get(), KVM_SET_REGS, &r, "KVM_SET_REGS"); }
kvm_sregs Vcpu::sregs() const {
  kvm_sregs s{};
  xioctl(fd_.get(), KVM_GET_SREGS, &s, "KVM_GET_SREGS");
  return s;
}
void Vcpu::set_sregs(const kvm_sregs& s) { xioctl(fd_.get(), KVM_SET_SREGS, &s, "KVM_SET_SREGS"); }

void Vcpu::set_cpuid(const CpuidTable& t) {
  std::vector<uint8_t> buf(sizeof(FlexHeader) + t.entries.size() * sizeof(kvm_cpuid_entry2));
  reinterpret_cast<FlexHeader*>(buf.data())->count = static_cast<uint32_t>(t.entries.size());
  std::memcpy(buf.data() + sizeof(FlexHeader), t.entries.data(), t.entries.size() * sizeof(kvm_cpuid_entry2));
  xioctl(fd_.get(), kSetCpuid2, buf.data(), "KVM_SET_CPUID2");
}

void Vcpu::set_msrs(const std::vector<std::pair<uint32_t, uint64_t>>& msrs) {
  std::vector<uint8_t> buf(sizeof(FlexHeader) + msrs.size() * sizeof(kvm_msr_entry));
  reinterpret_cast<FlexHeader*>(buf.data())->count = static_cast<uint32_t>(msrs.size());
  for (size_t i = 0; i < msrs.size(); ++i) {
    kvm_msr_entry e{};
    e.index = msrs[i].first;
    e.data = msrs[i].second;
    std::memcpy(buf.data() + sizeof(FlexHeader) + i * sizeof e, &e, sizeof e);
  }
  int n = xioctl(fd_.get(), kSetMsrs, buf.data(), "KVM_SET_MSRS");
  if (static_cast<size_t>(n) != msrs.size()) throw Error("KVM_SET_MSRS: set only " + std::to_string(n) + " of " + std::to_string(msrs.size()) + " MSRs");
}

bool Vcpu::run() {
  if (::ioctl(fd_.get(), KVM_RUN, 0) == 0) return true;
  if (errno == EINTR || errno == EAGAIN) return false;
  throw_sys("KVM_RUN", "vcpu " + std::to_string(id_));
}

std::string Vcpu::dump() const {
  kvm_regs r{};
  kvm_sregs s{};
  if (::ioctl(fd_.get(), KVM_GET_REGS, &r) < 0 || ::ioctl(fd_.get(), KVM_GET_SREGS, &s) < 0) return "(registers unavailable)";
  char b[640];
  std::snprintf(b, sizeof b,
                "vcpu %u: rip=0x%llx rsp=0x%llx rflags=0x%llx rax=0x%llx rbx=0x%llx rcx=0x%llx rdx=0x%llx rsi=0x%llx rdi=0x%llx rbp=0x%llx "
                "cr0=0x%llx cr2=0x%llx cr3=0x%llx cr4=0x%llx efer=0x%llx cs=0x%x(l=%u db=%u dpl=%u) ss=0x%x",
                id_, r.rip, r.rsp, r.rflags, r.rax, r.rbx, r.rcx, r.rdx, r.rsi, r.rdi, r.rbp, s.cr0, s.cr2, s.cr3, s.cr4, s.efer,
                s.cs.selector, s.cs.l, s.cs.db, s.cs.dpl, s.ss.selector);
  return b;
}

}  // namespace hvrun::vmm
