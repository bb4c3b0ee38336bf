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
// hvrun::Error saying which step failed. adopt_only_card: a VM restored
// from a template, whose one card still has the template's MAC: no card
// with n.mac and exactly one other is that card, and it takes n.mac.
void configure_guest_net(const contract::GuestNetwork& n, int wait_ms = 2000, bool adopt_only_card = false);

// A clone restored from a snapshot (control.hpp's RestoredMsg): the card
// the snapshot's guest configured (named n.ifname, up, with the old MAC,
// address and routes) is taken down, given n's MAC, MTU and address, and
// brought up with n's default route. Its sockets stay; connections to the
// old address are gone, as on any re-addressed host. Throws hvrun::Error
// saying which step failed.
void readdress_guest_net(const contract::GuestNetwork& n);

}  // namespace hvrun::guestinit
