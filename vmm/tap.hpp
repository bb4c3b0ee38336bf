// Host side of a VM's network card: a tap device (the VMM's virtio-net
// backend) and the ioctls that join it to a Linux bridge and bring it up.
// The tap is NOT persistent: it disappears when the last fd to it closes, so
// a VMM killed with SIGKILL leaves no interface behind.
#pragma once
#include <string>

#include "util/fd.hpp"

namespace hvrun::vmm {

// Size of the virtio_net_hdr (virtio 1.x, with num_buffers) that every
// packet read from / written to the tap carries first.
constexpr int kVnetHdrLen = 12;

// Opens /dev/net/tun as a tap named `name` (a "%d" in it lets the kernel
// pick a free number) with IFF_TAP | IFF_NO_PI | IFF_VNET_HDR and a 12-byte
// vnet header; the fd is O_NONBLOCK | O_CLOEXEC. The interface's actual name
// goes to *actual when given. Throws Error (e.g. name too long, no
// /dev/net/tun, name taken).
UniqueFd open_tap(const std::string& name, std::string* actual = nullptr);

// Sets IFF_UP on the interface.
void link_up(const std::string& ifname);
// Sets the interface's MTU.
void set_mtu(const std::string& ifname, int mtu);
// Makes `ifname` a port of the Linux bridge `bridge` (SIOCBRADDIF).
void join_bridge(const std::string& bridge, const std::string& ifname);

// "02:42:0a:58:00:05" -> 6 bytes; false if malformed.
bool parse_mac(const std::string& text, unsigned char out[6]);

}  // namespace hvrun::vmm
