// virtio-net against a GuestMemory backed by a plain buffer. The tap is
// stood in for by a SOCK_SEQPACKET socketpair (one message = one packet,
// like a tap's reads and writes), plus tests of the real tap helpers in a
// private network namespace. A hostile driver must get the device marked
// DEVICE_NEEDS_RESET, never a crash or an access outside guest memory.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <net/if.h>
#include <poll.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "tests/unit/netns_test_util.hpp"
#include "tests/unit/virtio_test_driver.hpp"
#include "util/fd.hpp"
#include "vmm/guest_memory.hpp"
#include "util/netif.hpp"
#include "vmm/tap.hpp"
#include "vmm/virtio_mmio.hpp"
#include "vmm/virtio_net.hpp"

using namespace hvrun::vmm;
using namespace hvrun::vmm::test;
using hvrun::UniqueFd;

using hvrun::test::in_netns;
using hvrun::test::sh;

namespace {

constexpr uint64_t kMem = 1 << 20;
constexpr uint16_t kQSize = 16;
// queue 0 (rx) and queue 1 (tx) rings
constexpr uint64_t kRing[2][3] = {{0x1000, 0x2000, 0x3000}, {0x4000, 0x5000, 0x6000}};
constexpr uint64_t kData = 0x10000;
constexpr uint16_t kNext = 1, kWrite = 2;
const unsigned char kMac[6] = {0x02, 0x42, 0x0a, 0x58, 0x00, 0x05};

// The fake driver with queue q's rings at kRing[q] (desc, avail, used).
struct NetDriver : FakeDriver {
  uint16_t avail_idx[2] = {0, 0};
  NetDriver() : FakeDriver(kMem, kQSize) {}
  static RingAt ring(int q) { return {kRing[q][0], kRing[q][1], kRing[q][2]}; }
  void desc(int q, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next = 0) {
    put_desc(kRing[q][0], i, addr, len, flags, next);
  }
  void offer(int q, uint16_t head) { put_avail(ring(q), avail_idx[q], head); }
  uint16_t used_idx(int q) const { return FakeDriver::used_idx(ring(q)); }
  uint32_t used_len(int q, uint16_t i) const { return FakeDriver::used_len(ring(q), i); }
};


struct VmmVirtioNet : ::testing::Test {
  NetDriver drv;
  int irqs = 0;
  UniqueFd host, dev;  // "tap": dev is the device's end, host the network's
  std::unique_ptr<MmioTransport> t;

  void SetUp() override {
    int sv[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
    host.reset(sv[0]);
    dev.reset(sv[1]);
    t = std::make_unique<MmioTransport>(std::make_unique<VirtioNet>(dev.get(), kMac), drv.mem, [this] { ++irqs; });
    const uint64_t f = kVirtioFVersion1 | kVirtioNetFMac | kVirtioNetFStatus;
    w32(*t, mmio::kStatus, 0);
    w32(*t, mmio::kStatus, kVirtioStatusAcknowledge | kVirtioStatusDriver);
    w32(*t, mmio::kDriverFeaturesSel, 0);
    w32(*t, mmio::kDriverFeatures, static_cast<uint32_t>(f));
    w32(*t, mmio::kDriverFeaturesSel, 1);
    w32(*t, mmio::kDriverFeatures, static_cast<uint32_t>(f >> 32));
    w32(*t, mmio::kStatus, kVirtioStatusAcknowledge | kVirtioStatusDriver | kVirtioStatusFeaturesOk);
    ASSERT_TRUE(r32(*t, mmio::kStatus) & kVirtioStatusFeaturesOk);
    for (uint32_t q = 0; q < 2; ++q) {
      w32(*t, mmio::kQueueSel, q);
      w32(*t, mmio::kQueueNum, kQSize);
      w32(*t, mmio::kQueueDescLow, static_cast<uint32_t>(kRing[q][0]));
      w32(*t, mmio::kQueueDriverLow, static_cast<uint32_t>(kRing[q][1]));
      w32(*t, mmio::kQueueDeviceLow, static_cast<uint32_t>(kRing[q][2]));
      w32(*t, mmio::kQueueReady, 1);
    }
    w32(*t, mmio::kStatus,
        kVirtioStatusAcknowledge | kVirtioStatusDriver | kVirtioStatusFeaturesOk | kVirtioStatusDriverOk);
    ASSERT_TRUE(t->driver_ok());
  }
  VirtioNet& net() { return static_cast<VirtioNet&>(t->device()); }
  std::string packet(const std::string& frame) { return std::string(12, '\0') + frame; }
};

TEST_F(VmmVirtioNet, ConfigSpaceHoldsTheMacAndLinkUpAndFeaturesAreOffered) {
  EXPECT_EQ(r32(*t, mmio::kDeviceId), 1u);
  w32(*t, mmio::kDeviceFeaturesSel, 0);
  const uint32_t lo = r32(*t, mmio::kDeviceFeatures);
  EXPECT_TRUE(lo & kVirtioNetFMac);
  EXPECT_TRUE(lo & kVirtioNetFStatus);
  w32(*t, mmio::kDeviceFeaturesSel, 1);
  EXPECT_EQ(r32(*t, mmio::kDeviceFeatures) & 1u, 1u);  // VERSION_1
  uint8_t cfg[8];
  for (unsigned i = 0; i < 8; ++i) t->read(mmio::kConfig + i, &cfg[i], 1);
  EXPECT_EQ(std::memcmp(cfg, kMac, 6), 0);
  EXPECT_EQ(cfg[6], 1);  // VIRTIO_NET_S_LINK_UP
  EXPECT_EQ(cfg[7], 0);
}

TEST_F(VmmVirtioNet, TransmitWritesHeaderAndFrameAsOnePacketToTheTap) {
  std::string pkt = packet("FRAME-one-two-three");
  // header and frame in two descriptors, as Linux may send them
  std::memcpy(&drv.buf[kData], pkt.data(), 12);
  std::memcpy(&drv.buf[kData + 0x100], pkt.data() + 12, pkt.size() - 12);
  drv.desc(1, 0, kData, 12, kNext, 1);
  drv.desc(1, 1, kData + 0x100, static_cast<uint32_t>(pkt.size() - 12), 0);
  drv.offer(1, 0);
  w32(*t, mmio::kQueueNotify, 1);
  ASSERT_FALSE(t->broken()) << t->broken_reason();
  char got[256];
  ssize_t n = ::read(host.get(), got, sizeof got);
  ASSERT_EQ(n, static_cast<ssize_t>(pkt.size()));
  EXPECT_EQ(std::string(got, size_t(n)), pkt);
  EXPECT_EQ(drv.used_idx(1), 1);
  EXPECT_EQ(irqs, 1);
  EXPECT_EQ(net().tx_packets(), 1u);
}

TEST_F(VmmVirtioNet, ReceiveWaitsForGuestBuffersThenDeliversWithNumBuffersOne) {
  std::string pkt = packet("incoming-frame");
  pkt[10] = 7;  // the device must overwrite num_buffers with 1
  ASSERT_EQ(::write(host.get(), pkt.data(), pkt.size()), static_cast<ssize_t>(pkt.size()));
  t->kick(0);  // packet waiting, no buffer: nothing happens, the device stops polling
  EXPECT_EQ(drv.used_idx(0), 0);
  EXPECT_FALSE(net().wants_input());
  drv.desc(0, 0, kData, 1526, kWrite);
  drv.offer(0, 0);
  w32(*t, mmio::kQueueNotify, 0);  // buffers added: the device polls again and delivers
  EXPECT_TRUE(net().wants_input() || drv.used_idx(0) == 1);
  ASSERT_EQ(drv.used_idx(0), 1);
  EXPECT_EQ(drv.used_len(0, 0), pkt.size());
  EXPECT_EQ(std::memcmp(&drv.buf[kData + 12], "incoming-frame", 14), 0);
  EXPECT_EQ(drv.buf[kData + 10], 1);
  EXPECT_EQ(drv.buf[kData + 11], 0);
  EXPECT_GE(irqs, 1);
  EXPECT_EQ(net().rx_packets(), 1u);
}

TEST_F(VmmVirtioNet, ReceiveWithNoPacketKeepsTheBufferForTheNextOne) {
  drv.desc(0, 0, kData, 8, kWrite | kNext, 1);  // header split across two buffers
  drv.desc(0, 1, kData + 0x100, 1518, kWrite);
  drv.offer(0, 0);
  w32(*t, mmio::kQueueNotify, 0);
  EXPECT_EQ(drv.used_idx(0), 0);  // nothing to receive: buffer kept, not returned empty
  EXPECT_TRUE(net().wants_input());
  std::string pkt = packet("late");
  ASSERT_EQ(::write(host.get(), pkt.data(), pkt.size()), static_cast<ssize_t>(pkt.size()));
  t->kick(0);
  ASSERT_EQ(drv.used_idx(0), 1);
  EXPECT_EQ(drv.used_len(0, 0), pkt.size());
  EXPECT_EQ(drv.buf[kData + 0x100 + 2], 1);  // num_buffers at header bytes 10-11 = second buffer's 2-3
  EXPECT_EQ(std::memcmp(&drv.buf[kData + 0x100 + 4], "late", 4), 0);
  EXPECT_FALSE(t->broken());
}

TEST_F(VmmVirtioNet, ReadOnlyReceiveBufferBreaksTheDevice) {
  drv.desc(0, 0, kData, 1526, 0);
  drv.offer(0, 0);
  std::string pkt = packet("x");
  ASSERT_EQ(::write(host.get(), pkt.data(), pkt.size()), static_cast<ssize_t>(pkt.size()));
  w32(*t, mmio::kQueueNotify, 0);
  EXPECT_TRUE(t->broken());
  EXPECT_NE(t->broken_reason().find("not writable"), std::string::npos) << t->broken_reason();
  EXPECT_FALSE(t->driver_ok());  // the I/O loop stops polling the tap
}

TEST_F(VmmVirtioNet, ReceiveBufferShorterThanTheHeaderBreaksTheDevice) {
  drv.desc(0, 0, kData, 6, kWrite);
  drv.offer(0, 0);
  w32(*t, mmio::kQueueNotify, 0);
  EXPECT_TRUE(t->broken());
  EXPECT_EQ(drv.used_idx(0), 0);
}

TEST_F(VmmVirtioNet, WritableTransmitBufferBreaksTheDeviceAndSendsNothing) {
  drv.desc(1, 0, kData, 64, kWrite);
  drv.offer(1, 0);
  w32(*t, mmio::kQueueNotify, 1);
  EXPECT_TRUE(t->broken());
  char b[64];
  EXPECT_LT(::read(host.get(), b, sizeof b), 0);  // EAGAIN: nothing reached the tap
}

TEST_F(VmmVirtioNet, TransmitShorterThanTheHeaderBreaksTheDevice) {
  drv.desc(1, 0, kData, 4, 0);
  drv.offer(1, 0);
  w32(*t, mmio::kQueueNotify, 1);
  EXPECT_TRUE(t->broken());
}

TEST_F(VmmVirtioNet, BuffersOutsideGuestMemoryBreakTheDeviceWithoutTouchingThem) {
  drv.desc(1, 0, kMem - 8, 64, 0);  // runs past the end of guest memory
  drv.offer(1, 0);
  w32(*t, mmio::kQueueNotify, 1);
  EXPECT_TRUE(t->broken());
  w32(*t, mmio::kStatus, 0);  // reset clears it
  EXPECT_FALSE(t->broken());
  char b[64];
  EXPECT_LT(::read(host.get(), b, sizeof b), 0);
}

TEST_F(VmmVirtioNet, PacketTooBigForTheBufferDoesNotOverrunIt) {
  drv.desc(0, 0, kData, 32, kWrite);
  drv.offer(0, 0);
  drv.buf[kData + 32] = 0xaa;  // guard byte right after the buffer
  std::string pkt = packet(std::string(200, 'B'));
  ASSERT_EQ(::write(host.get(), pkt.data(), pkt.size()), static_cast<ssize_t>(pkt.size()));
  w32(*t, mmio::kQueueNotify, 0);
  EXPECT_EQ(drv.buf[kData + 32], 0xaa);
  EXPECT_FALSE(t->broken());
  if (drv.used_idx(0) == 1) {
    EXPECT_LE(drv.used_len(0, 0), 32u);
  }
}


TEST(VmmTap, TapJoinsTheBridgeComesUpAndVanishesWhenItsFdCloses) {
  std::string out = in_netns([] {
    if (std::system("ip link add br-t type bridge && ip link set br-t up") != 0) throw hvrun::Error("ip link add bridge failed");
    std::string name;
    {
      UniqueFd tap = open_tap("hvtest%d", &name);
      std::printf("name=%s\n", name.c_str());
      hvrun::join_bridge("br-t", name);
      hvrun::link_up(name);
      std::printf("link: %s", sh("ip -o link show dev " + name).c_str());
    }
    std::printf("after-close-index=%u\n", ::if_nametoindex(name.c_str()));
  });
  EXPECT_NE(out.find("name=hvtest0"), std::string::npos) << out;
  EXPECT_NE(out.find("master br-t"), std::string::npos) << out;
  EXPECT_NE(out.find(",UP"), std::string::npos) << out;
  EXPECT_NE(out.find("after-close-index=0\n"), std::string::npos) << out;  // not persistent
  EXPECT_NE(out.find("exit 0"), std::string::npos) << out;
}

TEST(VmmTap, TheTapsAProcessHoldsAreFoundThroughItsTunFdsAndGoWhenClosed) {
  std::string out = in_netns([] {
    std::string a, b;
    UniqueFd ta = open_tap("hvtest%d", &a);
    {
      UniqueFd tb = open_tap("hvtest%d", &b);
      std::string held;
      for (const auto& t : taps_held_by(::getpid())) held += t + ",";
      std::printf("held=%s\n", held.c_str());
    }
    std::string held;
    for (const auto& t : taps_held_by(::getpid())) held += t + ",";
    std::printf("after=%s\n", held.c_str());
    std::printf("parent=%zu\n", taps_held_by(::getppid()).size());
    std::printf("gone=%zu\n", taps_held_by(999999999).size());
  });
  EXPECT_NE(out.find("held=hvtest0,hvtest1,\n"), std::string::npos) << out;
  EXPECT_NE(out.find("after=hvtest0,\n"), std::string::npos) << out;
  EXPECT_NE(out.find("parent=0\n"), std::string::npos) << out;
  EXPECT_NE(out.find("gone=0\n"), std::string::npos) << out;
}

TEST(VmmTap, JoiningANonBridgeFailsWithAClearError) {
  std::string out = in_netns([] {
    std::string name;
    UniqueFd tap = open_tap("hvtest%d", &name);
    hvrun::join_bridge("lo", name);
  });
  EXPECT_NE(out.find("error: add hvtest0 to bridge lo"), std::string::npos) << out;
  EXPECT_NE(out.find("exit 1"), std::string::npos) << out;
}

uint16_t ip_checksum(const uint8_t* p, size_t n) {
  uint32_t sum = 0;
  for (size_t i = 0; i + 1 < n; i += 2) sum += uint32_t(p[i] << 8 | p[i + 1]);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

// The device on a real tap in a private netns (host side 10.5.0.1/24, the
// "guest" 10.5.0.2): a UDP datagram from the host lands in a guest receive
// buffer, and a frame the guest transmits reaches a host UDP socket.
TEST(VmmVirtioNetTap, UdpBothWaysThroughARealTap) {
  std::string out = in_netns([] {
    std::string name;
    UniqueFd tap = open_tap("hvtest%d", &name);
    const std::string cmd = "ip addr add 10.5.0.1/24 dev " + name + " && ip link set " + name +
                            " up && ip neigh add 10.5.0.2 lladdr 02:42:0a:05:00:02 dev " + name;
    if (std::system(cmd.c_str()) != 0) throw hvrun::Error("ip setup failed");
    NetDriver drv;
    MmioTransport t(std::make_unique<VirtioNet>(tap.get(), kMac), drv.mem, nullptr);
    const uint64_t f = kVirtioFVersion1 | kVirtioNetFMac;
    w32(t, mmio::kStatus, kVirtioStatusAcknowledge | kVirtioStatusDriver);
    w32(t, mmio::kDriverFeatures, static_cast<uint32_t>(f));
    w32(t, mmio::kDriverFeaturesSel, 1);
    w32(t, mmio::kDriverFeatures, static_cast<uint32_t>(f >> 32));
    w32(t, mmio::kStatus, kVirtioStatusAcknowledge | kVirtioStatusDriver | kVirtioStatusFeaturesOk);
    for (uint32_t q = 0; q < 2; ++q) {
      w32(t, mmio::kQueueSel, q);
      w32(t, mmio::kQueueNum, kQSize);
      w32(t, mmio::kQueueDescLow, static_cast<uint32_t>(kRing[q][0]));
      w32(t, mmio::kQueueDriverLow, static_cast<uint32_t>(kRing[q][1]));
      w32(t, mmio::kQueueDeviceLow, static_cast<uint32_t>(kRing[q][2]));
      w32(t, mmio::kQueueReady, 1);
    }
    w32(t, mmio::kStatus, kVirtioStatusAcknowledge | kVirtioStatusDriver | kVirtioStatusFeaturesOk | kVirtioStatusDriverOk);

    // host -> guest
    for (uint16_t i = 0; i < kQSize; ++i) {
      drv.desc(0, i, kData + 0x800ull * i, 1526, kWrite);
      drv.offer(0, i);
    }
    UniqueFd u(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(9999);
    to.sin_addr.s_addr = inet_addr("10.5.0.2");
    const char msg[] = "ping-from-host";
    if (::sendto(u.get(), msg, sizeof msg - 1, 0, reinterpret_cast<sockaddr*>(&to), sizeof to) < 0)
      throw hvrun::Error("sendto failed");
    bool found = false;
    for (int tries = 0; tries < 100 && !found; ++tries) {
      t.kick(0);
      for (uint16_t i = 0; i < drv.used_idx(0) && !found; ++i) {
        std::string got(reinterpret_cast<char*>(&drv.buf[kData + 0x800ull * i]), drv.used_len(0, i));
        found = got.find(msg) != std::string::npos;
      }
      ::usleep(10000);
    }
    std::printf("host-to-guest: %s\n", found ? "received" : "missing");

    // guest -> host: Ethernet + IPv4 + UDP, UDP checksum 0 (none)
    UniqueFd r(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    sockaddr_in at{};
    at.sin_family = AF_INET;
    at.sin_port = htons(9998);
    at.sin_addr.s_addr = inet_addr("10.5.0.1");
    if (::bind(r.get(), reinterpret_cast<sockaddr*>(&at), sizeof at) < 0) throw hvrun::Error("bind failed");
    ifreq ifr{};
    std::strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
    if (::ioctl(r.get(), SIOCGIFHWADDR, &ifr) < 0) throw hvrun::Error("SIOCGIFHWADDR failed");
    const char pay[] = "pong-from-guest";
    std::vector<uint8_t> p(12 + 14 + 20 + 8 + sizeof pay - 1, 0);  // vnet header all zero
    uint8_t* e = &p[12];
    std::memcpy(e, ifr.ifr_hwaddr.sa_data, 6);
    std::memcpy(e + 6, kMac, 6);
    e[12] = 0x08;
    uint8_t* ip = e + 14;
    const uint16_t iplen = static_cast<uint16_t>(20 + 8 + sizeof pay - 1);
    ip[0] = 0x45;
    ip[2] = uint8_t(iplen >> 8);
    ip[3] = uint8_t(iplen);
    ip[8] = 64;
    ip[9] = 17;
    const uint8_t src[4] = {10, 5, 0, 2}, dst[4] = {10, 5, 0, 1};
    std::memcpy(ip + 12, src, 4);
    std::memcpy(ip + 16, dst, 4);
    const uint16_t ck = ip_checksum(ip, 20);
    ip[10] = uint8_t(ck >> 8);
    ip[11] = uint8_t(ck);
    uint8_t* udp = ip + 20;
    udp[0] = 0x30;  // source port 12345
    udp[1] = 0x39;
    udp[2] = 9998 >> 8;
    udp[3] = 9998 & 0xff;
    udp[4] = uint8_t((iplen - 20) >> 8);
    udp[5] = uint8_t(iplen - 20);
    std::memcpy(udp + 8, pay, sizeof pay - 1);
    std::memcpy(&drv.buf[kData + 0x10000], p.data(), p.size());
    drv.desc(1, 0, kData + 0x10000, static_cast<uint32_t>(p.size()), 0);
    drv.offer(1, 0);
    t.notify(1);
    char got[64] = {};
    pollfd pf{r.get(), POLLIN, 0};
    ssize_t n = ::poll(&pf, 1, 2000) == 1 ? ::recv(r.get(), got, sizeof got - 1, 0) : -1;
    std::printf("guest-to-host: %s\n", n > 0 ? got : "missing");
    std::printf("broken: %d\n", t.broken() ? 1 : 0);
  });
  EXPECT_NE(out.find("host-to-guest: received"), std::string::npos) << out;
  EXPECT_NE(out.find("guest-to-host: pong-from-guest"), std::string::npos) << out;
  EXPECT_NE(out.find("broken: 0"), std::string::npos) << out;
  EXPECT_NE(out.find("exit 0"), std::string::npos) << out;
}

TEST(VmmTap, OverlongNameIsRefused) {
  EXPECT_THROW(open_tap("a-name-longer-than-15"), hvrun::Error);
}

TEST(VmmTap, ParseMacAcceptsColonHexOnly) {
  unsigned char m[6];
  ASSERT_TRUE(hvrun::parse_mac("02:42:0A:58:00:ff", m));
  EXPECT_EQ(m[0], 0x02);
  EXPECT_EQ(m[3], 0x58);
  EXPECT_EQ(m[5], 0xff);
  EXPECT_FALSE(hvrun::parse_mac("02:42:0a:58:00", m));
  EXPECT_FALSE(hvrun::parse_mac("02-42-0a-58-00-05", m));
  EXPECT_FALSE(hvrun::parse_mac("02:42:0a:58:00:0g", m));
}

}  // namespace
