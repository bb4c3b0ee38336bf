// IPv4 address management: subnets, overlap, picking a free address, and
// the -p / --publish syntax. Pure functions; bad input throws hvrun::Error
// with a one-line reason.
#pragma once
#include <cstdint>
#include <optional>
#include <set>
#include <string>

namespace hvrun::net {

// "10.88.0.5" -> host-order address; nullopt on anything else.
std::optional<uint32_t> parse_ipv4(const std::string& s);
std::string ipv4_str(uint32_t addr);

struct Subnet {
  uint32_t network = 0;  // host order, host bits zero
  int prefix = 0;
  // "10.88.0.0/16". Throws on junk, host bits set, or a prefix outside 8..30.
  static Subnet parse(const std::string& cidr);
  std::string str() const;
  uint32_t mask() const { return prefix == 0 ? 0 : ~uint32_t(0) << (32 - prefix); }
  uint32_t broadcast() const { return network | ~mask(); }
  bool contains(uint32_t a) const { return (a & mask()) == network; }
  bool overlaps(const Subnet& o) const;
  uint32_t gateway() const { return network + 1; }  // first host address
};

// The lowest address of `subnet` that is neither the network, the broadcast,
// the gateway nor in `used`; nullopt when the subnet is full.
std::optional<uint32_t> pick_free(const Subnet& subnet, const std::set<uint32_t>& used);

// Docker-style MAC from the address: 02:42:a.b.c.d.
std::string mac_for(uint32_t addr);

struct PortSpec {
  std::string host_ip;  // "" = all addresses (0.0.0.0)
  uint16_t host_port = 0;
  uint16_t port = 0;
  std::string proto = "tcp";  // "tcp" | "udp"
  std::string str() const;    // canonical form, parses back to the same
};
// "[[HOSTIP:]HOSTPORT:]PORT[/tcp|/udp]"; HOSTPORT 0 or left out (PORT,
// HOSTIP::PORT): host_port 0, any free port (pick_host_port). Throws
// "invalid -p value ...".
PortSpec parse_port(const std::string& value);

// A free port on the host for `p` (its protocol, its address or all):
// asked of the kernel (bind to port 0), so another may take it before it is
// bound again; the -p proxy's bind then fails in one line.
uint16_t pick_host_port(const PortSpec& p);

}  // namespace hvrun::net
