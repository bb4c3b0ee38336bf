// A microVM's network card in a network namespace made for it (podman's
// netavark or CNI, a Kubernetes CNI plugin): the VM takes over the
// namespace's interface, as Kata's bridged mode does.
//
//   The interface (eth0, else a veth, else one with an IPv4 address; never
//   a port of a bridge) gives its MAC, IPv4 address, MTU and the
//   namespace's default gateway to the guest's card; it keeps no address
//   of its own, takes a new MAC and becomes a port of a bridge
//   (kVmNetBridge) in the namespace that the VM's tap joins when the VM
//   boots. Frames then pass between the veth and the guest unchanged: the
//   peer (podman's bridge) sees the guest's MAC and address as it saw the
//   container's. release_network_namespace puts the interface back as it
//   was (delete; a create that fails half-way does the same), so the
//   namespace can be given to the next container (a pod's restarted one).
//
// One microVM per namespace: a namespace whose interface another VM holds
// is refused. A macvlan or ipvlan interface (whose MAC its parent filters
// on) cannot be taken over this way: refused. IPv6 addresses are not
// taken over (a warning says so).
#pragma once
#include <functional>
#include <map>
#include <string>

#include "container/spec.hpp"
#include "util/fd.hpp"

namespace hvrun::oci {

inline constexpr const char* kVmNetBridge = "hvrun-vmbr0";

struct VmNetwork {
  container::NetMode net = container::NetMode::None;  // Bridge: `card` is the guest's
  container::NetConfig card;                           // bridge kVmNetBridge
  UniqueFd netns;  // the namespace (the shim boots the VM from inside it)
};

// Takes over the interface of the network namespace at `netns_path`; net
// None (loopback only) when it has no interface but lo. On an error the
// namespace is left as it was.
VmNetwork adopt_network_namespace(const std::string& netns_path, const std::function<void(const std::string&)>& warn);

// A Kubernetes pod's sandbox (its pause container), as containerd's CRI
// ("io.kubernetes.cri.container-type") and CRI-O mark it: it only holds
// the pod's namespaces, so its microVM leaves the interface to the pod's
// container (the one microVM of the namespace that needs the network).
bool is_pod_sandbox(const std::map<std::string, std::string>& annotations);

// Gives `card` (what adopt returned) back to the interface it came from:
// its MAC, address and default route, and removes the bridge. A namespace
// that is gone (its engine removed it) is no error.
void release_network_namespace(const std::string& netns_path, const container::NetConfig& card);

}  // namespace hvrun::oci
