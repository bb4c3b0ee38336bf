#include "util/netif.hpp"

#include <linux/if.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "util/error.hpp"
#include "util/fd.hpp"

namespace hvrun {
namespace {

ifreq make_ifreq(const std::string& name) {
  if (name.empty() || name.size() >= IFNAMSIZ) throw Error("interface name '" + name + "' must be 1-15 characters");
  if (name.find('/') != std::string::npos || name.find(' ') != std::string::npos)
    throw Error("interface name '" + name + "' holds '/' or a space");
  ifreq ifr{};
  std::memcpy(ifr.ifr_name, name.data(), name.size());
  return ifr;
}

UniqueFd ioctl_socket() {
  UniqueFd s(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!s) throw_sys("socket for interface ioctls");
  return s;
}

}  // namespace

bool parse_mac(const std::string& text, unsigned char out[6]) {
  if (text.size() != 17) return false;
  for (int i = 0; i < 6; ++i) {
    unsigned v = 0;
    for (int k = 0; k < 2; ++k) {
      char c = text[3 * i + k];
      v <<= 4;
      if (c >= '0' && c <= '9') v |= unsigned(c - '0');
      else if (c >= 'a' && c <= 'f') v |= unsigned(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F') v |= unsigned(c - 'A' + 10);
      else return false;
    }
    if (i < 5 && text[3 * i + 2] != ':') return false;
    out[i] = static_cast<unsigned char>(v);
  }
  return true;
}

void link_up(const std::string& ifname) {
  UniqueFd s = ioctl_socket();
  ifreq ifr = make_ifreq(ifname);
  check_sys(::ioctl(s.get(), SIOCGIFFLAGS, &ifr), "get flags of interface", ifname);
  if (ifr.ifr_flags & IFF_UP) return;
  ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP);
  check_sys(::ioctl(s.get(), SIOCSIFFLAGS, &ifr), "bring up interface", ifname);
}

void link_down(const std::string& ifname) {
  UniqueFd s = ioctl_socket();
  ifreq ifr = make_ifreq(ifname);
  check_sys(::ioctl(s.get(), SIOCGIFFLAGS, &ifr), "get flags of interface", ifname);
  if (!(ifr.ifr_flags & IFF_UP)) return;
  ifr.ifr_flags = static_cast<short>(ifr.ifr_flags & ~IFF_UP);
  check_sys(::ioctl(s.get(), SIOCSIFFLAGS, &ifr), "bring down interface", ifname);
}

void set_mtu(const std::string& ifname, int mtu) {
  UniqueFd s = ioctl_socket();
  ifreq ifr = make_ifreq(ifname);
  ifr.ifr_mtu = mtu;
  check_sys(::ioctl(s.get(), SIOCSIFMTU, &ifr), "set MTU " + std::to_string(mtu) + " of interface", ifname);
}

void join_bridge(const std::string& bridge, const std::string& ifname) {
  UniqueFd s = ioctl_socket();
  ifreq idx = make_ifreq(ifname);
  check_sys(::ioctl(s.get(), SIOCGIFINDEX, &idx), "find interface", ifname);
  ifreq ifr = make_ifreq(bridge);
  ifr.ifr_ifindex = idx.ifr_ifindex;
  if (::ioctl(s.get(), SIOCBRADDIF, &ifr) < 0) {
    if (errno == ENODEV || errno == EOPNOTSUPP || errno == EINVAL)
      throw_sys("add " + ifname + " to bridge", bridge + " (is it a Linux bridge?)");
    throw_sys("add " + ifname + " to bridge", bridge);
  }
}

}  // namespace hvrun
