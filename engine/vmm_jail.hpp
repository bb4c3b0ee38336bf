// Who hvrun-vmm becomes in its jail (vmm/jail.hpp): the hvrun-vmm system
// user that scripts/setup.sh makes, or nobody (65534) where there is none.
// HVRUN_VMM_JAIL=off runs the VMM unjailed (for debugging a VMM killed by
// its seccomp filter; `hvrun check` and `hvrun inspect` then say so). A
// non-root hvrun cannot jail (nor would it need to drop root).
//
// The VMM's own cgroup (make_vmm_cgroup): where a container's would be
// (<cgroup parent>/<id>, so `hvrun rm` and the record cleanup remove it),
// memory capped at guest RAM plus kVmmOwnMemory for the VMM itself (virtio
// and 9p buffers, thread stacks, page cache of its disks), no swap, and
// pids capped at its threads plus slack: a VMM taken over by a guest cannot
// take more of the host than that.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "container/cgroups.hpp"
#include "container/spec.hpp"
#include "vmm/jail.hpp"

namespace hvrun::engine {

struct VmmJailChoice {
  vmm::JailConfig config;  // enabled, uid, gid
  std::string user;        // "hvrun-vmm" or "nobody"
  std::string why_not;     // when !config.enabled: why
};

VmmJailChoice choose_vmm_jail();

constexpr uint64_t kVmmOwnMemory = 256ull << 20;
constexpr int64_t kVmmSparePids = 16;
// A v1 device cgroup denies every node but a container's: the VMM needs /dev/kvm.
constexpr const char* kKvmDeviceRule = "c 10:232 rwm";

struct VmmCgroup {
  std::unique_ptr<container::Cgroup> cgroup;  // null: none (why_not says why)
  // Opened by the monitor; the VMM's process writes "0" to each before it
  // execs (async-signal-safe), so every page it touches is charged here.
  std::vector<container::Cgroup::JoinFile> join;
  int64_t memory_max = 0;
  std::string why_not;
};

// Makes the cgroup (as root only; never throws: a host without a usable
// cgroup hierarchy runs the VMM without one, and why_not says why).
VmmCgroup make_vmm_cgroup(const container::RunSpec& spec, uint64_t guest_mem_bytes, unsigned threads);

}  // namespace hvrun::engine
