// Kernel parameters (/proc/sys) a container sets in its own namespaces
// (an OCI config's linux.sysctl, Docker's --sysctl). Only those the kernel
// keeps per namespace are allowed, as runc allows them: the ipc ones
// (kernel.msg*, kernel.sem, kernel.shm*, fs.mqueue.*), kernel.domainname
// (kernel.hostname is the config's hostname) and, in a network namespace
// of the container's own or one it joined, net.*; a namespace joined by
// path that is the runtime's own takes none of its kind. Any other would
// change the host. Keys are dotted or, as runc takes them, slashed. The
// writes go through the runtime's /proc (never one the container shaped);
// a runtime whose /proc/sys is read-only (itself inside an unprivileged
// container) cannot set them.
#pragma once
#include <map>
#include <string>

namespace hvrun::container {

// Why `key` may not be set ("" when it may): `own_net` says the container
// is in a network namespace that is not the host's.
std::string sysctl_refusal(const std::string& key, bool own_net);

// Why `value` may not be written ("" when it may): one value, no NUL, no
// newline but a trailing one.
std::string sysctl_value_refusal(const std::string& value);

// Parent side, before the clone: a namespace joined by path (-1: a new
// one) that is the runtime's own must not take a sysctl of its kind.
void check_sysctl_namespaces(const std::map<std::string, std::string>& sysctls, int joined_net, int joined_ipc,
                             int joined_uts);

// Those of `sysctls` kept by a network, ipc or uts namespace, for each kind
// selected: the runtime sets those of joined namespaces, the child the rest.
std::map<std::string, std::string> sysctls_kept_by(const std::map<std::string, std::string>& sysctls, bool net,
                                                   bool ipc, bool uts);

// In the namespaces they belong to (the child in its own before
// pivot_root, the runtime's cloning thread in joined ones): writes each
// value to /proc/sys/KEY (dots become slashes). Throws naming the key.
void apply_sysctls(const std::map<std::string, std::string>& sysctls);

}  // namespace hvrun::container
