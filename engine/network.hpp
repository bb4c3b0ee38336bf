// The engine's side of hvrun networks (both modes): a lease and the
// container's NetConfig before the backend starts, the container-mode veth
// wiring, the -p proxy's ports, and the release on rm.
#pragma once
#include <sys/types.h>

#include <functional>
#include <string>
#include <vector>

#include "container/spec.hpp"
#include "net/ipam.hpp"

namespace hvrun::engine {

class Records;

// Takes an address on spec.netcfg.network for the container (its record
// exists), makes the network's bridge ready in the caller's netns and fills
// spec.netcfg: network, bridge, address/prefix, gateway, mac, hosts (the
// other members and their names), dns (the host's non-loopback nameservers).
// The container's /etc/hosts is a file in its record dir,
// ROOT/containers/ID/etc/hosts (netcfg.hosts_path), that stays current as
// members come and go (container mode binds it over /etc/hosts; a VM gets
// its directory as a read-only 9p share and guest-init binds it likewise).
void attach_network(const std::string& store_root, const std::string& id, container::RunSpec& spec);

// The host's nameservers (its /etc/resolv.conf) a container network can
// reach: loopback ones (systemd-resolved's 127.0.0.53) left out, as Docker.
std::vector<std::string> host_nameservers();

// Rewrites in place the live hosts file of every member of `network` that has
// one: its own line (its eth0 address) and one per member of any network it
// is on. Best effort (a member being
// removed meanwhile is skipped).
void refresh_hosts(const std::string& store_root, const std::string& network);

// Container mode: what Container::start runs once the namespaces exist: a veth
// pair, eth0 in the container's netns with its address and up (lo: the
// container sets it up itself), the default route via the gateway, the host
// end on the bridge and up; then one veth per network the container was connected to later (`network
// connect`, its leases in the network store), without a default route. A
// connection that cannot be wired is a warning, not a failed start.
std::function<void(pid_t)> wire_container_networks(const std::string& store_root, const std::string& id,
                                                   const container::NetConfig& net);

// Serialises a container's network connections with its starts: held by
// connect and disconnect across the lease change and the wiring, and by a
// monitor from before its workload starts (the wiring, or a microVM's
// cards, read the leases) until its state says running.
std::string network_lock_path(const std::string& store_root, const std::string& id);

// `hvrun network connect` (and the API's): a lease on `network` (the next
// free eth1..eth9), wired at once into a running container, and at each
// later start. A microVM gets a card on it (a tap on its bridge) at its
// next start: refused while it runs (no hot-plug). On an hvrun network
// only (--network none/host has no veth to add to), as Docker refuses
// host and none. `aliases`: more names the network's other members reach
// it by (their /etc/hosts).
void connect_network(const Records& rec, const std::string& ref, const std::string& network,
                     const std::vector<std::string>& aliases);
// `hvrun network disconnect`: the lease goes, and a running container's
// ethN with it. Not the network it was created on (its eth0, default
// route and ports); a microVM's only while it is not running.
void disconnect_network(const Records& rec, const std::string& ref, const std::string& network);

// hvrun rename: the other members of its networks reach it by its new name
// (their hosts files). Best effort: a failure is a warning.
void rename_in_networks(const std::string& store_root, const std::string& id, const std::string& name);

// A network the container was connected to after its create, for inspect.
struct Endpoint {
  std::string network;
  std::string ifname;  // eth1..eth9
  std::string address;
  int prefix = 0;
  std::string gateway;  // the network's (no route through it)
  std::string bridge;   // the network's bridge on the host
  std::string mac;
  std::vector<std::string> aliases;
};
std::vector<Endpoint> connected_networks(const std::string& store_root, const std::string& id);

// VM mode: what the veth's host end gets in container mode, for the VM's tap
// `tap` (vmm/tap.hpp): net.mtu, a port of net.bridge, up.
void wire_vm_tap(const std::string& tap, const container::NetConfig& net);

// Drops the container's leases, deletes its host-side veth (when its netns
// did not take it away already) and refreshes the other members' hosts
// files. Safe to call twice.
void detach_network(const std::string& store_root, const std::string& id);

// Parses every -p value (one-line error on a bad one) into canonical strings.
std::vector<net::PortSpec> parse_ports(const std::vector<std::string>& values);

}  // namespace hvrun::engine
