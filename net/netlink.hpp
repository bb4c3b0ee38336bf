// rtnetlink through libmnl: just what hvrun networks need (bridge, veth,
// addresses, default route, link up/master/delete). One Netlink object is
// bound to the network namespace its creating thread was in.
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

struct mnl_socket;
struct nlmsghdr;

namespace hvrun::net {

class Netlink {
 public:
  Netlink();  // NETLINK_ROUTE socket in the calling thread's netns
  ~Netlink();
  Netlink(const Netlink&) = delete;
  Netlink& operator=(const Netlink&) = delete;

  // A link of this namespace, as a dump shows it.
  struct Link {
    int index = 0;
    std::string name;
    std::string mac;   // "02:42:0a:58:00:05" ("" : none)
    std::string kind;  // "veth", "bridge", ... ("" : a plain device, lo)
    int mtu = 0;
    int master = 0;  // ifindex of its bridge (0: none)
    bool loopback = false;
  };
  std::vector<Link> links();
  // IPv4 addresses of `ifname` (host order), with their prefix lengths.
  std::vector<std::pair<uint32_t, int>> ipv4_addresses(const std::string& ifname);
  // How many global IPv6 addresses `ifname` has.
  int ipv6_global_address_count(const std::string& ifname);
  // The main table's IPv4 default route's gateway (host order), if any.
  std::optional<uint32_t> ipv4_default_gateway();
  void set_mac(const std::string& ifname, const std::string& mac);
  void delete_address(const std::string& ifname, uint32_t addr, int prefix);

  // Creates a bridge with `mtu`, down; false when one of that name exists.
  bool create_bridge(const std::string& name, int mtu = 1500);
  // Creates a bridge (no error when it exists), gives it `addr/prefix`
  // (no error when it has it) and brings it up.
  void ensure_bridge(const std::string& name, uint32_t addr, int prefix, int mtu = 1500);
  // A veth pair: `host` here, `peer` created directly in the netns `peer_netns_fd`
  // with `peer_mac`; both with `mtu`.
  void create_veth(const std::string& host, const std::string& peer, int peer_netns_fd, const std::string& peer_mac,
                   int mtu);
  void set_master(const std::string& ifname, const std::string& master);
  void set_up(const std::string& ifname);
  void set_mtu(const std::string& ifname, int mtu);
  void add_address(const std::string& ifname, uint32_t addr, int prefix);
  void add_default_route(uint32_t gateway, const std::string& ifname);
  // Deletes a link; false when there was none.
  bool delete_link(const std::string& ifname);
  bool link_exists(const std::string& ifname);

 private:
  // Sends a request with NLM_F_ACK and waits for it: 0 or the negative errno.
  int request(nlmsghdr* nlh);
  // Sends a dump request and passes each answer to `each`.
  void dump(nlmsghdr* nlh, const std::function<void(const nlmsghdr*)>& each, const std::string& what);
  int ifindex(const std::string& ifname);
  mnl_socket* sock_ = nullptr;
  uint32_t portid_ = 0;
  uint32_t seq_ = 0;
};

// Runs `fn` in a short-lived thread that has joined the network namespace
// `netns_fd` (setns is per thread, so the caller's namespace never changes).
// Exceptions from `fn` come back to the caller.
void in_netns(int netns_fd, const std::function<void()>& fn);

}  // namespace hvrun::net
