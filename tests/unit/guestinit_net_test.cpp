// guest-init's network setup, run on the host in a private network
// namespace against a tap standing in for the guest's virtio-net card, and
// plan_spec's handling of net "bridge".
#include <gtest/gtest.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <functional>
#include <string>

#include "tests/unit/netns_test_util.hpp"
#include "guest-init/net.hpp"
#include "guest-init/plan.hpp"
#include "util/error.hpp"
#include "util/fd.hpp"
#include "vmm/tap.hpp"

using namespace hvrun;
using namespace hvrun::guestinit;

using hvrun::test::in_netns;
using hvrun::test::sh;

namespace {


void set_mac(const std::string& ifname, const unsigned char mac[6]) {
  UniqueFd s(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, ifname.c_str(), IFNAMSIZ - 1);
  ifr.ifr_hwaddr.sa_family = 1;  // ARPHRD_ETHER
  std::memcpy(ifr.ifr_hwaddr.sa_data, mac, 6);
  check_sys(::ioctl(s.get(), SIOCSIFHWADDR, &ifr), "set MAC of", ifname);
}

contract::GuestNetwork sample() {
  contract::GuestNetwork n;
  n.ifname = "eth9";
  n.address = "10.77.0.2";
  n.prefix = 24;
  n.gateway = "10.77.0.1";
  n.mac = "02:42:0A:4D:00:02";
  n.mtu = 1400;
  return n;
}

TEST(GuestInitNet, CardFoundByMacIsRenamedAddressedRoutedAndUpWithLo) {
  std::string out = in_netns([] {
    std::string decoy, card;
    UniqueFd d = vmm::open_tap("decoy%d", &decoy);
    UniqueFd c = vmm::open_tap("card%d", &card);
    const unsigned char mac[6] = {0x02, 0x42, 0x0a, 0x4d, 0x00, 0x02};
    set_mac(card, mac);
    configure_guest_net(sample(), 0);
    std::printf("%s", sh("ip -o -4 addr show dev eth9; ip -o link show dev eth9; ip -o link show dev lo; "
                         "ip route show default; ip -o link show dev decoy0")
                          .c_str());
  });
  EXPECT_NE(out.find("inet 10.77.0.2/24"), std::string::npos) << out;
  EXPECT_NE(out.find("mtu 1400"), std::string::npos) << out;
  EXPECT_NE(out.find("default via 10.77.0.1 dev eth9"), std::string::npos) << out;
  EXPECT_NE(out.find("lo: <LOOPBACK,UP"), std::string::npos) << out;
  EXPECT_NE(out.find("decoy0:"), std::string::npos) << out;  // the other card is left alone
  EXPECT_NE(out.find("exit 0"), std::string::npos) << out;
}

TEST(GuestInitNet, NoCardWithTheMacFailsSayingSo) {
  std::string out = in_netns([] {
    std::string card;
    UniqueFd c = vmm::open_tap("card%d", &card);
    configure_guest_net(sample(), 0);
  });
  EXPECT_NE(out.find("error: network setup: no network interface with MAC 02:42:0A:4D:00:02"), std::string::npos)
      << out;
  EXPECT_NE(out.find("exit 1"), std::string::npos) << out;
}

TEST(GuestInitNet, ARestoredTemplatesOnlyCardTakesTheHostsMacAndIsSetUp) {
  std::string out = in_netns([] {
    std::string card;
    UniqueFd c = vmm::open_tap("card%d", &card);
    const unsigned char template_mac[6] = {0x02, 0, 0, 0, 0, 0x01};
    set_mac(card, template_mac);
    configure_guest_net(sample(), 0, true);
    std::printf("%s", sh("ip -o link show dev eth9; ip -o -4 addr show dev eth9").c_str());
  });
  EXPECT_NE(out.find("link/ether 02:42:0a:4d:00:02"), std::string::npos) << out;
  EXPECT_NE(out.find("inet 10.77.0.2/24"), std::string::npos) << out;
  EXPECT_NE(out.find("exit 0"), std::string::npos) << out;
}

TEST(GuestInitNet, ARestoredClonesConfiguredCardTakesItsNewMacAndAddressOnlyWithTheRouteAndUp) {
  std::string out = in_netns([] {
    std::string card;
    UniqueFd c = vmm::open_tap("card%d", &card);
    const unsigned char mac[6] = {0x02, 0x42, 0x0a, 0x4d, 0x00, 0x02};
    set_mac(card, mac);
    configure_guest_net(sample(), 0);  // as the snapshot's guest had it
    auto n = sample();
    n.address = "10.77.0.9";
    n.mac = "02:42:0a:4d:00:09";
    readdress_guest_net(n);
    std::printf("%s", sh("ip -o link show dev eth9; ip -o -4 addr show dev eth9; ip route show default").c_str());
    readdress_guest_net(n);  // again, with nothing to change: still fine
    std::printf("again: %s", sh("ip -o -4 addr show dev eth9 | wc -l; ip route show default").c_str());
  });
  EXPECT_NE(out.find("link/ether 02:42:0a:4d:00:09"), std::string::npos) << out;
  EXPECT_NE(out.find(",UP"), std::string::npos) << out;
  EXPECT_NE(out.find("inet 10.77.0.9/24"), std::string::npos) << out;
  EXPECT_EQ(out.find("inet 10.77.0.2/"), std::string::npos) << out;  // the old address is gone
  EXPECT_NE(out.find("default via 10.77.0.1 dev eth9"), std::string::npos) << out;
  EXPECT_NE(out.find("again: 1\ndefault via 10.77.0.1 dev eth9"), std::string::npos) << out;
  EXPECT_NE(out.find("exit 0"), std::string::npos) << out;
}

TEST(GuestInitNet, WithoutMacTheOnlyCardIsUsedAndNoGatewayMeansNoDefaultRoute) {
  std::string out = in_netns([] {
    std::string card;
    UniqueFd c = vmm::open_tap("card%d", &card);
    auto n = sample();
    n.mac.clear();
    n.gateway.clear();
    n.ifname = "eth0";
    configure_guest_net(n, 0);
    std::printf("%s", sh("ip -o -4 addr show dev eth0; echo routes: $(ip route show default | wc -l)").c_str());
  });
  EXPECT_NE(out.find("inet 10.77.0.2/24"), std::string::npos) << out;
  EXPECT_NE(out.find("routes: 0"), std::string::npos) << out;
  EXPECT_NE(out.find("exit 0"), std::string::npos) << out;
}

TEST(GuestInitNet, BadAddressPrefixOrMtuIsRefusedBeforeTouchingAnything) {
  auto n = sample();
  n.address = "10.77.0";
  EXPECT_THROW(configure_guest_net(n, 0), Error);
  n = sample();
  n.prefix = 33;
  EXPECT_THROW(configure_guest_net(n, 0), Error);
  n = sample();
  n.gateway = "gw";
  EXPECT_THROW(configure_guest_net(n, 0), Error);
  n = sample();
  n.mtu = 10;
  EXPECT_THROW(configure_guest_net(n, 0), Error);
  EXPECT_EQ(prefix_to_netmask(24), 0xffffff00u);
  EXPECT_EQ(prefix_to_netmask(0), 0u);
  EXPECT_EQ(prefix_to_netmask(32), 0xffffffffu);
}

}  // namespace
