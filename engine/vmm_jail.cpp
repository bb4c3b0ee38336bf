#include "engine/vmm_jail.hpp"

#include <fcntl.h>
#include <pwd.h>
#include <unistd.h>

#include <cstdlib>
#include <exception>
#include <string>

#include "util/error.hpp"

namespace hvrun::engine {

VmmJailChoice choose_vmm_jail() {
  VmmJailChoice c;
  if (const char* e = std::getenv("HVRUN_VMM_JAIL"); e && std::string(e) == "off") {
    c.why_not = "HVRUN_VMM_JAIL=off";
    return c;
  }
  if (::geteuid() != 0) {
    c.why_not = "hvrun is not running as root";
    return c;
  }
  c.config.enabled = true;
  if (const passwd* pw = ::getpwnam("hvrun-vmm"); pw && pw->pw_uid != 0 && pw->pw_gid != 0) {
    c.config.uid = pw->pw_uid;
    c.config.gid = pw->pw_gid;
    c.user = "hvrun-vmm";
  } else {
    c.user = "nobody";  // JailConfig's default 65534:65534
  }
  return c;
}

VmmCgroup make_vmm_cgroup(const container::RunSpec& spec, uint64_t guest_mem_bytes, unsigned threads) {
  VmmCgroup v;
  if (::geteuid() != 0) {
    v.why_not = "hvrun is not running as root";
    return v;
  }
  try {
    const std::string root = spec.cgroup_root.empty() ? "/sys/fs/cgroup" : spec.cgroup_root;
    auto cg = container::Cgroup::for_container(spec.cgroup_parent, spec.id, root);
    container::CgroupLimits limits;
    limits.memory_bytes = int64_t(guest_mem_bytes + kVmmOwnMemory);
    limits.pids_limit = int64_t(threads) + kVmmSparePids;
    limits.allow_devices = {kKvmDeviceRule};  // it opens /dev/kvm after it joined
    cg->create(limits);
    v.join = cg->open_join_files();
    if (v.join.empty()) {  // v2: the process's own cgroup.procs, "0" = itself
      const std::string procs = cg->path() + "/cgroup.procs";
      UniqueFd fd(::open(procs.c_str(), O_WRONLY | O_CLOEXEC));
      if (!fd) throw_sys("open", procs);
      v.join.push_back({std::move(fd), procs});
    }
    v.memory_max = limits.memory_bytes;
    v.cgroup = std::move(cg);
  } catch (const std::exception& e) {
    v.join.clear();
    v.why_not = e.what();
  }
  return v;
}

}  // namespace hvrun::engine
