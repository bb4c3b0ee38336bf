// oci/vm_net.hpp on a network namespace made as podman's netavark makes
// one (a veth's end named eth0, an address, a default route): the card a
// microVM takes over, the interface left as a bridge's port, a second
// taker refused, everything given back at release; a macvlan refused.
#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <memory>
#include <string>

#include "oci/vm_net.hpp"
#include "util/error.hpp"

namespace {

std::string sh(const std::string& cmd) {
  std::string out;
  std::unique_ptr<FILE, int (*)(FILE*)> p(::popen((cmd + " 2>&1").c_str(), "r"), ::pclose);
  if (!p) return "(popen failed)";
  std::array<char, 512> buf{};
  while (std::fgets(buf.data(), buf.size(), p.get())) out += buf.data();
  return out;
}

class OciVmNet : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to make network namespaces";
    ns_ = "hvrun-vmnet-" + std::to_string(::getpid());
    host_ = "hvvn" + std::to_string(::getpid() % 100000);
    ASSERT_EQ(sh("ip netns add " + ns_ + " && ip link add " + host_ + " type veth peer name eth0 netns " + ns_ +
                 " && ip -n " + ns_ + " link set eth0 address 02:aa:bb:cc:dd:05 up && ip -n " + ns_ +
                 " addr add 10.214.3.5/24 dev eth0 && ip -n " + ns_ + " route add default via 10.214.3.1 && echo ok"),
              "ok\n");
  }
  void TearDown() override {
    if (ns_.empty()) return;
    sh("ip link del " + host_);
    sh("ip netns del " + ns_);
  }
  std::string in_ns(const std::string& cmd) { return sh("ip -n " + ns_ + " " + cmd); }
  std::string path() const { return "/run/netns/" + ns_; }
  std::string ns_, host_;
};

TEST_F(OciVmNet, TheGuestTakesTheInterfacesCardAndReleaseGivesItBack) {
  std::vector<std::string> warnings;
  auto warn = [&](const std::string& w) { warnings.push_back(w); };
  hvrun::oci::VmNetwork n = hvrun::oci::adopt_network_namespace(path(), warn);
  ASSERT_EQ(n.net, hvrun::container::NetMode::Bridge);
  EXPECT_TRUE(n.netns);
  EXPECT_EQ(n.card.ifname, "eth0");
  EXPECT_EQ(n.card.mac, "02:aa:bb:cc:dd:05");
  EXPECT_EQ(n.card.address, "10.214.3.5");
  EXPECT_EQ(n.card.prefix, 24);
  EXPECT_EQ(n.card.gateway, "10.214.3.1");
  EXPECT_EQ(n.card.mtu, 1500);
  EXPECT_EQ(n.card.bridge, hvrun::oci::kVmNetBridge);
  EXPECT_TRUE(warnings.empty());
  // The interface: no address, another MAC, a port of the bridge.
  EXPECT_EQ(in_ns("-4 -o addr show dev eth0"), "");
  const std::string link = in_ns("-o link show dev eth0");
  EXPECT_EQ(link.find("02:aa:bb:cc:dd:05"), std::string::npos) << link;
  EXPECT_NE(link.find(std::string("master ") + hvrun::oci::kVmNetBridge), std::string::npos) << link;
  // A second microVM for the same namespace is refused, and harms nothing.
  try {
    (void)hvrun::oci::adopt_network_namespace(path(), warn);
    ADD_FAILURE() << "a second take-over was accepted";
  } catch (const hvrun::Error& e) {
    EXPECT_NE(std::string(e.what()).find("held by another microVM"), std::string::npos) << e.what();
  }
  EXPECT_NE(in_ns("-o link show dev eth0").find(std::string("master ") + hvrun::oci::kVmNetBridge), std::string::npos);

  hvrun::oci::release_network_namespace(path(), n.card);
  EXPECT_NE(in_ns("-4 -o addr show dev eth0").find("inet 10.214.3.5/24"), std::string::npos);
  EXPECT_NE(in_ns("-o link show dev eth0").find("02:aa:bb:cc:dd:05"), std::string::npos);
  EXPECT_EQ(in_ns("-o link show dev eth0").find("master"), std::string::npos);
  EXPECT_EQ(in_ns("route show default").rfind("default via 10.214.3.1 dev eth0 ", 0), 0u) << in_ns("route show default");
  EXPECT_NE(in_ns(std::string("link show dev ") + hvrun::oci::kVmNetBridge).find("does not exist"), std::string::npos);
  // Given back, it can be taken again (a pod's restarted container).
  EXPECT_EQ(hvrun::oci::adopt_network_namespace(path(), warn).card.address, "10.214.3.5");
  // A namespace that is gone is no error for release.
  hvrun::oci::release_network_namespace("/run/netns/hvrun-no-such-namespace", n.card);
}

TEST_F(OciVmNet, ANamespaceWithLoopbackOnlyGivesNoCard) {
  sh("ip -n " + ns_ + " link del eth0");
  hvrun::oci::VmNetwork n = hvrun::oci::adopt_network_namespace(path(), nullptr);
  EXPECT_EQ(n.net, hvrun::container::NetMode::None);
  EXPECT_NE(in_ns("link show dev " + std::string(hvrun::oci::kVmNetBridge)).find("does not exist"), std::string::npos);
}

TEST_F(OciVmNet, AMacvlanIsRefusedAndLeftAsItWas) {
  sh("ip -n " + ns_ + " link del eth0");  // its host end goes with it
  const std::string made = sh("ip link add " + host_ + " type veth peer name " + host_ + "p && ip link add link " +
                              host_ + " name mv0 type macvlan && echo ok");
  if (made.find("Unknown device type") != std::string::npos)
    GTEST_SKIP() << "this kernel has no macvlan: " << made;
  ASSERT_EQ(made, "ok\n");
  ASSERT_EQ(sh("ip link set mv0 netns " + ns_ + " && ip -n " + ns_ + " addr add 10.214.4.5/24 dev mv0 && echo ok"),
            "ok\n");
  try {
    (void)hvrun::oci::adopt_network_namespace(path(), nullptr);
    ADD_FAILURE() << "a macvlan was taken over";
  } catch (const hvrun::Error& e) {
    EXPECT_NE(std::string(e.what()).find("is a macvlan, which a microVM cannot take over"), std::string::npos) << e.what();
  }
  EXPECT_NE(in_ns("-4 -o addr show dev mv0").find("10.214.4.5/24"), std::string::npos) << "the refusal changed it";
}

// A pod's sandbox (pause) container, as containerd's CRI and CRI-O mark
// it, leaves the interface to the pod's container.
TEST(OciVmNetPod, ThePodsSandboxIsKnownByTheAnnotationsOfContainerdAndCriO) {
  EXPECT_TRUE(hvrun::oci::is_pod_sandbox({{"io.kubernetes.cri.container-type", "sandbox"}}));
  EXPECT_TRUE(hvrun::oci::is_pod_sandbox({{"io.kubernetes.cri-o.ContainerType", "sandbox"}}));
  EXPECT_FALSE(hvrun::oci::is_pod_sandbox({{"io.kubernetes.cri.container-type", "container"}}));
  EXPECT_FALSE(hvrun::oci::is_pod_sandbox({}));
}

}  // namespace
