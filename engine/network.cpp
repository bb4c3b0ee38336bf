#include "engine/network.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>
#include <sstream>

#include "container/net.hpp"
#include "engine/options.hpp"
#include "net/netlink.hpp"
#include "net/store.hpp"
#include "util/error.hpp"
#include "util/fd.hpp"
#include "util/fs.hpp"

namespace hvrun::engine {

namespace {


std::string hosts_line(const net::Lease& l) {
  std::string line = l.address + "\t" + l.hostname;
  if (!l.name.empty() && l.name != l.hostname) line += " " + l.name;
  return line;
}

// In a directory of its own: a VM gets that directory as a read-only 9p
// share (the rest of the record stays out of the guest's reach).
std::string live_hosts_dir(const std::string& store_root, const std::string& id) {
  return store_root + "/containers/" + id + "/etc";
}
std::string live_hosts_path(const std::string& store_root, const std::string& id) {
  return live_hosts_dir(store_root, id) + "/hosts";
}

}  // namespace

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

void refresh_hosts(const std::string& store_root, const std::string& network) {
  net::NetworkStore(store_root).with_leases(network, [&](const std::vector<net::Lease>& members) {
    for (const auto& m : members) {
      std::string path = live_hosts_path(store_root, m.container);
      if (!path_exists(path)) continue;  // a member on its way out
      std::vector<std::string> others;
      for (const auto& o : members)
        if (o.container != m.container) others.push_back(hosts_line(o));
      try {
        // In place (the container's bind mount holds this inode).
        write_file(path, container::hosts_file(m.address, m.hostname, m.name, others, m.extra_hosts));
      } catch (const Error&) {
        // removed meanwhile
      }
    }
  });
}

void attach_network(const std::string& store_root, const std::string& id, container::RunSpec& spec) {
  net::NetworkStore store(store_root);
  std::string netname = spec.netcfg.network.empty() ? net::kDefaultNetwork : spec.netcfg.network;
  // --add-host NAME:host-gateway: the network's gateway, the host's side.
  const std::string gw_prefix = std::string(kHostGateway) + "\t";
  for (auto& l : spec.extra_hosts)
    if (l.rfind(gw_prefix, 0) == 0) l = store.get(netname).gateway + "\t" + l.substr(gw_prefix.size());
  auto a = store.allocate(netname, id, spec.name, spec.hostname, spec.extra_hosts);
  net::Subnet s = net::Subnet::parse(a.network.subnet);
  container::NetConfig& n = spec.netcfg;
  n.network = a.network.name;
  n.bridge = a.network.bridge;
  n.address = a.lease.address;
  n.prefix = s.prefix;
  n.gateway = a.network.gateway;
  n.mac = net::mac_for(*net::parse_ipv4(n.address));
  n.hosts.clear();
  for (const auto& o : a.others) n.hosts.push_back(hosts_line(o));
  n.dns = host_nameservers();
  n.hosts_path = live_hosts_path(store_root, id);
  const std::string dir = live_hosts_dir(store_root, id);
  if (::mkdir(dir.c_str(), 0755) < 0 && errno != EEXIST) throw_sys("mkdir", dir);
  write_file_atomic(n.hosts_path, container::hosts_file(spec), 0644);
  refresh_hosts(store_root, n.network);
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
        net::Netlink in;  // lo: the container sets it up itself (bring_up_loopback)
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

void wire_vm_tap(const std::string& tap, const container::NetConfig& net) {
  net::Netlink nl;
  if (net.mtu > 0 && net.mtu != 1500) nl.set_mtu(tap, net.mtu);
  nl.set_master(tap, net.bridge);
  nl.set_up(tap);
}

void detach_network(const std::string& store_root, const std::string& id) {
  try {
    net::Netlink nl;
    nl.delete_link(net::veth_name(id));
  } catch (const Error&) {
    // no netlink here (or it is gone): the lease still goes
  }
  for (const auto& n : net::NetworkStore(store_root).release(id)) {
    try {
      refresh_hosts(store_root, n);
    } catch (const Error&) {
      // the network went too
    }
  }
}

std::vector<net::PortSpec> parse_ports(const std::vector<std::string>& values) {
  std::vector<net::PortSpec> out;
  for (const auto& v : values) out.push_back(net::parse_port(v));
  return out;
}

}  // namespace hvrun::engine
