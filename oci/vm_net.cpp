#include "oci/vm_net.hpp"

#include <fcntl.h>
#include <sched.h>
#include <sys/random.h>

#include <algorithm>
#include <cstdio>
#include <optional>

#include "container/namespaces.hpp"
#include "net/ipam.hpp"
#include "net/netlink.hpp"
#include "util/error.hpp"

namespace hvrun::oci {
namespace {

// A random locally administered unicast MAC for the interface the guest
// took the MAC of.
std::string random_mac() {
  unsigned char b[5] = {};
  if (::getrandom(b, sizeof b, 0) != ssize_t(sizeof b)) throw_sys("getrandom");
  char s[18];
  std::snprintf(s, sizeof s, "02:%02x:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3], b[4]);
  return s;
}

// In the namespace (this thread's): the bridge gone, `card` back on its
// interface (MAC, address, up, default route). Each step is tried.
void restore(net::Netlink& nl, const container::NetConfig& card) {
  std::optional<Error> first;
  auto step = [&](const std::function<void()>& f) {
    try {
      f();
    } catch (const Error& e) {
      if (e.code() != EEXIST && !first) first = e;
    }
  };
  step([&] { nl.delete_link(kVmNetBridge); });  // its ports (the interface, the tap) are let go
  if (!nl.link_exists(card.ifname)) return;     // its engine removed it: nothing to give back
  step([&] { nl.set_mac(card.ifname, card.mac); });
  if (auto a = net::parse_ipv4(card.address))
    step([&] { nl.add_address(card.ifname, *a, card.prefix); });
  step([&] { nl.set_up(card.ifname); });
  if (auto g = net::parse_ipv4(card.gateway))
    step([&] { nl.add_default_route(*g, card.ifname); });
  if (first) throw *first;
}

}  // namespace

VmNetwork adopt_network_namespace(const std::string& netns_path, const std::function<void(const std::string&)>& warn) {
  VmNetwork out;
  out.netns = container::open_namespace_file(netns_path, CLONE_NEWNET, "network");
  net::in_netns(out.netns.get(), [&] {
    net::Netlink nl;
    const auto links = nl.links();
    auto taken = [&] {
      return Error("network namespace " + netns_path + ": its interface is held by another microVM (" + kVmNetBridge +
                   " exists; one microVM per network namespace)");
    };
    if (std::any_of(links.begin(), links.end(), [](auto& l) { return l.name == kVmNetBridge; })) throw taken();
    // Candidates: what a network plugin put there: not lo, not a bridge's
    // port, not a bridge or tap, with a MAC (not a tunnel's fallback
    // device such as gretap0); eth0 first, then a veth, then any with an
    // IPv4 address.
    struct Cand {
      net::Netlink::Link link;
      std::vector<std::pair<uint32_t, int>> addrs;
      int rank;
    };
    std::vector<Cand> cands;
    for (const auto& l : links) {
      if (l.loopback || l.master || l.kind == "bridge" || l.kind == "tun" || l.mac.empty() ||
          l.mac == "00:00:00:00:00:00")
        continue;
      auto addrs = nl.ipv4_addresses(l.name);
      int rank = l.name == "eth0" ? 0 : l.kind == "veth" ? 1 : !addrs.empty() ? 2 : 3;
      if (rank < 3) cands.push_back({l, std::move(addrs), rank});
    }
    if (cands.empty()) return;  // loopback only, as a namespace of --net none
    std::stable_sort(cands.begin(), cands.end(), [](auto& a, auto& b) { return a.rank < b.rank; });
    const net::Netlink::Link& l = cands.front().link;
    const auto& addrs = cands.front().addrs;
    if (l.kind == "macvlan" || l.kind == "ipvlan" || l.kind == "macvtap" || l.kind == "ipvtap")
      throw Error("network namespace " + netns_path + ": its interface " + l.name + " is a " + l.kind +
                  ", which a microVM cannot take over (a veth can)");
    for (size_t i = 1; i < cands.size(); ++i)
      if (warn && !cands[i].addrs.empty())
        warn("network namespace " + netns_path + ": interface " + cands[i].link.name +
             " is not given to the microVM (only " + l.name + " is)");
    container::NetConfig& c = out.card;
    c.bridge = kVmNetBridge;
    c.ifname = l.name;
    c.mac = l.mac;
    c.mtu = l.mtu > 0 ? l.mtu : 1500;
    if (!addrs.empty()) {
      c.address = net::ipv4_str(addrs.front().first);
      c.prefix = addrs.front().second;
      if (auto gw = nl.ipv4_default_gateway()) c.gateway = net::ipv4_str(*gw);
    }
    if (warn && addrs.size() > 1)
      warn("network namespace " + netns_path + ": " + l.name + " has " + std::to_string(addrs.size()) +
           " IPv4 addresses; the microVM gets the first, " + c.address);
    if (warn && nl.ipv6_global_address_count(l.name) > 0)
      warn("network namespace " + netns_path + ": the IPv6 addresses of " + l.name +
           " are not given to the microVM (IPv4 only)");
    // Exclusive: a second create racing for the same namespace loses here.
    if (!nl.create_bridge(kVmNetBridge, c.mtu)) throw taken();
    try {
      // Take it over: no address (its routes go with it), a new MAC, a
      // port of the bridge the tap joins.
      for (const auto& [a, p] : addrs) nl.delete_address(l.name, a, p);
      nl.set_mac(l.name, random_mac());
      nl.set_master(l.name, kVmNetBridge);
      nl.set_up(kVmNetBridge);
      nl.set_up(l.name);
    } catch (...) {
      try {
        restore(nl, c);
      } catch (const Error&) {
      }
      throw;
    }
    out.net = container::NetMode::Bridge;
  });
  return out;
}

bool is_pod_sandbox(const std::map<std::string, std::string>& annotations) {
  for (const char* key : {"io.kubernetes.cri.container-type", "io.kubernetes.cri-o.ContainerType"})
    if (auto it = annotations.find(key); it != annotations.end() && it->second == "sandbox") return true;
  return false;
}

void release_network_namespace(const std::string& netns_path, const container::NetConfig& card) {
  UniqueFd ns(::open(netns_path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
  if (!ns) {
    if (errno == ENOENT) return;  // gone with its engine's network
    throw_sys("open the network namespace", netns_path);
  }
  net::in_netns(ns.get(), [&] {
    net::Netlink nl;
    if (!nl.link_exists(kVmNetBridge)) return;  // not ours (any more)
    restore(nl, card);
  });
}

}  // namespace hvrun::oci
