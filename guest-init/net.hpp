// The guest's network, set up by guest-init before the workload starts when
// the GuestSpec has one (contract/guest_spec.hpp): the virtio-net card gets
// the name, MTU, address and default route of its network plan; lo comes
// up. The workload then runs on this network (its net is "host" in the
// guest). Plain ioctls: guest-init is a small static binary.
#pragma once
#include <cstdint>
#include <string>

#include "contract/guest_spec.hpp"

namespace hvrun::guestinit {

// "10.88.0.5" -> network byte order; throws hvrun::Error naming `what`.
uint32_t parse_ipv4(const std::string& text, const std::string& what);
// 24 -> 0xffffff00 (host byte order); throws for a prefix outside 0-32.
uint32_t prefix_to_netmask(int prefix);

// Finds the network card (the interface whose MAC is n.mac; with no MAC, the
// only non-loopback interface), waiting up to `wait_ms` for it to appear,
// renames it to n.ifname, sets n.mtu, n.address/n.prefix, brings it and lo
// up, and adds the default route via n.gateway (if any). Throws
// hvrun::Error saying which step failed.
void configure_guest_net(const contract::GuestNetwork& n, int wait_ms = 2000);

}  // namespace hvrun::guestinit
