// Seccomp: Docker-format JSON profiles compiled with libseccomp. The default
// profile (seccomp_default.cpp) is data in the same format, so one parser
// serves both. Compiled in the parent before clone, loaded by the child
// right before exec.
#pragma once
#include <linux/filter.h>

#include <string>
#include <vector>

#include "container/capabilities.hpp"
#include "container/spec.hpp"

namespace hvrun::container {

// A compiled BPF program; empty means no filter ("unconfined").
struct SeccompProgram {
  std::vector<sock_filter> insns;
  bool empty() const { return insns.empty(); }
};

// Our copy of Docker's default profile (JSON text).
const std::string& default_seccomp_profile();
// "strict": the default profile less the rule that allows ptrace and
// process_vm_readv/writev without CAP_SYS_PTRACE (hvrun's default before it
// followed Docker's).
const std::string& strict_seccomp_profile();

// The mount guard (JSON text, same format): every syscall allowed except
// those that mount, unmount, move, reconfigure or pivot a mount, which get
// EPERM whatever the capabilities. Loaded beside the profile (filters stack,
// the stricter answer wins) for every workload but a --privileged one, so
// --cap-add SYS_ADMIN cannot remount /sys or /proc/sys read-write or unmount
// a masked path, whatever profile is in force. It stands in for the `deny
// mount` rule of Docker's AppArmor profile (docs/security.md).
const std::string& mount_guard_profile();

// `profile` is "default", "strict", "unconfined", "" (= default) or a Docker-format
// JSON profile. `caps` selects the capability-gated rules ("includes":
// {"caps": [...]}), as Docker does. Throws Error for a malformed profile.
// Compiled programs are cached on disk in kSeccompCacheDir (root-owned,
// 0700; a tmpfs in the VM guest) keyed by everything they depend on, so
// libseccomp runs once per (profile, capability set, arch, kernel, libseccomp
// version); a missing, foreign or corrupt cache falls back to compiling.
extern const char* const kSeccompCacheDir;  // "/run/hvrun/seccomp"
SeccompProgram compile_seccomp(const std::string& profile, CapSet caps);
// The same for the RunSpec's choice (Unconfined: no filter).
SeccompProgram compile_seccomp(const Seccomp& choice, CapSet caps);
// The same with another cache directory ("" = no cache: always compile).
SeccompProgram compile_seccomp(const std::string& profile, CapSet caps, const std::string& cache_dir);

// Child side: installs the filter in the calling thread (needs
// no_new_privs or CAP_SYS_ADMIN: without no_new_privs, load it before the
// capabilities are dropped). No-op for an empty program.
void load_seccomp(const SeccompProgram& prog);

}  // namespace hvrun::container
