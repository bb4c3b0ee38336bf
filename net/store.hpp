// hvrun networks on disk, shared by every hvrun process:
//   ROOT/networks/lock                 flock: held while networks or leases change
//   ROOT/networks/<name>/network.json  Network
//   ROOT/networks/<name>/leases/<ip>   Lease (one file per address in use)
// A lease names its container; one whose container record
// (ROOT/containers/<id>) is gone is stale and collected under the lock, so a
// kill -9 anywhere leaks nothing that the next allocation or `rm -f` keeps.
#pragma once
#include <nlohmann/json.hpp>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "net/ipam.hpp"

namespace hvrun::net {

inline constexpr const char* kDefaultNetwork = "hvrun";
inline constexpr const char* kDefaultBridge = "hvrun0";
// The default network's range: the first of 10.66.0.0/16, 10.65.0.0/16, ...
// 10.50.0.0/16 that no route or address of the host overlaps when the
// network is made. Peers' defaults are elsewhere: Docker 172.17.0.0/16 (and
// 172.18-31, 192.168), Podman 10.88.0.0/16 (new networks 10.89 and up),
// Kubernetes services 10.96.0.0/12, k3s 10.42-43. Networks made with
// `network create` take a free 10.67.N.0/24.
inline constexpr const char* kDefaultSubnet = "10.66.0.0/16";
inline constexpr int kDefaultSubnetLast = 50;  // second octet of the last candidate

struct Network {
  std::string name;
  std::string bridge;
  std::string subnet;   // "10.66.0.0/16"
  std::string gateway;  // "10.66.0.1" (on the bridge)
  std::string created;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(Network, name, bridge, subnet, gateway, created)

struct Lease {
  std::string address;
  std::string container;  // id
  std::string name;       // container name
  std::string hostname;
  // --add-host lines ("IP\tNAME") of this member's own /etc/hosts, kept
  // when the host rewrites it as members come and go.
  std::vector<std::string> extra_hosts;
  // The interface inside the container: "" for the network it was created
  // on (eth0); "eth1".."eth9" for one it was connected to later (`network
  // connect`), with that connection's --alias names.
  std::string ifname;
  std::vector<std::string> aliases;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(Lease, address, container, name, hostname, extra_hosts, ifname, aliases)

// The host-side name of a container's veth: "hv" + 12 hex of its id for
// eth0; "hx" + N + 12 hex for ethN, a network connected later.
std::string veth_name(const std::string& container_id, const std::string& ifname = "");

class NetworkStore {
 public:
  explicit NetworkStore(std::string store_root);

  // Throws on a bad name, a taken name, or a subnet overlapping another
  // network's or a range the host already routes. Without a subnet: the
  // first free 10.67.N.0/24.
  Network create(const std::string& name, const std::string& subnet = "");
  // By name; the default network is created on first use. Throws "no such network".
  Network get(const std::string& name);
  std::vector<Network> list();
  std::vector<Lease> leases(const std::string& name);  // live leases, address order
  // Calls fn with the live leases while holding the store lock (so what fn
  // writes from them is never overtaken by an older view).
  void with_leases(const std::string& name, const std::function<void(const std::vector<Lease>&)>& fn);
  // Refuses the default network and one with live leases; deletes its bridge
  // in the caller's netns.
  void remove(const std::string& name);
  // Removes networks without live leases (not the default) and stale leases;
  // returns the names removed.
  std::vector<std::string> prune();

  // A new address on `network` for a container (never one another live lease
  // holds), and the bridge made ready in the caller's netns.
  struct Allocation {
    Network network;
    Lease lease;
    std::vector<Lease> others;  // the network's other members
  };
  Allocation allocate(const std::string& network, const std::string& container_id, const std::string& container_name,
                      const std::string& hostname, const std::vector<std::string>& extra_hosts = {});
  // `network connect`: as allocate, for a container that already has its
  // eth0 lease elsewhere: the lease gets the first free eth1..eth9 and
  // `aliases`. Throws when the container is on `network` already or has
  // nine connections.
  Allocation connect(const std::string& network, const std::string& container_id, const std::string& container_name,
                     const std::string& hostname, const std::vector<std::string>& aliases);
  // Every live lease of the container, with its network's name.
  std::vector<std::pair<std::string, Lease>> leases_of(const std::string& container_id);
  // Every network's live leases, by network name, while holding the store
  // lock.
  void with_all_leases(const std::function<void(const std::map<std::string, std::vector<Lease>>&)>& fn);
  // Drops every lease of the container (all networks); returns the networks
  // it left. Safe to call twice.
  std::vector<std::string> release(const std::string& container_id);
  // hvrun rename: every lease of the container gets its new name; returns
  // the networks it is on.
  std::vector<std::string> rename_member(const std::string& container_id, const std::string& new_name);
  // Drops the container's lease on one network (`network disconnect`);
  // returns it, or nullopt when it had none there.
  std::optional<Lease> release(const std::string& container_id, const std::string& network);

 private:
  std::string dir(const std::string& name) const { return base_ + "/" + name; }
  Network load(const std::string& name) const;  // no lock, no default creation
  Network create_locked(const std::string& name, const std::string& subnet, bool default_net);
  std::vector<Lease> live_leases_locked(const std::string& name);  // collects stale ones
  std::map<std::string, std::vector<Lease>> all_leases_locked();
  // A free address on n for `lease` (its address filled in), the bridge
  // made ready, the lease written; the store lock held.
  Allocation place_locked(const Network& n, Lease lease);
  bool container_exists(const std::string& id) const;
  std::string root_;
  std::string base_;
};

}  // namespace hvrun::net
