#include "guest-init/net.hpp"

#include <arpa/inet.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <net/route.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

#include "util/error.hpp"
#include "util/fd.hpp"
#include "util/netif.hpp"

namespace hvrun::guestinit {
namespace {

ifreq make_ifreq(const std::string& name) {
  if (name.empty() || name.size() >= IFNAMSIZ) throw Error("interface name '" + name + "' must be 1-15 characters");
  ifreq ifr{};
  std::memcpy(ifr.ifr_name, name.data(), name.size());
  return ifr;
}

sockaddr in_addr_of(uint32_t net_order) {
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_addr.s_addr = net_order;
  sockaddr sa{};
  std::memcpy(&sa, &sin, sizeof sin);
  return sa;
}

std::string mac_of(int sock, const std::string& ifname) {
  ifreq ifr = make_ifreq(ifname);
  if (::ioctl(sock, SIOCGIFHWADDR, &ifr) < 0) return "";
  char buf[18];
  const auto* m = reinterpret_cast<const unsigned char*>(ifr.ifr_hwaddr.sa_data);
  std::snprintf(buf, sizeof buf, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
  return buf;
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// The card's current name, or "" when not (yet) there.
std::string find_card(int sock, const std::string& mac, std::string* why) {
  std::vector<std::string> others;
  if (struct if_nameindex* list = ::if_nameindex()) {
    for (auto* p = list; p->if_index != 0; ++p) {
      std::string name = p->if_name;
      if (name == "lo") continue;
      others.push_back(name);
    }
    ::if_freenameindex(list);
  }
  if (mac.empty()) {
    if (others.size() == 1) return others[0];
    *why = others.empty() ? "no network interface besides lo" : "several network interfaces and no MAC to choose by";
    return "";
  }
  for (const auto& name : others)
    if (mac_of(sock, name) == lower(mac)) return name;
  *why = "no network interface with MAC " + mac;
  return "";
}

// Gives (down) interface `ifname` the MAC `mac` ("02:42:0a:...").
void set_mac(int sock, const std::string& ifname, const std::string& mac) {
  unsigned b[6];
  char end;
  if (std::sscanf(mac.c_str(), "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5], &end) != 6)
    throw Error("network setup: MAC '" + mac + "' is not six hex bytes");
  ifreq ifr = make_ifreq(ifname);
  ifr.ifr_hwaddr.sa_family = ARPHRD_ETHER;
  for (int i = 0; i < 6; ++i) ifr.ifr_hwaddr.sa_data[i] = static_cast<char>(b[i]);
  check_sys(::ioctl(sock, SIOCSIFHWADDR, &ifr), "set MAC " + mac + " of", ifname);
}

}  // namespace

uint32_t parse_ipv4(const std::string& text, const std::string& what) {
  in_addr a{};
  if (::inet_pton(AF_INET, text.c_str(), &a) != 1) throw Error(what + " '" + text + "' is not an IPv4 address");
  return a.s_addr;
}

uint32_t prefix_to_netmask(int prefix) {
  if (prefix < 0 || prefix > 32) throw Error("network prefix /" + std::to_string(prefix) + " is not 0-32");
  return prefix == 0 ? 0 : ~uint32_t{0} << (32 - prefix);
}

void configure_guest_net(const contract::GuestNetwork& n, int wait_ms, bool adopt_only_card) {
  const uint32_t addr = parse_ipv4(n.address, "guest address");
  const uint32_t mask = htonl(prefix_to_netmask(n.prefix));
  const uint32_t gw = n.gateway.empty() ? 0 : parse_ipv4(n.gateway, "gateway");
  if (n.mtu < 68 || n.mtu > 65535) throw Error("MTU " + std::to_string(n.mtu) + " is not 68-65535");
  UniqueFd s(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!s) throw_sys("socket for network setup");
  const int sock = s.get();

  std::string why, card;
  for (int waited = 0;; waited += 10) {  // virtio probing normally ends before init runs
    card = find_card(sock, n.mac, &why);
    if (card.empty() && !n.mac.empty() && adopt_only_card) {
      // A VM restored from a template (engine/vm_template.hpp): its one
      // card is the host's, but the guest's driver still holds the MAC it
      // read when the template booted. It takes the host's (still down).
      std::string unused;
      if (std::string only = find_card(sock, "", &unused); !only.empty()) {
        set_mac(sock, only, n.mac);
        card = only;
      }
    }
    if (!card.empty() || waited >= wait_ms) break;
    ::usleep(10000);
  }
  if (card.empty()) throw Error("network setup: " + why);

  const std::string& name = n.ifname.empty() ? card : n.ifname;
  if (card != name) {  // rename (the card is still down)
    ifreq ifr = make_ifreq(card);
    ifreq tmp = make_ifreq(name);
    std::memcpy(ifr.ifr_newname, tmp.ifr_name, IFNAMSIZ);
    check_sys(::ioctl(sock, SIOCSIFNAME, &ifr), "rename network interface " + card + " to", name);
  }
  ifreq ifr = make_ifreq(name);
  ifr.ifr_mtu = n.mtu;
  check_sys(::ioctl(sock, SIOCSIFMTU, &ifr), "set MTU " + std::to_string(n.mtu) + " of", name);
  ifr = make_ifreq(name);
  ifr.ifr_addr = in_addr_of(addr);
  check_sys(::ioctl(sock, SIOCSIFADDR, &ifr), "set address " + n.address + " of", name);
  ifr = make_ifreq(name);
  ifr.ifr_netmask = in_addr_of(mask);
  check_sys(::ioctl(sock, SIOCSIFNETMASK, &ifr), "set netmask /" + std::to_string(n.prefix) + " of", name);
  link_up("lo");
  link_up(name);
  if (gw) {
    rtentry rt{};
    rt.rt_dst = in_addr_of(0);
    rt.rt_genmask = in_addr_of(0);
    rt.rt_gateway = in_addr_of(gw);
    rt.rt_flags = RTF_UP | RTF_GATEWAY;
    std::string dev = name;
    rt.rt_dev = dev.data();
    // EEXIST: a re-addressed card's route survived (readdress_guest_net).
    if (::ioctl(sock, SIOCADDRT, &rt) < 0 && errno != EEXIST)
      throw_sys("add default route via " + n.gateway + " on", name);
  }
}

void readdress_guest_net(const contract::GuestNetwork& n) {
  // Down first: the MAC changes only on a card that is down (set_mac), and
  // the old address's routes go with it. (parse_guest_network refuses a
  // plan without an interface name.)
  link_down(n.ifname);
  configure_guest_net(n, 0, true);
}

}  // namespace hvrun::guestinit
