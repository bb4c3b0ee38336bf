// What kind of KVM this host offers, and whether a stock Linux guest can boot
// on it in useful time. Used by `hvrun check` and by `hvrun --vm` to refuse
// fast (with the reason and the way out) instead of hanging on a PVM host.
// See ../shared/notes/kvm-on-these-machines.md.
#pragma once
#include <string>
#include <string_view>

namespace hvrun::vmm {

enum class KvmKind {
  None,     // no /dev/kvm (or it cannot be opened)
  Vmx,      // Intel VT-x (vmx flag / kvm_intel)
  Svm,      // AMD-V (svm flag / kvm_amd)
  Pvm,      // kvm_pvm without vmx/svm: guest ring 0 is emulated, Linux crawls
  Unknown,  // /dev/kvm works but none of the above can be told
};

std::string_view to_string(KvmKind kind);  // "none", "vt-x", "amd-v", "pvm", "unknown"

struct KvmInfo {
  KvmKind kind = KvmKind::None;
  bool dev_present = false;  // /dev/kvm exists
  bool dev_usable = false;   // opened read-write and answered KVM_GET_API_VERSION
  int api_version = -1;
  std::string module;        // kvm_intel | kvm_amd | kvm_pvm | "" (none of them in /sys/module)
  bool cpu_vmx = false;      // from /proc/cpuinfo flags
  bool cpu_svm = false;
  std::string explanation;   // plain words: what this means for --vm (and the way out)
  // True when a normal Linux guest kernel boots at hardware speed here.
  bool boots_linux() const { return kind == KvmKind::Vmx || kind == KvmKind::Svm; }
};

// Reads <root>/proc/cpuinfo, <root>/sys/module/kvm_*, and opens <root>/dev/kvm.
// `root` lets tests point it at a fake tree; "" means the real machine.
KvmInfo detect_kvm(const std::string& root = "");

// Throws hvrun::Error carrying info.explanation unless info.boots_linux().
void require_linux_capable_kvm(const KvmInfo& info);

// Where the guest kernel built by scripts/build-kernel.sh lives:
// $HVRUN_GUEST_KERNEL (a vmlinux) if set, else
// ${HVRUN_KERNEL_CACHE:-/var/cache/hvrun/kernels}/guest/vmlinux.
struct GuestKernel {
  std::string vmlinux;  // path (may not exist)
  std::string release;  // from the "release" file next to it; "" if unknown
  bool present = false;
};
GuestKernel find_guest_kernel();

}  // namespace hvrun::vmm
