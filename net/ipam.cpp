#include "net/ipam.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdio>

#include "util/error.hpp"
#include "util/fd.hpp"

namespace hvrun::net {

namespace {

std::optional<long> parse_uint(const std::string& s, long max) {
  if (s.empty() || s.size() > 5 || s.find_first_not_of("0123456789") != std::string::npos) return std::nullopt;
  long v = std::stol(s);
  if (v > max) return std::nullopt;
  return v;
}

}  // namespace

std::optional<uint32_t> parse_ipv4(const std::string& s) {
  in_addr a{};
  // inet_pton accepts only the dotted-quad form (no "10.1", no octal).
  if (s.empty() || ::inet_pton(AF_INET, s.c_str(), &a) != 1) return std::nullopt;
  return ntohl(a.s_addr);
}

std::string ipv4_str(uint32_t addr) {
  char b[INET_ADDRSTRLEN];
  in_addr a{htonl(addr)};
  ::inet_ntop(AF_INET, &a, b, sizeof b);
  return b;
}

Subnet Subnet::parse(const std::string& cidr) {
  auto bad = [&](const std::string& why) { return Error("invalid subnet \"" + cidr + "\": " + why); };
  size_t slash = cidr.find('/');
  if (slash == std::string::npos) throw bad("expected ADDRESS/PREFIX, like 10.67.0.0/24");
  auto addr = parse_ipv4(cidr.substr(0, slash));
  if (!addr) throw bad("not an IPv4 address");
  auto prefix = parse_uint(cidr.substr(slash + 1), 32);
  if (!prefix) throw bad("prefix must be a number from 8 to 30");
  if (*prefix < 8 || *prefix > 30) throw bad("prefix must be from 8 to 30");
  Subnet s;
  s.prefix = static_cast<int>(*prefix);
  s.network = *addr & s.mask();
  if (s.network != *addr) throw bad("host bits set (did you mean " + s.str() + "?)");
  return s;
}

std::string Subnet::str() const { return ipv4_str(network) + "/" + std::to_string(prefix); }

bool Subnet::overlaps(const Subnet& o) const {
  uint32_t m = prefix < o.prefix ? mask() : o.mask();  // the shorter prefix
  return (network & m) == (o.network & m);
}

std::optional<uint32_t> pick_free(const Subnet& s, const std::set<uint32_t>& used) {
  for (uint32_t a = s.gateway() + 1; a < s.broadcast(); ++a)
    if (!used.count(a)) return a;
  return std::nullopt;
}

std::string mac_for(uint32_t a) {
  char b[18];
  std::snprintf(b, sizeof b, "02:42:%02x:%02x:%02x:%02x", (a >> 24) & 0xff, (a >> 16) & 0xff, (a >> 8) & 0xff, a & 0xff);
  return b;
}

std::string PortSpec::str() const {
  return (host_ip.empty() ? "" : host_ip + ":") + std::to_string(host_port) + ":" + std::to_string(port) + "/" + proto;
}

PortSpec parse_port(const std::string& value) {
  auto bad = [&](const std::string& why) {
    return Error("invalid -p value \"" + value + "\": " + why + " (want [[HOSTIP:]HOSTPORT:]PORT[/tcp|/udp])");
  };
  PortSpec p;
  std::string v = value;
  size_t sl = v.find('/');
  if (sl != std::string::npos) {
    p.proto = v.substr(sl + 1);
    v = v.substr(0, sl);
    if (p.proto != "tcp" && p.proto != "udp") throw bad("protocol must be tcp or udp");
  }
  // PORT alone, IP::PORT and a host port 0: a free host port is picked
  // when the container is made (Docker's).
  size_t c2 = v.rfind(':');
  std::string ctr = c2 == std::string::npos ? v : v.substr(c2 + 1);
  std::string rest = c2 == std::string::npos ? "0" : v.substr(0, c2);
  size_t c1 = rest.rfind(':');
  std::string hostport = c1 == std::string::npos ? rest : rest.substr(c1 + 1);
  if (hostport.empty() && c1 != std::string::npos) hostport = "0";
  if (c1 != std::string::npos) {
    p.host_ip = rest.substr(0, c1);
    if (!parse_ipv4(p.host_ip)) throw bad("\"" + p.host_ip + "\" is not an IPv4 address");
  }
  auto hp = parse_uint(hostport, 65535), cp = parse_uint(ctr, 65535);
  if (!hp) throw bad("host port must be 0-65535 (0: any free one)");
  if (!cp || *cp == 0) throw bad("container port must be 1-65535");
  p.host_port = static_cast<uint16_t>(*hp);
  p.port = static_cast<uint16_t>(*cp);
  return p;
}

uint16_t pick_host_port(const PortSpec& p) {
  UniqueFd s(::socket(AF_INET, (p.proto == "udp" ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC, 0));
  if (!s) throw_sys("socket");
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = 0;
  if (p.host_ip.empty()) a.sin_addr.s_addr = htonl(INADDR_ANY);
  else if (::inet_pton(AF_INET, p.host_ip.c_str(), &a.sin_addr) != 1) throw Error("bad host address " + p.host_ip);
  if (::bind(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) < 0)
    throw_sys("bind a free " + p.proto + " port on", p.host_ip.empty() ? "0.0.0.0" : p.host_ip);
  socklen_t len = sizeof a;
  if (::getsockname(s.get(), reinterpret_cast<sockaddr*>(&a), &len) < 0) throw_sys("getsockname");
  return ntohs(a.sin_port);
}

}  // namespace hvrun::net
