#include "vmm/kvm_kind.hpp"

#include <fcntl.h>
#include <linux/kvm.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "util/error.hpp"
#include "util/fs.hpp"

namespace hvrun::vmm {

std::string_view to_string(KvmKind kind) {
  switch (kind) {
    case KvmKind::None: return "none";
    case KvmKind::Vmx: return "vt-x";
    case KvmKind::Svm: return "amd-v";
    case KvmKind::Pvm: return "pvm";
    case KvmKind::Unknown: return "unknown";
  }
  return "unknown";
}

namespace {

// Looks for a word in the first "flags" line of /proc/cpuinfo.
void read_cpu_flags(const std::string& path, bool& vmx, bool& svm) {
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("flags", 0) != 0) continue;
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::istringstream words(line.substr(colon + 1));
    std::string w;
    while (words >> w) {
      if (w == "vmx") vmx = true;
      if (w == "svm") svm = true;
    }
    return;
  }
}

}  // namespace

KvmInfo detect_kvm(const std::string& root) {
  KvmInfo info;
  read_cpu_flags(root + "/proc/cpuinfo", info.cpu_vmx, info.cpu_svm);
  for (const char* m : {"kvm_intel", "kvm_amd", "kvm_pvm"}) {
    if (path_exists(root + "/sys/module/" + m)) {
      info.module = m;
      break;
    }
  }
  const std::string dev = root + "/dev/kvm";
  info.dev_present = path_exists(dev);
  if (info.dev_present) {
    int fd = ::open(dev.c_str(), O_RDWR | O_CLOEXEC);
    if (fd >= 0) {
      // A fake /dev/kvm (a plain file, in tests) answers ENOTTY: present, not usable.
      int v = ::ioctl(fd, KVM_GET_API_VERSION, 0);
      ::close(fd);
      if (v >= 0) {
        info.api_version = v;
        info.dev_usable = (v == KVM_API_VERSION);
      }
    }
  }

  const bool pvm = info.module == "kvm_pvm";
  if (!info.dev_present) {
    info.kind = KvmKind::None;
    if (!info.cpu_vmx && !info.cpu_svm)
      info.explanation =
          "no /dev/kvm and the CPU shows no vmx/svm flag: this machine offers no hardware virtualization, "
          "so --vm cannot run here directly (--container can). Way out: run VM mode inside the nested test "
          "host (scripts/vmhost -- hvrun --vm ..., slow but real) or on a machine with VT-x/AMD-V (on a cloud "
          "VM, ask for nested virtualization)";
    else
      info.explanation = std::string("no /dev/kvm although the CPU has ") + (info.cpu_vmx ? "vmx" : "svm") +
                         ": load the module (modprobe " + (info.cpu_vmx ? "kvm_intel" : "kvm_amd") +
                         ") or enable virtualization in the firmware";
  } else if (!info.dev_usable) {
    info.kind = KvmKind::None;
    info.explanation = "/dev/kvm exists but cannot be used (open or KVM_GET_API_VERSION failed), so --vm cannot "
                       "run here: run as root or join the kvm group (a plain file there is no KVM device). Way "
                       "out meanwhile: the nested test host (scripts/vmhost -- hvrun --vm ...) or a machine with "
                       "VT-x/AMD-V";
  } else if (pvm && !info.cpu_vmx && !info.cpu_svm) {
    info.kind = KvmKind::Pvm;
    info.explanation =
        "/dev/kvm is PVM (kvm_pvm) and the CPU has no vmx/svm: guest kernel code (ring 0) is emulated "
        "instruction by instruction, ~1000x slower than native, and some instructions fail, so a stock "
        "Linux guest cannot boot in useful time here. Tiny freestanding guests do run. Way out: run VM mode "
        "inside the nested test host (scripts/vmhost -- hvrun --vm ...) or on a machine with VT-x/AMD-V";
  } else if (info.cpu_vmx || info.module == "kvm_intel") {
    info.kind = KvmKind::Vmx;
    info.explanation = "hardware virtualization (Intel VT-x): microVMs boot at native speed";
  } else if (info.cpu_svm || info.module == "kvm_amd") {
    info.kind = KvmKind::Svm;
    info.explanation = "hardware virtualization (AMD-V): microVMs boot at native speed";
  } else {
    info.kind = KvmKind::Unknown;
    info.explanation =
        "/dev/kvm works but neither kvm_intel, kvm_amd nor a vmx/svm flag is visible: guests may be slow";
  }
  return info;
}

void require_linux_capable_kvm(const KvmInfo& info) {
  if (info.boots_linux()) return;
  throw Error("cannot run a microVM on this host (KVM kind: " + std::string(to_string(info.kind)) +
              "): " + info.explanation);
}

GuestKernel find_guest_kernel() {
  GuestKernel k;
  if (const char* p = std::getenv("HVRUN_GUEST_KERNEL"); p && *p) {
    k.vmlinux = p;
  } else {
    const char* c = std::getenv("HVRUN_KERNEL_CACHE");
    std::string cache = (c && *c) ? c : "/var/cache/hvrun/kernels";
    k.vmlinux = cache + "/guest/vmlinux";
  }
  k.present = path_exists(k.vmlinux);
  auto slash = k.vmlinux.rfind('/');
  std::string release = (slash == std::string::npos ? std::string(".") : k.vmlinux.substr(0, slash)) + "/release";
  if (path_exists(release)) {
    k.release = read_file(release);
    while (!k.release.empty() && (k.release.back() == '\n' || k.release.back() == ' ')) k.release.pop_back();
  }
  return k;
}

}  // namespace hvrun::vmm
