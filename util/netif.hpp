// Network interfaces by ioctl, for the small static programs (guest-init,
// hvrun-vmm) and the container's own lo: MAC text, link up, MTU, a bridge
// port. The host's networks are wired over netlink instead (net/netlink.hpp).
#pragma once
#include <string>

namespace hvrun {

// "02:42:0a:58:00:05" (hex digits in either case) -> 6 bytes; false if malformed.
bool parse_mac(const std::string& text, unsigned char out[6]);

// Sets IFF_UP on the interface (nothing when it is up already). Throws Error
// naming the interface.
void link_up(const std::string& ifname);
// Clears IFF_UP (nothing when it is down already).
void link_down(const std::string& ifname);
// Sets the interface's MTU.
void set_mtu(const std::string& ifname, int mtu);
// Makes `ifname` a port of the Linux bridge `bridge` (SIOCBRADDIF).
void join_bridge(const std::string& bridge, const std::string& ifname);

}  // namespace hvrun
