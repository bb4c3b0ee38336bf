// A microVM's network card in a network namespace made for it (podman's
// netavark or CNI, a Kubernetes CNI plugin): the VM takes over the
// namespace's interface, as Kata's bridged mode does.
//
//   The interface (the one with an IPv4 address, eth0 first: a veth's end)
//   gives its MAC, addresses, MTU and the namespace's default gateway to
//   the guest's card; it keeps no address of its own, takes a new MAC and
//   becomes a port of a bridge (kVmNetBridge) in the namespace that the
//   VM's tap joins when the VM boots. Frames then pass between the veth
//   and the guest unchanged: the peer (podman's bridge) sees the guest's
//   MAC and address as it saw the container's.
//
// One microVM per namespace: a namespace whose interface another VM took
// is refused. A macvlan or ipvlan interface (whose MAC its parent
// filters on) cannot be taken over this way.
#pragma once
#include <functional>
#include <string>

#include "container/spec.hpp"

namespace hvrun::oci {

inline constexpr const char* kVmNetBridge = "hvrun-vmbr0";

// Takes over the interface of the network namespace at `netns_path`:
// returns the guest's card (bridge kVmNetBridge); net = None (loopback only)
// when the namespace has no interface but lo.
struct VmNetwork {
  container::NetMode net = container::NetMode::None;
  container::NetConfig card;
};
VmNetwork adopt_network_namespace(const std::string& netns_path, const std::function<void(const std::string&)>& warn);

}  // namespace hvrun::oci
