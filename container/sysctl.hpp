// Kernel parameters (/proc/sys) a container sets in its own namespaces
// (an OCI config's linux.sysctl, Docker's --sysctl). Only those the kernel
// keeps per namespace are allowed, as runc allows them: the ipc ones
// (kernel.msg*, kernel.sem, kernel.shm*, fs.mqueue.*), the uts ones
// (kernel.hostname, kernel.domainname) and, in a network namespace of the
// container's own or one it joined, net.*. Any other would change the host.
#pragma once
#include <map>
#include <string>

namespace hvrun::container {

// Why `key` may not be set ("" when it may): `own_net` says the container
// is in a network namespace that is not the host's.
std::string sysctl_refusal(const std::string& key, bool own_net);

// Child side, in the container's namespaces, before pivot_root: writes
// each value to /proc/sys/KEY (dots become slashes). Throws naming the key.
void apply_sysctls(const std::map<std::string, std::string>& sysctls);

}  // namespace hvrun::container
