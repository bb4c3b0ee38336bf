// Who hvrun-vmm becomes in its jail (vmm/jail.hpp): the hvrun-vmm system
// user that scripts/setup.sh makes, or nobody (65534) where there is none.
// HVRUN_VMM_JAIL=off runs the VMM unjailed (for debugging a VMM killed by
// its seccomp filter; `hvrun check` and `hvrun inspect` then say so). A
// non-root hvrun cannot jail (nor would it need to drop root).
#pragma once
#include <string>

#include "vmm/jail.hpp"

namespace hvrun::engine {

struct VmmJailChoice {
  vmm::JailConfig config;  // enabled, uid, gid
  std::string user;        // "hvrun-vmm" or "nobody"
  std::string why_not;     // when !config.enabled: why
};

VmmJailChoice choose_vmm_jail();

}  // namespace hvrun::engine
