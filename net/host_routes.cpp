#include "net/host_routes.hpp"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>

#include <bit>
#include <memory>
#include <optional>
#include <sstream>

#include "util/error.hpp"
#include "util/fs.hpp"

namespace hvrun::net {

namespace {

// /proc/net/route prints addresses as the hex of the in-memory (network
// order) 32-bit value read as a host-order integer.
bool hex_addr(const std::string& s, uint32_t& out) {
  if (s.size() != 8) return false;
  try {
    size_t used = 0;
    unsigned long v = std::stoul(s, &used, 16);
    if (used != s.size()) return false;
    out = ntohl(static_cast<uint32_t>(v));
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

std::optional<HostRange> range_of(uint32_t addr, uint32_t mask, const std::string& dev) {
  if (mask == 0) return std::nullopt;                             // a default route
  const uint32_t host_bits = ~mask;
  if ((host_bits & (host_bits + 1)) != 0) return std::nullopt;  // not a contiguous netmask
  HostRange r;
  r.subnet.prefix = std::popcount(mask);
  r.subnet.network = addr & mask;
  r.dev = dev;
  return r;
}

}  // namespace

std::vector<HostRange> parse_proc_net_route(const std::string& table) {
  std::vector<HostRange> out;
  std::istringstream in(table);
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    std::istringstream f(line);
    std::string dev, dst, gw, flags, refcnt, use, metric, mask;
    if (!(f >> dev >> dst >> gw >> flags >> refcnt >> use >> metric >> mask)) continue;
    uint32_t d = 0, m = 0;
    if (!hex_addr(dst, d) || !hex_addr(mask, m)) continue;
    if (auto r = range_of(d, m, dev)) out.push_back(*r);
  }
  return out;
}

std::vector<HostRange> host_ranges(bool (*ignore_dev)(const std::string& dev)) {
  std::vector<HostRange> all;
  try {
    all = parse_proc_net_route(read_file("/proc/net/route"));
  } catch (const Error&) {
  }
  struct ifaddrs* ifa = nullptr;
  if (::getifaddrs(&ifa) == 0) {
    std::unique_ptr<struct ifaddrs, void (*)(struct ifaddrs*)> guard(ifa, ::freeifaddrs);
    for (auto* i = ifa; i; i = i->ifa_next) {
      if (!i->ifa_addr || !i->ifa_netmask || i->ifa_addr->sa_family != AF_INET) continue;
      if (i->ifa_flags & IFF_LOOPBACK) continue;
      uint32_t a = ntohl(reinterpret_cast<const sockaddr_in*>(i->ifa_addr)->sin_addr.s_addr);
      uint32_t m = ntohl(reinterpret_cast<const sockaddr_in*>(i->ifa_netmask)->sin_addr.s_addr);
      if (auto r = range_of(a, m, i->ifa_name)) all.push_back(*r);
    }
  }
  std::vector<HostRange> out;
  for (auto& r : all)
    if (!ignore_dev || !ignore_dev(r.dev)) out.push_back(r);
  return out;
}

const HostRange* clash(const Subnet& s, const std::vector<HostRange>& ranges) {
  for (const auto& r : ranges)
    if (s.overlaps(r.subnet)) return &r;
  return nullptr;
}

}  // namespace hvrun::net
