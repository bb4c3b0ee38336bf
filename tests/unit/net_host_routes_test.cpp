// net/host_routes: the host's IPv4 ranges that a new network must not take.
#include <gtest/gtest.h>

#include "net/host_routes.hpp"

namespace hvrun::net {
namespace {

// As the kernel prints it (addresses little-endian hex on x86).
const char* kTable =
    "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
    "eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n"
    "eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n"
    "podman0\t0000580A\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n"
    "junk\tnothex\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n"
    "odd\t0000580A\t00000000\t0001\t0\t0\t0\t00FF00FF\t0\t0\t0\n";

TEST(NetHostRoutes, ParsesProcNetRouteSkippingTheDefaultRouteAndJunk) {
  auto r = parse_proc_net_route(kTable);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].str(), "192.0.2.0/24 on eth0");
  EXPECT_EQ(r[1].str(), "10.88.0.0/16 on podman0");
}

TEST(NetHostRoutes, ClashFindsTheFirstOverlappingRange) {
  auto r = parse_proc_net_route(kTable);
  const HostRange* c = clash(Subnet::parse("10.88.5.0/24"), r);
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->dev, "podman0");
  EXPECT_EQ(clash(Subnet::parse("10.66.0.0/16"), r), nullptr);
}

TEST(NetHostRoutes, HostRangesLeavesOutIgnoredInterfaces) {
  for (const auto& r : host_ranges([](const std::string&) { return true; })) ADD_FAILURE() << r.str();
  for (const auto& r : host_ranges(nullptr)) EXPECT_NE(r.subnet.prefix, 0) << r.str();
}

}  // namespace
}  // namespace hvrun::net
