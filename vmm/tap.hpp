// Host side of a VM's network card: a tap device (the VMM's virtio-net
// backend). Joining it to a bridge is the engine's network wiring
// (engine/network.hpp, over netlink as for a veth); `hvrun vmm --net-tap`
// uses util/netif.hpp.
// The tap is NOT persistent: it disappears when the last fd to it closes, so
// a VMM killed with SIGKILL leaves no interface behind.
#pragma once
#include <sys/types.h>

#include <string>
#include <vector>

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

// The tap interfaces process `pid` holds open: the "iff:" line of each of
// its /dev/net/tun fds' /proc/PID/fdinfo (how `hvrun stats` finds a
// microVM's card, whatever name a template or restore gave it). Empty when
// it holds none, is gone or cannot be read.
std::vector<std::string> taps_held_by(pid_t pid);

}  // namespace hvrun::vmm
