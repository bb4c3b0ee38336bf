#include "oci/vm_net.hpp"

#include <sched.h>
#include <sys/random.h>

#include <algorithm>
#include <cstdio>

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

}  // namespace

VmNetwork adopt_network_namespace(const std::string& netns_path, const std::function<void(const std::string&)>& warn) {
  UniqueFd ns = container::open_namespace_file(netns_path, CLONE_NEWNET, "network");
  VmNetwork out;
  net::in_netns(ns.get(), [&] {
    net::Netlink nl;
    const auto links = nl.links();
    if (std::any_of(links.begin(), links.end(), [](auto& l) { return l.name == kVmNetBridge; }))
      throw Error("network namespace " + netns_path + ": its interface was taken by another microVM (one microVM per network namespace)");
    // Candidates: what a network plugin puts there (not lo, not a bridge
    // or tap of its own); eth0 first, then one with an IPv4 address.
    std::vector<net::Netlink::Link> cands;
    for (const auto& l : links)
      if (!l.loopback && l.kind != "bridge" && l.kind != "tun" && !l.mac.empty()) cands.push_back(l);
    if (cands.empty()) return;  // loopback only, as a namespace of --net none
    std::stable_sort(cands.begin(), cands.end(), [&](auto& a, auto& b) {
      auto rank = [&](const net::Netlink::Link& l) { return l.name == "eth0" ? 0 : nl.ipv4_addresses(l.name).empty() ? 2 : 1; };
      return rank(a) < rank(b);
    });
    const net::Netlink::Link& l = cands.front();
    if (l.kind == "macvlan" || l.kind == "ipvlan" || l.kind == "macvtap")
      throw Error("network namespace " + netns_path + ": its interface " + l.name + " is a " + l.kind +
                  ", which a microVM cannot take over (a veth can)");
    for (size_t i = 1; i < cands.size(); ++i)
      if (warn) warn("network namespace " + netns_path + ": interface " + cands[i].name + " is not given to the microVM (only " + l.name + " is)");
    const auto addrs = nl.ipv4_addresses(l.name);
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
    if (addrs.size() > 1 && warn)
      warn("network namespace " + netns_path + ": " + l.name + " has " + std::to_string(addrs.size()) +
           " IPv4 addresses; the microVM gets the first, " + c.address);
    // Take it over: no address (its routes go with it), a new MAC, a port
    // of the bridge the tap joins.
    nl.create_bridge(kVmNetBridge, c.mtu);
    for (const auto& [a, p] : addrs) nl.delete_address(l.name, a, p);
    nl.set_mac(l.name, random_mac());
    nl.set_master(l.name, kVmNetBridge);
    nl.set_up(kVmNetBridge);
    nl.set_up(l.name);
    out.net = container::NetMode::Bridge;
  });
  return out;
}

}  // namespace hvrun::oci
