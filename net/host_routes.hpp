// The IPv4 ranges this host (the caller's network namespace) already uses:
// its routes (/proc/net/route, main table) and its interfaces' addresses
// (getifaddrs). A new bridge network must not overlap them, or the host
// would hold two routes to one range (as when two runtimes both pick
// 10.88.0.0/16).
#pragma once
#include <string>
#include <vector>

#include "net/ipam.hpp"

namespace hvrun::net {

struct HostRange {
  Subnet subnet;    // prefix 1..32 (default routes are left out)
  std::string dev;  // the interface it is on
  std::string str() const { return subnet.str() + " on " + dev; }
};

// Parses a /proc/net/route table (text); lines that do not parse are skipped.
std::vector<HostRange> parse_proc_net_route(const std::string& table);

// The host's routes and interface subnets, except those on `ignore_dev(dev)`
// interfaces (hvrun's own bridges, whose ranges the network store knows).
std::vector<HostRange> host_ranges(bool (*ignore_dev)(const std::string& dev));

// The first of `ranges` that `s` overlaps, or nullptr.
const HostRange* clash(const Subnet& s, const std::vector<HostRange>& ranges);

}  // namespace hvrun::net
