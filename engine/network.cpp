#include "engine/network.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <map>
#include <optional>
#include <sstream>

#include "container/net.hpp"
#include "engine/options.hpp"
#include "engine/records.hpp"
#include "net/netlink.hpp"
#include "net/store.hpp"
#include "util/error.hpp"
#include "util/fd.hpp"
#include "util/fs.hpp"
#include "util/lock.hpp"
#include "util/log.hpp"

namespace hvrun::engine {

namespace {


std::string hosts_line(const net::Lease& l) {
  std::string line = l.address + "\t" + l.hostname;
  if (!l.name.empty() && l.name != l.hostname) line += " " + l.name;
  for (const auto& a : l.aliases) line += " " + a;
  return line;
}

// A veth `host` <-> net.ifname in the netns `ns`: net.address on it, up,
// and the default route when net has a gateway; the host end a port of
// net.bridge. Nothing is left behind when a step fails.
void wire_veth(const std::string& host, int ns, const container::NetConfig& net) {
  auto addr = net::parse_ipv4(net.address);
  auto gw = net::parse_ipv4(net.gateway);
  if (!addr) throw Error("network config: bad address \"" + net.address + "\"");
  net::Netlink nl;
  nl.create_veth(host, net.ifname, ns, net.mac, net.mtu);
  try {
    nl.set_master(host, net.bridge);
    nl.set_up(host);
    net::in_netns(ns, [&] {
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
}

UniqueFd open_netns(pid_t pid) {
  std::string nspath = "/proc/" + std::to_string(pid) + "/ns/net";
  UniqueFd ns(::open(nspath.c_str(), O_RDONLY | O_CLOEXEC));
  if (!ns) throw_sys("open", nspath);
  return ns;
}

// A connection made after create (lease.ifname ethN) wired into `ns`.
void wire_connection(const std::string& store_root, const std::string& id, int ns, const std::string& network,
                     const net::Lease& l, int mtu) {
  const net::Network n = net::NetworkStore(store_root).get(network);
  container::NetConfig c;
  c.network = network;
  c.bridge = n.bridge;
  c.ifname = l.ifname;
  c.address = l.address;
  c.prefix = net::Subnet::parse(n.subnet).prefix;
  c.mac = net::mac_for(*net::parse_ipv4(l.address));
  c.mtu = mtu;  // no gateway: the default route stays eth0's
  wire_veth(net::veth_name(id, l.ifname), ns, c);
}

// A name other members' /etc/hosts will hold: a container name's syntax.
void check_alias(const std::string& v) {
  if (!valid_name(v) || v.size() > 253)
    throw Error("invalid alias \"" + v + "\": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed");
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
  net::NetworkStore(store_root).with_all_leases([&](const std::map<std::string, std::vector<net::Lease>>& all) {
    const auto here = all.find(network);
    if (here == all.end()) return;
    for (const auto& m : here->second) {
      std::string path = live_hosts_path(store_root, m.container);
      if (!path_exists(path)) continue;  // a member on its way out
      // Its own line is its eth0 lease's; its peers: every other member of
      // every network it is on.
      const net::Lease* self = &m;
      std::vector<std::string> others;
      for (const auto& [name, members] : all) {
        const auto mine = std::find_if(members.begin(), members.end(),
                                       [&](const net::Lease& l) { return l.container == m.container; });
        if (mine == members.end()) continue;
        if (mine->ifname.empty()) self = &*mine;
        for (const auto& o : members) {
          if (o.container == m.container) continue;
          std::string line = hosts_line(o);
          if (std::find(others.begin(), others.end(), line) == others.end()) others.push_back(std::move(line));
        }
      }
      try {
        // In place (the container's bind mount holds this inode).
        write_file(path, container::hosts_file(self->address, self->hostname, self->name, others, self->extra_hosts));
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

std::function<void(pid_t)> wire_container_networks(const std::string& store_root, const std::string& id,
                                                   const container::NetConfig& net) {
  return [store_root, id, net](pid_t pid) {
    UniqueFd ns = open_netns(pid);
    wire_veth(net::veth_name(id), ns.get(), net);
    std::vector<std::pair<std::string, net::Lease>> leases;
    try {
      leases = net::NetworkStore(store_root).leases_of(id);
    } catch (const Error& e) {
      HVRUN_WARN("network", "the networks container ", id.substr(0, 12), " was connected to are not wired: ", e.what());
    }
    for (const auto& [network, l] : leases) {
      if (l.ifname.empty()) continue;
      try {
        wire_connection(store_root, id, ns.get(), network, l, net.mtu);
      } catch (const Error& e) {
        HVRUN_WARN("network", "container ", id.substr(0, 12), "'s ", l.ifname, " on network ", network, " is not wired: ", e.what());
      }
    }
  };
}

std::string network_lock_path(const std::string& store_root, const std::string& id) {
  return store_root + "/containers/" + id + "/net.lock";
}

// A microVM whose VMM runs (a paused one's state says running too): its
// network cards are fixed until it stops.
static bool microvm_runs(const Records& rec, const ContainerConfig& cfg) {
  return cfg.mode == Mode::Vm && rec.refresh(cfg.id).status == "running";
}

void connect_network(const Records& rec, const std::string& ref, const std::string& network,
                     const std::vector<std::string>& aliases) {
  for (const auto& a : aliases) check_alias(a);
  const std::string root = rec.store_root();
  net::NetworkStore store(root);
  store.get(network);  // "no such network" first, as Docker
  const std::string id = rec.resolve(ref);
  const ContainerConfig cfg = rec.load_config(id);
  if (cfg.spec.net != container::NetMode::Bridge)
    throw Error("container " + cfg.name + " uses --network " + container::to_string(cfg.spec.net) +
                ": only a container on an hvrun network can be connected to another");
  // A start waits (its monitor takes this lock before the workload starts
  // and leaves it once its state says running): the lease is either seen
  // by that start's wiring or wired here into a workload that runs.
  FileLock lock(network_lock_path(root, id));
  // A microVM gets a card more at its next start (engine/vm_backend.hpp's
  // more_networks); a running one cannot gain one (no hot-plug).
  if (microvm_runs(rec, cfg))
    throw Error("cannot connect the microVM " + cfg.name + " to network " + network +
                " while it runs: a VM cannot gain a network card then (stop it, connect it, start it)");
  const net::NetworkStore::Allocation a = store.connect(network, id, cfg.name, cfg.spec.hostname, aliases);
  const State st = rec.refresh(id);
  if (st.status == "running" && st.pid > 0) {
    try {
      wire_connection(root, id, open_netns(st.pid).get(), network, a.lease, cfg.spec.netcfg.mtu);
    } catch (const Error& e) {
      if (st.pid_starttime != 0 && proc_starttime(st.pid) == st.pid_starttime) {
        store.release(id, network);
        throw Error("cannot connect container " + cfg.name + " to network " + network + ": " + e.what());
      }
      // its workload ended meanwhile: wired at its next start
    }
  }
  refresh_hosts(root, network);
}

void disconnect_network(const Records& rec, const std::string& ref, const std::string& network) {
  const std::string id = rec.resolve(ref);
  const ContainerConfig cfg = rec.load_config(id);
  const std::string root = rec.store_root();
  if (cfg.spec.net == container::NetMode::Bridge && cfg.spec.netcfg.network == network)
    throw Error("container " + cfg.name + " was created on network " + network +
                " (its eth0, default route and published ports): hvrun cannot disconnect it from that one");
  net::NetworkStore(root).get(network);  // "no such network" first
  FileLock lock(network_lock_path(root, id));
  if (microvm_runs(rec, cfg))
    throw Error("cannot disconnect the microVM " + cfg.name + " from network " + network +
                " while it runs: its network card stays until it stops");
  const std::optional<net::Lease> l = net::NetworkStore(root).release(id, network);
  if (!l) throw Error("container " + cfg.name + " is not connected to network " + network);
  try {
    net::Netlink nl;
    nl.delete_link(net::veth_name(id, l->ifname));  // the container's end goes with it
  } catch (const Error&) {
    // not running: no link
  }
  refresh_hosts(root, network);                 // the others lose its line
  refresh_hosts(root, cfg.spec.netcfg.network);  // its own file loses that network's members
}

void rename_in_networks(const std::string& store_root, const std::string& id, const std::string& name) {
  try {
    for (const auto& n : net::NetworkStore(store_root).rename_member(id, name)) refresh_hosts(store_root, n);
  } catch (const Error& e) {
    HVRUN_WARN("network", "the hosts files of container ", id.substr(0, 12), "'s networks keep its old name: ", e.what());
  }
}

std::vector<Endpoint> connected_networks(const std::string& store_root, const std::string& id) {
  std::vector<Endpoint> out;
  net::NetworkStore store(store_root);
  for (const auto& [network, l] : store.leases_of(id)) {
    if (l.ifname.empty()) continue;
    Endpoint e;
    e.network = network;
    e.ifname = l.ifname;
    e.address = l.address;
    try {
      const net::Network n = store.get(network);
      e.prefix = net::Subnet::parse(n.subnet).prefix;
      e.gateway = n.gateway;
      e.bridge = n.bridge;
    } catch (const Error&) {
      continue;  // removed meanwhile
    }
    e.mac = net::mac_for(*net::parse_ipv4(l.address));
    e.aliases = l.aliases;
    out.push_back(std::move(e));
  }
  return out;
}

void wire_vm_tap(const std::string& tap, const container::NetConfig& net) {
  net::Netlink nl;
  if (net.mtu > 0 && net.mtu != 1500) nl.set_mtu(tap, net.mtu);
  nl.set_master(tap, net.bridge);
  nl.set_up(tap);
}

void detach_network(const std::string& store_root, const std::string& id) {
  std::vector<std::string> links{net::veth_name(id)};
  try {
    for (const auto& [network, l] : net::NetworkStore(store_root).leases_of(id))
      if (!l.ifname.empty()) links.push_back(net::veth_name(id, l.ifname));
  } catch (const Error&) {
  }
  for (const auto& link : links) {
    try {
      net::Netlink nl;
      nl.delete_link(link);
    } catch (const Error&) {
      // no netlink here (or it is gone): the lease still goes
    }
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
