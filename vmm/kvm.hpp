// Thin RAII wrappers over the KVM API: the system fd, a VM, its vCPUs.
// Every failing ioctl throws hvrun::Error naming the ioctl and errno.
#pragma once
#include <linux/kvm.h>
#include <sys/ioctl.h>

#include <cerrno>

#include <cstdint>
#include <memory>
#include <vector>

#include "util/error.hpp"
#include "util/fd.hpp"

namespace hvrun::vmm {

// ioctl(fd, req, arg), retried on EINTR; throws Error naming `what` and errno.
template <typename Arg>
int xioctl(int fd, unsigned long req, Arg arg, const char* what) {
  int rc;
  do rc = ::ioctl(fd, req, arg);
  while (rc < 0 && errno == EINTR);
  if (rc < 0) throw_sys(what);
  return rc;
}

// kvm_cpuid2 with room for its entries.
struct CpuidTable {
  std::vector<kvm_cpuid_entry2> entries;
};

class Kvm {
 public:
  explicit Kvm(const char* path = "/dev/kvm");
  int fd() const { return fd_.get(); }
  int vcpu_mmap_size() const { return mmap_size_; }
  bool has_cap(long cap) const;
  CpuidTable supported_cpuid() const;

 private:
  UniqueFd fd_;
  int mmap_size_ = 0;
};

class Vcpu;

class VmFd {
 public:
  explicit VmFd(const Kvm& kvm);
  int fd() const { return fd_.get(); }
  void set_memory(uint32_t slot, uint64_t gpa, uint64_t size, void* host);
  void create_irqchip();  // KVM_CREATE_IRQCHIP + KVM_CREATE_PIT2
  void set_tss_addr(uint64_t addr);  // + identity map page right below it
  // Interrupts: irqfd on a GSI (eventfd write = edge on that pin), or a direct line.
  void add_irqfd(int eventfd, uint32_t gsi);
  void irq_line(uint32_t irq, bool level);
  // ioeventfd: a `len`-byte guest write of `value` to MMIO `addr` signals `eventfd`.
  void add_ioeventfd(int eventfd, uint64_t addr, uint32_t len, uint64_t value);

 private:
  UniqueFd fd_;
};

class Vcpu {
 public:
  Vcpu(const Kvm& kvm, const VmFd& vm, unsigned id);
  int fd() const { return fd_.get(); }
  unsigned id() const { return id_; }
  kvm_run* run_struct() const { return static_cast<kvm_run*>(run_.data()); }
  kvm_regs regs() const;
  void set_regs(const kvm_regs& r);
  kvm_sregs sregs() const;
  void set_sregs(const kvm_sregs& s);
  void set_cpuid(const CpuidTable& t);
  void set_msrs(const std::vector<std::pair<uint32_t, uint64_t>>& msrs);
  // KVM_RUN; returns false on EINTR/EAGAIN (kicked), throws on other errors.
  bool run();
  // "rip=... rsp=... cr0=..." for error reports.
  std::string dump() const;

 private:
  UniqueFd fd_;
  Mapping run_;
  unsigned id_;
};

}  // namespace hvrun::vmm
