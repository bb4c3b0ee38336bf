#include "net/store.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <set>

#include "net/host_routes.hpp"
#include "net/netlink.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/lock.hpp"

namespace hvrun::net {

namespace {

bool valid_network_name(const std::string& n) {
  if (n.empty() || n.size() > 64 || !std::isalnum(static_cast<unsigned char>(n[0]))) return false;
  return std::all_of(n.begin(), n.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-';
  });
}

// A bridge name for a user network: "hvbr-" + 10 hex of a hash of the name
// (interface names are at most 15 characters).
std::string bridge_for(const std::string& name) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a
  for (char c : name) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ull;
  char b[16];
  std::snprintf(b, sizeof b, "hvbr-%010llx", static_cast<unsigned long long>(h & 0xffffffffffull));
  return b;
}

// hvrun's own bridges: their ranges are the store's networks, not a clash.
bool is_hvrun_bridge(const std::string& dev) { return dev == kDefaultBridge || dev.rfind("hvbr-", 0) == 0; }

std::vector<std::string> list_names(const std::string& dir) {
  std::vector<std::string> out;
  if (!is_dir(dir)) return out;
  for (const auto& e : std::filesystem::directory_iterator(dir)) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

std::string veth_name(const std::string& id, const std::string& ifname) {
  if (ifname.empty() || ifname == "eth0") return "hv" + id.substr(0, 12);
  return "hx" + ifname.substr(3) + id.substr(0, 12);
}

NetworkStore::NetworkStore(std::string root) : root_(std::move(root)), base_(root_ + "/networks") {}

bool NetworkStore::container_exists(const std::string& id) const {
  return !id.empty() && is_dir(root_ + "/containers/" + id);
}

Network NetworkStore::load(const std::string& name) const {
  std::string p = dir(name) + "/network.json";
  if (!valid_network_name(name) || !path_exists(p)) throw Error("no such network: " + name);
  auto j = nlohmann::json::parse(read_file(p), nullptr, false);
  if (j.is_discarded()) throw Error("network " + name + ": corrupt " + p);
  Network n = j.get<Network>();
  n.name = name;  // its directory's name is its name
  return n;
}

Network NetworkStore::create_locked(const std::string& name, const std::string& subnet, bool default_net) {
  if (!valid_network_name(name))
    throw Error("invalid network name \"" + name + "\": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed");
  if (name == "none" || name == "host" || name == "bridge")
    throw Error("invalid network name \"" + name + "\": reserved");
  if (path_exists(dir(name) + "/network.json")) throw Error("network " + name + " already exists");
  std::vector<std::pair<Subnet, std::string>> taken;
  for (const auto& n : list_names(base_)) {
    try {
      Network o = load(n);
      taken.emplace_back(Subnet::parse(o.subnet), n);
    } catch (const Error&) {
    }
  }
  // The default network's subnet is reserved even before it exists.
  if (!default_net && std::none_of(taken.begin(), taken.end(), [](auto& t) { return t.second == kDefaultNetwork; }))
    taken.emplace_back(Subnet::parse(kDefaultSubnet), kDefaultNetwork);
  const std::vector<HostRange> host = host_ranges(is_hvrun_bridge);
  auto is_free = [&](const Subnet& c) {
    return !clash(c, host) && std::none_of(taken.begin(), taken.end(), [&](auto& t) { return c.overlaps(t.first); });
  };
  Subnet s;
  if (!subnet.empty()) {
    s = Subnet::parse(subnet);
    for (auto& [o, n] : taken)
      if (s.overlaps(o)) throw Error("subnet " + s.str() + " overlaps network " + n + " (" + o.str() + ")");
    if (const HostRange* r = clash(s, host))
      throw Error("subnet " + s.str() + " overlaps this host's " + r->str() + ": choose another with --subnet");
  } else if (default_net) {
    bool found = false;
    for (int second = Subnet::parse(kDefaultSubnet).network >> 16 & 0xff; second >= kDefaultSubnetLast && !found;
         --second) {
      s = Subnet::parse("10." + std::to_string(second) + ".0.0/16");
      found = is_free(s);
    }
    if (!found)
      throw Error(std::string("no range for the default network: ") + kDefaultSubnet + " down to 10." +
                  std::to_string(kDefaultSubnetLast) + ".0.0/16 all overlap this host's routes or addresses");
  } else {
    bool found = false;
    for (uint32_t i = 0; i < 256 && !found; ++i) {
      s = Subnet::parse("10.67." + std::to_string(i) + ".0/24");
      found = is_free(s);
    }
    if (!found) throw Error("no free subnet left in 10.67.0.0/16: give one with --subnet");
  }
  Network n;
  n.name = name;
  n.bridge = default_net ? kDefaultBridge : bridge_for(name);
  n.subnet = s.str();
  n.gateway = ipv4_str(s.gateway());
  n.created = now_rfc3339_nano();
  mkdir_p(dir(name) + "/leases");
  write_file_atomic(dir(name) + "/network.json", nlohmann::json(n).dump(2));
  return n;
}

Network NetworkStore::create(const std::string& name, const std::string& subnet) {
  mkdir_p(base_);
  FileLock lock(base_ + "/lock");
  return create_locked(name, subnet, false);
}

Network NetworkStore::get(const std::string& name) {
  if (name == kDefaultNetwork && !path_exists(dir(name) + "/network.json")) {
    mkdir_p(base_);
    FileLock lock(base_ + "/lock");
    if (!path_exists(dir(name) + "/network.json")) return create_locked(name, "", true);
  }
  return load(name);
}

std::vector<Network> NetworkStore::list() {
  get(kDefaultNetwork);
  std::vector<Network> out;
  for (const auto& n : list_names(base_)) {
    if (n == "lock") continue;
    try {
      out.push_back(load(n));
    } catch (const Error&) {
    }
  }
  return out;
}

std::vector<Lease> NetworkStore::live_leases_locked(const std::string& name) {
  std::vector<std::pair<uint32_t, Lease>> v;
  std::string ld = dir(name) + "/leases";
  for (const auto& f : list_names(ld)) {
    std::string p = ld + "/" + f;
    auto j = nlohmann::json::parse(read_file(p), nullptr, false);
    Lease l;
    if (!j.is_discarded()) l = j.get<Lease>();
    auto a = parse_ipv4(f);
    if (j.is_discarded() || !a || !container_exists(l.container)) {
      ::unlink(p.c_str());  // stale: its container record is gone
      continue;
    }
    v.emplace_back(*a, l);
  }
  std::sort(v.begin(), v.end(), [](auto& x, auto& y) { return x.first < y.first; });
  std::vector<Lease> out;
  for (auto& [a, l] : v) out.push_back(l);
  return out;
}

std::vector<Lease> NetworkStore::leases(const std::string& name) {
  load(name);
  FileLock lock(base_ + "/lock");
  return live_leases_locked(name);
}

void NetworkStore::with_leases(const std::string& name, const std::function<void(const std::vector<Lease>&)>& fn) {
  load(name);
  FileLock lock(base_ + "/lock");
  fn(live_leases_locked(name));
}

void NetworkStore::remove(const std::string& name) {
  if (name == kDefaultNetwork) throw Error("network " + name + " is the default network and cannot be removed");
  mkdir_p(base_);
  FileLock lock(base_ + "/lock");
  Network n = load(name);
  auto live = live_leases_locked(name);
  if (!live.empty())
    throw Error("network " + name + " is in use by container " + live[0].name + " (" + live[0].container.substr(0, 12) +
                ")");
  try {
    Netlink nl;
    nl.delete_link(n.bridge);
  } catch (const Error&) {
    // no netlink here: the definition goes anyway
  }
  remove_all(dir(name));
}

std::vector<std::string> NetworkStore::prune() {
  mkdir_p(base_);
  FileLock lock(base_ + "/lock");
  std::vector<std::string> removed;
  for (const auto& n : list_names(base_)) {
    if (n == "lock") continue;
    Network net;
    try {
      net = load(n);
    } catch (const Error&) {
      continue;
    }
    auto live = live_leases_locked(n);
    if (n == kDefaultNetwork || !live.empty()) continue;
    try {
      Netlink nl;
      nl.delete_link(net.bridge);
    } catch (const Error&) {
    }
    remove_all(dir(n));
    removed.push_back(n);
  }
  return removed;
}

NetworkStore::Allocation NetworkStore::place_locked(const Network& n, Lease lease) {
  Subnet s = Subnet::parse(n.subnet);
  Allocation a;
  a.network = n;
  a.others = live_leases_locked(n.name);
  std::set<uint32_t> used;
  for (const auto& l : a.others) used.insert(*parse_ipv4(l.address));
  auto addr = pick_free(s, used);
  if (!addr) throw Error("network " + n.name + " has no free address left (" + n.subnet + ")");
  lease.address = ipv4_str(*addr);
  a.lease = std::move(lease);
  Netlink nl;
  nl.ensure_bridge(n.bridge, s.gateway(), s.prefix);
  mkdir_p(dir(n.name) + "/leases");
  write_file_atomic(dir(n.name) + "/leases/" + a.lease.address, nlohmann::json(a.lease).dump());
  return a;
}

NetworkStore::Allocation NetworkStore::allocate(const std::string& network, const std::string& id,
                                                const std::string& cname, const std::string& hostname,
                                                const std::vector<std::string>& extra_hosts) {
  get(network);
  FileLock lock(base_ + "/lock");
  return place_locked(load(network), Lease{"", id, cname, hostname, extra_hosts});  // load: removed meanwhile?
}

NetworkStore::Allocation NetworkStore::connect(const std::string& network, const std::string& id,
                                               const std::string& cname, const std::string& hostname,
                                               const std::vector<std::string>& aliases) {
  Network n = get(network);
  FileLock lock(base_ + "/lock");
  n = load(network);
  std::set<std::string> taken;
  for (const auto& [net, leases] : all_leases_locked())
    for (const auto& l : leases) {
      if (l.container != id) continue;
      if (net == network) throw Error("container " + cname + " is already connected to network " + network);
      taken.insert(l.ifname.empty() ? "eth0" : l.ifname);
    }
  std::string ifname;
  for (int i = 1; i <= 9 && ifname.empty(); ++i)
    if (!taken.count("eth" + std::to_string(i))) ifname = "eth" + std::to_string(i);
  if (ifname.empty()) throw Error("container " + cname + " is connected to 10 networks already, hvrun's limit");
  return place_locked(n, Lease{"", id, cname, hostname, {}, ifname, aliases});
}

std::map<std::string, std::vector<Lease>> NetworkStore::all_leases_locked() {
  std::map<std::string, std::vector<Lease>> out;
  for (const auto& n : list_names(base_)) {
    if (n == "lock" || !path_exists(dir(n) + "/network.json")) continue;
    out[n] = live_leases_locked(n);
  }
  return out;
}

void NetworkStore::with_all_leases(const std::function<void(const std::map<std::string, std::vector<Lease>>&)>& fn) {
  mkdir_p(base_);
  FileLock lock(base_ + "/lock");
  fn(all_leases_locked());
}

std::vector<std::pair<std::string, Lease>> NetworkStore::leases_of(const std::string& id) {
  std::vector<std::pair<std::string, Lease>> out;
  if (!is_dir(base_)) return out;
  with_all_leases([&](const std::map<std::string, std::vector<Lease>>& all) {
    for (const auto& [net, leases] : all)
      for (const auto& l : leases)
        if (l.container == id) out.emplace_back(net, l);
  });
  return out;
}

std::vector<std::string> NetworkStore::rename_member(const std::string& id, const std::string& new_name) {
  std::vector<std::string> on;
  if (!is_dir(base_)) return on;
  FileLock lock(base_ + "/lock");
  for (auto& [network, leases] : all_leases_locked())
    for (auto& l : leases) {
      if (l.container != id) continue;
      l.name = new_name;
      write_file_atomic(dir(network) + "/leases/" + l.address, nlohmann::json(l).dump());
      on.push_back(network);
    }
  return on;
}

std::optional<Lease> NetworkStore::release(const std::string& id, const std::string& network) {
  load(network);
  FileLock lock(base_ + "/lock");
  for (const auto& l : live_leases_locked(network)) {
    if (l.container != id) continue;
    const std::string p = dir(network) + "/leases/" + l.address;
    if (::unlink(p.c_str()) < 0 && errno != ENOENT) throw_sys("remove the lease", p);
    return l;
  }
  return std::nullopt;
}

std::vector<std::string> NetworkStore::release(const std::string& id) {
  std::vector<std::string> left;
  if (!is_dir(base_)) return left;
  FileLock lock(base_ + "/lock");
  for (const auto& n : list_names(base_)) {
    std::string ld = dir(n) + "/leases";
    for (const auto& f : list_names(ld)) {
      std::string p = ld + "/" + f;
      try {
        auto j = nlohmann::json::parse(read_file(p), nullptr, false);
        bool mine = !j.is_discarded() && j.value("container", "") == id;
        if (j.is_discarded() || mine) ::unlink(p.c_str());
        if (mine && (left.empty() || left.back() != n)) left.push_back(n);
      } catch (const Error&) {
      }
    }
  }
  return left;
}

}  // namespace hvrun::net
