// Capabilities: Docker's default set, --cap-add/--cap-drop resolution and
// applying the result to all five sets (bounding, effective, permitted,
// inheritable, ambient) in the process about to exec the workload.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace hvrun::container {

// Bit mask of capabilities (bit N = capability N).
using CapSet = uint64_t;

// Docker's 14: CHOWN DAC_OVERRIDE FSETID FOWNER MKNOD NET_RAW SETGID SETUID
// SETFCAP SETPCAP NET_BIND_SERVICE SYS_CHROOT KILL AUDIT_WRITE = 0xa80425fb.
CapSet default_capabilities();
// Every capability the running kernel knows.
CapSet all_capabilities();
// "NET_ADMIN", "cap_net_admin", "CAP_NET_ADMIN" -> number; throws Error for unknown names.
int capability_from_name(const std::string& name);
// Docker semantics: start from the default set (all of them with add ALL),
// drop ALL clears it, named drops are removed, named adds are added.
CapSet resolve_capabilities(const std::vector<std::string>& add, const std::vector<std::string>& drop);

// Child side, in this order around the uid switch:
//   drop_bounding_set(keep)  -- needs CAP_SETPCAP, so before dropping anything
//   keep_caps_across_setuid()
//   ...setgroups/setresgid/setresuid...
//   apply_capabilities(keep) -- effective = permitted = keep, inheritable = 0, ambient cleared
// Inheritable and ambient stay empty (as Docker since CVE-2022-24769): a
// non-root user gets no capabilities after exec, root gets `keep`.
void drop_bounding_set(CapSet keep);
void keep_caps_across_setuid();
void apply_capabilities(CapSet keep);

}  // namespace hvrun::container
