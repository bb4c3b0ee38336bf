#include "net/netlink.hpp"

#include <arpa/inet.h>
#include <net/if.h>
#include <libmnl/libmnl.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <sched.h>

#include <cstdio>
#include <cstring>
#include <exception>
#include <thread>
#include <vector>

#include "util/error.hpp"
#include "util/netif.hpp"

namespace hvrun::net {

namespace {

std::vector<uint8_t> mac_bytes(const std::string& s) {
  unsigned char m[6];
  if (!parse_mac(s, m)) throw Error("invalid MAC address \"" + s + "\"");
  return {m, m + 6};
}

struct Msg {
  std::vector<char> buf = std::vector<char>(MNL_SOCKET_BUFFER_SIZE);
  nlmsghdr* nlh;
  Msg(uint16_t type, uint16_t flags) {
    nlh = mnl_nlmsg_put_header(buf.data());
    nlh->nlmsg_type = type;
    nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
  }
  template <typename T>
  T* extra() {
    return static_cast<T*>(mnl_nlmsg_put_extra_header(nlh, sizeof(T)));
  }
};

// A new link's header, name, MTU and kind; returns the IFLA_LINKINFO nest
// (still open: the caller may add IFLA_INFO_DATA, then ends it).
nlattr* put_new_link(Msg& m, const std::string& name, int mtu, const char* kind) {
  auto* ifi = m.extra<ifinfomsg>();
  ifi->ifi_family = AF_UNSPEC;
  mnl_attr_put_strz(m.nlh, IFLA_IFNAME, name.c_str());
  mnl_attr_put_u32(m.nlh, IFLA_MTU, static_cast<uint32_t>(mtu));
  nlattr* li = mnl_attr_nest_start(m.nlh, IFLA_LINKINFO);
  mnl_attr_put_strz(m.nlh, IFLA_INFO_KIND, kind);
  return li;
}

// Each attribute of a message after its `offset`-byte header (libmnl's
// mnl_attr_for_each, which C++ cannot compile).
void for_each_attr(const nlmsghdr* n, size_t offset, const std::function<void(const nlattr*)>& fn) {
  const char* tail = static_cast<const char*>(mnl_nlmsg_get_payload_tail(n));
  for (auto* a = static_cast<const nlattr*>(mnl_nlmsg_get_payload_offset(n, offset));
       mnl_attr_ok(a, static_cast<int>(tail - reinterpret_cast<const char*>(a))); a = mnl_attr_next(a))
    fn(a);
}
// Each attribute nested in `nest`.
void for_each_nested(const nlattr* nest, const std::function<void(const nlattr*)>& fn) {
  const char* tail = static_cast<const char*>(mnl_attr_get_payload(nest)) + mnl_attr_get_payload_len(nest);
  for (auto* a = static_cast<const nlattr*>(mnl_attr_get_payload(nest));
       mnl_attr_ok(a, static_cast<int>(tail - reinterpret_cast<const char*>(a))); a = mnl_attr_next(a))
    fn(a);
}

}  // namespace

Netlink::Netlink() {
  sock_ = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
  if (!sock_) throw_sys("netlink socket");
  if (mnl_socket_bind(sock_, 0, MNL_SOCKET_AUTOPID) < 0) {
    int e = errno;
    mnl_socket_close(sock_);
    throw_sys("netlink bind", e);
  }
  portid_ = mnl_socket_get_portid(sock_);
}

Netlink::~Netlink() {
  if (sock_) mnl_socket_close(sock_);
}

int Netlink::request(nlmsghdr* nlh) {
  nlh->nlmsg_seq = ++seq_;
  if (mnl_socket_sendto(sock_, nlh, nlh->nlmsg_len) < 0) throw_sys("netlink send");
  std::vector<char> buf(MNL_SOCKET_BUFFER_SIZE);
  for (;;) {
    ssize_t n = mnl_socket_recvfrom(sock_, buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_sys("netlink receive");
    }
    int rc = mnl_cb_run(buf.data(), static_cast<size_t>(n), nlh->nlmsg_seq, portid_, nullptr, nullptr);
    if (rc == MNL_CB_ERROR) return -errno;
    if (rc == MNL_CB_STOP) return 0;
  }
}

int Netlink::ifindex(const std::string& ifname) {
  unsigned idx = ::if_nametoindex(ifname.c_str());
  if (idx == 0) throw_sys("find network interface", ifname);
  return static_cast<int>(idx);
}

bool Netlink::link_exists(const std::string& ifname) { return ::if_nametoindex(ifname.c_str()) != 0; }

bool Netlink::create_bridge(const std::string& name, int mtu) {
  Msg m(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
  nlattr* li = put_new_link(m, name, mtu, "bridge");
  mnl_attr_nest_end(m.nlh, li);
  int rc = request(m.nlh);
  if (rc == -EEXIST) return false;
  if (rc < 0) throw_sys("create bridge", name, -rc);
  return true;
}

void Netlink::ensure_bridge(const std::string& name, uint32_t addr, int prefix, int mtu) {
  create_bridge(name, mtu);
  try {
    add_address(name, addr, prefix);
  } catch (const Error& e) {
    if (e.code() != EEXIST) throw;
  }
  set_up(name);
}

void Netlink::create_veth(const std::string& host, const std::string& peer, int peer_netns_fd,
                          const std::string& peer_mac, int mtu) {
  Msg m(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
  nlattr* li = put_new_link(m, host, mtu, "veth");
  nlattr* data = mnl_attr_nest_start(m.nlh, IFLA_INFO_DATA);
  nlattr* p = mnl_attr_nest_start(m.nlh, VETH_INFO_PEER);
  auto* pifi = static_cast<ifinfomsg*>(mnl_nlmsg_put_extra_header(m.nlh, sizeof(ifinfomsg)));
  pifi->ifi_family = AF_UNSPEC;
  mnl_attr_put_strz(m.nlh, IFLA_IFNAME, peer.c_str());
  mnl_attr_put_u32(m.nlh, IFLA_NET_NS_FD, static_cast<uint32_t>(peer_netns_fd));
  mnl_attr_put_u32(m.nlh, IFLA_MTU, static_cast<uint32_t>(mtu));
  if (!peer_mac.empty()) {
    auto mac = mac_bytes(peer_mac);
    mnl_attr_put(m.nlh, IFLA_ADDRESS, mac.size(), mac.data());
  }
  mnl_attr_nest_end(m.nlh, p);
  mnl_attr_nest_end(m.nlh, data);
  mnl_attr_nest_end(m.nlh, li);
  int rc = request(m.nlh);
  if (rc < 0) throw_sys("create veth pair", host + " <-> " + peer, -rc);
}

void Netlink::set_master(const std::string& ifname, const std::string& master) {
  Msg m(RTM_NEWLINK, 0);
  auto* ifi = m.extra<ifinfomsg>();
  ifi->ifi_family = AF_UNSPEC;
  ifi->ifi_index = ifindex(ifname);
  mnl_attr_put_u32(m.nlh, IFLA_MASTER, static_cast<uint32_t>(ifindex(master)));
  int rc = request(m.nlh);
  if (rc < 0) throw_sys("attach " + ifname + " to bridge", master, -rc);
}

void Netlink::set_mtu(const std::string& ifname, int mtu) {
  Msg m(RTM_NEWLINK, 0);
  auto* ifi = m.extra<ifinfomsg>();
  ifi->ifi_family = AF_UNSPEC;
  ifi->ifi_index = ifindex(ifname);
  mnl_attr_put_u32(m.nlh, IFLA_MTU, static_cast<uint32_t>(mtu));
  int rc = request(m.nlh);
  if (rc < 0) throw_sys("set MTU " + std::to_string(mtu) + " of", ifname, -rc);
}

void Netlink::set_up(const std::string& ifname) {
  Msg m(RTM_NEWLINK, 0);
  auto* ifi = m.extra<ifinfomsg>();
  ifi->ifi_family = AF_UNSPEC;
  ifi->ifi_index = ifindex(ifname);
  ifi->ifi_flags = IFF_UP;
  ifi->ifi_change = IFF_UP;
  int rc = request(m.nlh);
  if (rc < 0) throw_sys("set link up", ifname, -rc);
}

void Netlink::add_address(const std::string& ifname, uint32_t addr, int prefix) {
  Msg m(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL);
  auto* ifa = m.extra<ifaddrmsg>();
  ifa->ifa_family = AF_INET;
  ifa->ifa_prefixlen = static_cast<unsigned char>(prefix);
  ifa->ifa_scope = RT_SCOPE_UNIVERSE;
  ifa->ifa_index = static_cast<unsigned>(ifindex(ifname));
  uint32_t be = htonl(addr);
  mnl_attr_put_u32(m.nlh, IFA_LOCAL, be);
  mnl_attr_put_u32(m.nlh, IFA_ADDRESS, be);
  if (prefix < 31) mnl_attr_put_u32(m.nlh, IFA_BROADCAST, htonl(addr | (prefix == 0 ? ~0u : ~(~0u << (32 - prefix)))));
  int rc = request(m.nlh);
  if (rc < 0) throw Error("add address to " + ifname + ": " + std::strerror(-rc), -rc);
}

void Netlink::add_default_route(uint32_t gateway, const std::string& ifname) {
  Msg m(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL);
  auto* rt = m.extra<rtmsg>();
  rt->rtm_family = AF_INET;
  rt->rtm_table = RT_TABLE_MAIN;
  rt->rtm_protocol = RTPROT_BOOT;
  rt->rtm_scope = RT_SCOPE_UNIVERSE;
  rt->rtm_type = RTN_UNICAST;
  mnl_attr_put_u32(m.nlh, RTA_GATEWAY, htonl(gateway));
  mnl_attr_put_u32(m.nlh, RTA_OIF, static_cast<uint32_t>(ifindex(ifname)));
  int rc = request(m.nlh);
  if (rc < 0) throw_sys("add default route via", ifname, -rc);
}

void Netlink::dump(nlmsghdr* nlh, const std::function<void(const nlmsghdr*)>& each, const std::string& what) {
  nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  nlh->nlmsg_seq = ++seq_;
  if (mnl_socket_sendto(sock_, nlh, nlh->nlmsg_len) < 0) throw_sys("netlink send", what);
  std::vector<char> buf(MNL_SOCKET_BUFFER_SIZE);
  // `each` may throw: caught here, not thrown through libmnl's C frames.
  struct Ctx {
    const std::function<void(const nlmsghdr*)>* each;
    std::exception_ptr err;
  } ctx{&each, nullptr};
  auto cb = [](const nlmsghdr* n, void* data) {
    auto* c = static_cast<Ctx*>(data);
    if (c->err) return MNL_CB_OK;  // the rest of the dump is read and dropped
    try {
      (*c->each)(n);
    } catch (...) {
      c->err = std::current_exception();
    }
    return MNL_CB_OK;
  };
  for (;;) {
    ssize_t n = mnl_socket_recvfrom(sock_, buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_sys("netlink receive", what);
    }
    int rc = mnl_cb_run(buf.data(), static_cast<size_t>(n), nlh->nlmsg_seq, portid_, cb, &ctx);
    if (rc == MNL_CB_ERROR) throw_sys("netlink dump", what);
    if (rc == MNL_CB_STOP) {
      if (ctx.err) std::rethrow_exception(ctx.err);
      return;
    }
  }
}

std::vector<Netlink::Link> Netlink::links() {
  Msg m(RTM_GETLINK, 0);
  m.extra<ifinfomsg>()->ifi_family = AF_UNSPEC;
  std::vector<Link> out;
  dump(m.nlh, [&](const nlmsghdr* n) {
    const auto* ifi = static_cast<const ifinfomsg*>(mnl_nlmsg_get_payload(n));
    Link l;
    l.index = ifi->ifi_index;
    l.loopback = ifi->ifi_flags & IFF_LOOPBACK;
    for_each_attr(n, sizeof(ifinfomsg), [&](const nlattr* a) {
      switch (mnl_attr_get_type(a)) {
        case IFLA_IFNAME: l.name = mnl_attr_get_str(a); break;
        case IFLA_MTU: l.mtu = int(mnl_attr_get_u32(a)); break;
        case IFLA_MASTER: l.master = int(mnl_attr_get_u32(a)); break;
        case IFLA_ADDRESS:
          if (mnl_attr_get_payload_len(a) == 6) {
            const auto* b = static_cast<const unsigned char*>(mnl_attr_get_payload(a));
            char mac[18];
            std::snprintf(mac, sizeof mac, "%02x:%02x:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3], b[4], b[5]);
            l.mac = mac;
          }
          break;
        case IFLA_LINKINFO:
          for_each_nested(a, [&](const nlattr* i) {
            if (mnl_attr_get_type(i) == IFLA_INFO_KIND) l.kind = mnl_attr_get_str(i);
          });
          break;
      }
    });
    out.push_back(std::move(l));
  }, "list links");
  return out;
}

std::vector<std::pair<uint32_t, int>> Netlink::ipv4_addresses(const std::string& ifname) {
  const int index = ifindex(ifname);
  Msg m(RTM_GETADDR, 0);
  m.extra<ifaddrmsg>()->ifa_family = AF_INET;
  std::vector<std::pair<uint32_t, int>> out;
  dump(m.nlh, [&](const nlmsghdr* n) {
    const auto* ifa = static_cast<const ifaddrmsg*>(mnl_nlmsg_get_payload(n));
    if (ifa->ifa_family != AF_INET || int(ifa->ifa_index) != index) return;
    for_each_attr(n, sizeof(ifaddrmsg), [&](const nlattr* a) {
      if (mnl_attr_get_type(a) == IFA_LOCAL && mnl_attr_get_payload_len(a) == 4)
        out.emplace_back(ntohl(mnl_attr_get_u32(a)), ifa->ifa_prefixlen);
    });
  }, "list the addresses of " + ifname);
  return out;
}

int Netlink::ipv6_global_address_count(const std::string& ifname) {
  const int index = ifindex(ifname);
  Msg m(RTM_GETADDR, 0);
  m.extra<ifaddrmsg>()->ifa_family = AF_INET6;
  int count = 0;
  dump(m.nlh, [&](const nlmsghdr* n) {
    const auto* ifa = static_cast<const ifaddrmsg*>(mnl_nlmsg_get_payload(n));
    if (ifa->ifa_family == AF_INET6 && int(ifa->ifa_index) == index && ifa->ifa_scope == RT_SCOPE_UNIVERSE) ++count;
  }, "list the IPv6 addresses of " + ifname);
  return count;
}

std::optional<uint32_t> Netlink::ipv4_default_gateway() {
  Msg m(RTM_GETROUTE, 0);
  m.extra<rtmsg>()->rtm_family = AF_INET;
  std::optional<uint32_t> gw;
  dump(m.nlh, [&](const nlmsghdr* n) {
    const auto* rt = static_cast<const rtmsg*>(mnl_nlmsg_get_payload(n));
    if (rt->rtm_family != AF_INET || rt->rtm_dst_len != 0 || rt->rtm_type != RTN_UNICAST) return;
    uint32_t table = rt->rtm_table;
    std::optional<uint32_t> via;
    for_each_attr(n, sizeof(rtmsg), [&](const nlattr* a) {
      if (mnl_attr_get_type(a) == RTA_TABLE) table = mnl_attr_get_u32(a);
      if (mnl_attr_get_type(a) == RTA_GATEWAY && mnl_attr_get_payload_len(a) == 4) via = ntohl(mnl_attr_get_u32(a));
    });
    if (table == RT_TABLE_MAIN && via && !gw) gw = via;
  }, "list routes");
  return gw;
}

void Netlink::set_mac(const std::string& ifname, const std::string& mac) {
  Msg m(RTM_NEWLINK, 0);
  auto* ifi = m.extra<ifinfomsg>();
  ifi->ifi_family = AF_UNSPEC;
  ifi->ifi_index = ifindex(ifname);
  auto b = mac_bytes(mac);
  mnl_attr_put(m.nlh, IFLA_ADDRESS, b.size(), b.data());
  int rc = request(m.nlh);
  if (rc < 0) throw_sys("set MAC address " + mac + " of", ifname, -rc);
}

void Netlink::delete_address(const std::string& ifname, uint32_t addr, int prefix) {
  Msg m(RTM_DELADDR, 0);
  auto* ifa = m.extra<ifaddrmsg>();
  ifa->ifa_family = AF_INET;
  ifa->ifa_prefixlen = static_cast<unsigned char>(prefix);
  ifa->ifa_index = static_cast<unsigned>(ifindex(ifname));
  mnl_attr_put_u32(m.nlh, IFA_LOCAL, htonl(addr));
  int rc = request(m.nlh);
  if (rc < 0 && rc != -EADDRNOTAVAIL) throw_sys("delete an address of", ifname, -rc);
}

bool Netlink::delete_link(const std::string& ifname) {
  Msg m(RTM_DELLINK, 0);
  auto* ifi = m.extra<ifinfomsg>();
  ifi->ifi_family = AF_UNSPEC;
  mnl_attr_put_strz(m.nlh, IFLA_IFNAME, ifname.c_str());
  int rc = request(m.nlh);
  if (rc == -ENODEV) return false;
  if (rc < 0) throw_sys("delete link", ifname, -rc);
  return true;
}

void in_netns(int netns_fd, const std::function<void()>& fn) {
  std::exception_ptr err;
  std::thread t([&] {
    try {
      // A thread of its own so the caller stays where it is; the netns only
      // applies to this thread (its fs stays shared, which setns(NET) allows).
      check_sys(::setns(netns_fd, CLONE_NEWNET), "setns", "network namespace");
      fn();
    } catch (...) {
      err = std::current_exception();
    }
  });
  t.join();
  if (err) std::rethrow_exception(err);
}

}  // namespace hvrun::net
