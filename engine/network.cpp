#include "engine/network.hpp"

#include <fcntl.h>

#include <sstream>

#include "net/netlink.hpp"
#include "net/store.hpp"
#include "util/error.hpp"
#include "util/fd.hpp"
#include "util/fs.hpp"

namespace hvrun::engine {

namespace {

std::vector<std::string> host_nameservers() {
  std::vector<std::string> out;
  std::string text;
  try {
    text = read_file("/etc/resolv.conf");
  } catch (const Error&) {
    return out;
  }
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string key, value;
    ls >> key >> value;
    // Loopback resolvers (systemd-resolved's 127.0.0.53) are unreachable
    // from the container's own netns; Docker drops them too.
    if (key != "nameserver" || value.empty() || value.rfind("127.", 0) == 0 || value == "::1") continue;
    out.push_back(value);
  }
  return out;
}

}  // namespace

void attach_network(const std::string& store_root, const std::string& id, container::RunSpec& spec) {
  net::NetworkStore store(store_root);
  std::string netname = spec.netcfg.network.empty() ? net::kDefaultNetwork : spec.netcfg.network;
  auto a = store.allocate(netname, id, spec.name, spec.hostname);
  net::Subnet s = net::Subnet::parse(a.network.subnet);
  container::NetConfig& n = spec.netcfg;
  n.network = a.network.name;
  n.bridge = a.network.bridge;
  n.address = a.lease.address;
  n.prefix = s.prefix;
  n.gateway = a.network.gateway;
  n.mac = net::mac_for(*net::parse_ipv4(n.address));
  n.hosts.clear();
  for (const auto& o : a.others) {
    std::string line = o.address + "\t" + o.hostname;
    if (!o.name.empty() && o.name != o.hostname) line += " " + o.name;
    n.hosts.push_back(line);
  }
  n.dns = host_nameservers();
}

std::function<void(pid_t)> wire_container_network(const std::string& id, const container::NetConfig& net) {
  return [id, net](pid_t pid) {
    std::string nspath = "/proc/" + std::to_string(pid) + "/ns/net";
    UniqueFd ns(::open(nspath.c_str(), O_RDONLY | O_CLOEXEC));
    if (!ns) throw_sys("open", nspath);
    auto addr = net::parse_ipv4(net.address);
    auto gw = net::parse_ipv4(net.gateway);
    if (!addr) throw Error("network config: bad address \"" + net.address + "\"");
    std::string host = net::veth_name(id);
    net::Netlink nl;
    nl.create_veth(host, net.ifname, ns.get(), net.mac, net.mtu);
    try {
      nl.set_master(host, net.bridge);
      nl.set_up(host);
      net::in_netns(ns.get(), [&] {
        net::Netlink in;
        in.set_up("lo");
        in.add_address(net.ifname, *addr, net.prefix);
        in.set_up(net.ifname);
        if (gw) in.add_default_route(*gw, net.ifname);
      });
    } catch (...) {
      try {
        nl.delete_link(host);
      } catch (const Error&) {
      }
      throw;
    }
  };
}

void detach_network(const std::string& store_root, const std::string& id) {
  try {
    net::Netlink nl;
    nl.delete_link(net::veth_name(id));
  } catch (const Error&) {
    // no netlink here (or it is gone): the lease still goes
  }
  net::NetworkStore(store_root).release(id);
}

std::vector<net::PortSpec> parse_ports(const std::vector<std::string>& values) {
  std::vector<net::PortSpec> out;
  for (const auto& v : values) out.push_back(net::parse_port(v));
  return out;
}

}  // namespace hvrun::engine
