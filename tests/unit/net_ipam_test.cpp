// IPAM (subnets, overlap, picking addresses) and -p parsing.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "container/net.hpp"
#include "net/ipam.hpp"
#include "util/error.hpp"

using namespace hvrun;
using namespace hvrun::net;

TEST(NetIpam, ParsesASubnetAndItsGatewayAndBroadcast) {
  Subnet s = Subnet::parse("10.88.0.0/16");
  EXPECT_EQ(s.prefix, 16);
  EXPECT_EQ(s.str(), "10.88.0.0/16");
  EXPECT_EQ(ipv4_str(s.gateway()), "10.88.0.1");
  EXPECT_EQ(ipv4_str(s.broadcast()), "10.88.255.255");
  EXPECT_TRUE(s.contains(*parse_ipv4("10.88.3.4")));
  EXPECT_FALSE(s.contains(*parse_ipv4("10.89.0.1")));
}

TEST(NetIpam, RejectsMalformedSubnetsWithTheReason) {
  for (const char* bad : {"", "10.88.0.0", "10.88.0.0/", "10.88.0.0/x", "10.88.0.0/33", "10.88.0.0/4",
                          "10.88.0.0/31", "10.88/16", "300.1.1.0/24", "10.88.0.0/16/1", " 10.88.0.0/16"}) {
    EXPECT_THROW(Subnet::parse(bad), Error) << bad;
  }
  try {
    Subnet::parse("10.88.1.0/16");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("host bits set (did you mean 10.88.0.0/16?)"), std::string::npos) << e.what();
  }
}

TEST(NetIpam, DetectsOverlapBothWaysAndNotForNeighbours) {
  Subnet big = Subnet::parse("10.88.0.0/16"), inside = Subnet::parse("10.88.5.0/24"),
         next = Subnet::parse("10.89.0.0/24"), adj = Subnet::parse("10.88.6.0/24");
  EXPECT_TRUE(big.overlaps(inside));
  EXPECT_TRUE(inside.overlaps(big));
  EXPECT_TRUE(inside.overlaps(inside));
  EXPECT_FALSE(big.overlaps(next));
  EXPECT_FALSE(next.overlaps(big));
  EXPECT_FALSE(inside.overlaps(adj));
}

TEST(NetIpam, AllocatesTheLowestFreeAddressSkippingNetworkGatewayAndUsed) {
  Subnet s = Subnet::parse("10.89.0.0/24");
  std::set<uint32_t> used;
  auto a = pick_free(s, used);
  ASSERT_TRUE(a);
  EXPECT_EQ(ipv4_str(*a), "10.89.0.2");
  used.insert(*a);
  used.insert(*parse_ipv4("10.89.0.3"));
  EXPECT_EQ(ipv4_str(*pick_free(s, used)), "10.89.0.4");
  // Released: handed out again (lowest first).
  used.erase(*a);
  EXPECT_EQ(ipv4_str(*pick_free(s, used)), "10.89.0.2");
}

TEST(NetIpam, ExhaustsASmallSubnetWithoutHandingOutBroadcast) {
  Subnet s = Subnet::parse("10.89.0.0/29");  // .0 net, .1 gw, .2-.6 hosts, .7 broadcast
  std::set<uint32_t> used;
  for (int i = 0; i < 5; ++i) {
    auto a = pick_free(s, used);
    ASSERT_TRUE(a) << i;
    EXPECT_NE(*a, s.broadcast());
    EXPECT_TRUE(used.insert(*a).second);
  }
  EXPECT_FALSE(pick_free(s, used));
}

TEST(NetIpam, MacIsDockerStyleFromTheAddress) { EXPECT_EQ(mac_for(*parse_ipv4("10.88.0.5")), "02:42:0a:58:00:05"); }

TEST(NetPorts, ParsesEveryPublishForm) {
  PortSpec p = parse_port("8080:80");
  EXPECT_EQ(p.host_ip, "");
  EXPECT_EQ(p.host_port, 8080);
  EXPECT_EQ(p.port, 80);
  EXPECT_EQ(p.proto, "tcp");
  p = parse_port("127.0.0.1:5353:53/udp");
  EXPECT_EQ(p.host_ip, "127.0.0.1");
  EXPECT_EQ(p.host_port, 5353);
  EXPECT_EQ(p.port, 53);
  EXPECT_EQ(p.proto, "udp");
  EXPECT_EQ(p.str(), "127.0.0.1:5353:53/udp");
  EXPECT_EQ(parse_port(p.str()).str(), p.str());
  EXPECT_EQ(parse_port("1:2/tcp").str(), "1:2/tcp");
  // No host port (or 0): a free one is picked when the container is made.
  p = parse_port("80");
  EXPECT_EQ(p.host_port, 0);
  EXPECT_EQ(p.port, 80);
  EXPECT_EQ(parse_port(p.str()).str(), "0:80/tcp");
  p = parse_port("127.0.0.1::53/udp");
  EXPECT_EQ(p.host_ip, "127.0.0.1");
  EXPECT_EQ(p.host_port, 0);
  EXPECT_EQ(p.str(), "127.0.0.1:0:53/udp");
  EXPECT_EQ(parse_port("0:80").host_port, 0);
}

TEST(NetPorts, APickedHostPortIsFreeAndOfTheAskedProtocol) {
  for (const char* proto : {"tcp", "udp"}) {
    PortSpec p = parse_port(std::string("127.0.0.1::80/") + proto);
    const uint16_t port = pick_host_port(p);
    EXPECT_GT(port, 0);
    // Free: it binds again.
    int s = ::socket(AF_INET, std::string(proto) == "udp" ? SOCK_DGRAM : SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a), 0) << proto << " " << port;
    ::close(s);
  }
}

TEST(NetPorts, RejectsMalformedPublishValues) {
  for (const char* bad : {"", ":80", "80:", "80:0", "65536:80", "80:65536", "a:80", "80:b",
                          "80:80/sctp", "80:80/", "host:80:80", "1.2.3:80:80", "-1:80", "80:80:80:80"}) {
    EXPECT_THROW(parse_port(bad), Error) << bad;
  }
  try {
    parse_port("80:80/sctp");
    FAIL();
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_EQ(m.find('\n'), std::string::npos);
    EXPECT_NE(m.find("invalid -p value \"80:80/sctp\""), std::string::npos) << m;
  }
}

TEST(NetFiles, HostsFileNamesTheContainerItselfAndTheOtherMembers) {
  container::RunSpec s;
  s.hostname = "abc123";
  s.name = "web";
  s.netcfg.address = "10.88.0.7";
  s.netcfg.hosts = {"10.88.0.2\tdb1 db", "bad\nline"};
  std::string h = container::hosts_file(s);
  EXPECT_NE(h.find("127.0.0.1\tlocalhost\n"), std::string::npos);
  EXPECT_NE(h.find("10.88.0.7\tabc123 web\n"), std::string::npos) << h;
  EXPECT_NE(h.find("10.88.0.2\tdb1 db\n"), std::string::npos);
  EXPECT_EQ(h.find("bad"), std::string::npos);
  container::RunSpec r;
  r.netcfg.dns = {"192.0.2.53"};
  EXPECT_EQ(container::resolv_conf(r), "nameserver 192.0.2.53\n");
}

TEST(NetFiles, AddHostLinesComeBeforeTheContainersOwnAndWithoutAnAddressNoOwnLine) {
  container::RunSpec s;
  s.hostname = "abc123";
  s.netcfg.address = "10.88.0.7";
  s.extra_hosts = {"192.0.2.9\tdb.example", "bad\nline"};
  std::string h = container::hosts_file(s);
  EXPECT_LT(h.find("192.0.2.9\tdb.example\n"), h.find("10.88.0.7\tabc123\n")) << h;
  EXPECT_EQ(h.find("bad"), std::string::npos);
  s.netcfg.address.clear();
  h = container::hosts_file(s);
  EXPECT_NE(h.find("192.0.2.9\tdb.example\n"), std::string::npos);
  EXPECT_EQ(h.find("abc123"), std::string::npos) << h;
}

TEST(NetFiles, ResolvConfTakesDnsFlagsOverTheNetworksServers) {
  container::RunSpec r;
  r.netcfg.dns = {"192.0.2.53"};
  r.dns = {"198.51.100.1", "2001:db8::1"};
  r.dns_search = {"corp.example", "bad word"};
  r.dns_options = {"ndots:2", "rotate"};
  EXPECT_EQ(container::resolv_conf(r),
            "nameserver 198.51.100.1\nnameserver 2001:db8::1\nsearch corp.example\noptions ndots:2 rotate\n");
}
