// Virtio9p through MmioTransport: the 9p request queue, its worker thread,
// and what a hostile driver's chains do to the device.
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/unit/p9_test_util.hpp"
#include "tests/unit/virtio_test_driver.hpp"
#include "util/error.hpp"
#include "util/fd.hpp"
#include "vmm/guest_memory.hpp"
#include "vmm/p9_server.hpp"
#include "vmm/virtio_9p.hpp"
#include "vmm/virtio_mmio.hpp"

using namespace hvrun::vmm;
using namespace hvrun::vmm::p9test;
namespace fs = std::filesystem;

namespace {

// --- Virtio9p through the MMIO transport ------------------------------------

constexpr uint64_t kMem = 1 << 20;
constexpr uint64_t kDesc = 0x1000, kAvail = 0x2000, kUsed = 0x3000, kData = 0x10000;
constexpr uint16_t kQSize = 64;  // room for more chains than Virtio9p::kMaxPending

// The fake driver with the 9p request queue at kDesc/kAvail/kUsed.
struct Driver : hvrun::vmm::test::FakeDriver {
  static constexpr hvrun::vmm::test::RingAt kRing{kDesc, kAvail, kUsed};
  uint16_t avail_idx = 0;
  Driver() : FakeDriver(kMem, kQSize) {}
  void desc(uint16_t i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next = 0) {
    put_desc(kDesc, i, addr, len, flags, next);
  }
  void offer(uint16_t head) { put_avail(kRing, avail_idx, head); }
  uint16_t used_idx() const { return FakeDriver::used_idx(kRing); }
  uint32_t used_len(uint16_t i) const { return FakeDriver::used_len(kRing, i); }
};
using hvrun::vmm::test::r32;
using hvrun::vmm::test::w32;


class P9Virtio : public ::testing::Test {
 protected:
  Driver drv;
  TempDir dir;
  int irqs = 0;
  std::unique_ptr<MmioTransport> t;

  void SetUp() override {
    t = std::make_unique<MmioTransport>(std::make_unique<Virtio9p>(dir.path, "hostshare", false), drv.mem, [this] { ++irqs; });
    init();
  }
  // The virtio 1.x init sequence, rings zeroed.
  void init() {
    drv.avail_idx = 0;
    std::memset(&drv.buf[kAvail], 0, 0x1000);
    std::memset(&drv.buf[kUsed], 0, 0x1000);
    w32(*t, mmio::kStatus, 0);
    w32(*t, mmio::kStatus, kVirtioStatusAcknowledge | kVirtioStatusDriver);
    EXPECT_EQ(r32(*t, mmio::kDeviceId), 9u);
    w32(*t, mmio::kDeviceFeaturesSel, 0);
    EXPECT_TRUE(r32(*t, mmio::kDeviceFeatures) & kVirtio9pFMountTag);
    w32(*t, mmio::kDriverFeaturesSel, 0);
    w32(*t, mmio::kDriverFeatures, static_cast<uint32_t>(kVirtio9pFMountTag));
    w32(*t, mmio::kDriverFeaturesSel, 1);
    w32(*t, mmio::kDriverFeatures, 1);  // VERSION_1
    w32(*t, mmio::kStatus, kVirtioStatusAcknowledge | kVirtioStatusDriver | kVirtioStatusFeaturesOk);
    ASSERT_TRUE(r32(*t, mmio::kStatus) & kVirtioStatusFeaturesOk);
    w32(*t, mmio::kQueueSel, 0);
    w32(*t, mmio::kQueueNum, kQSize);
    w32(*t, mmio::kQueueDescLow, static_cast<uint32_t>(kDesc));
    w32(*t, mmio::kQueueDriverLow, static_cast<uint32_t>(kAvail));
    w32(*t, mmio::kQueueDeviceLow, static_cast<uint32_t>(kUsed));
    w32(*t, mmio::kQueueReady, 1);
    w32(*t, mmio::kStatus, kVirtioStatusAcknowledge | kVirtioStatusDriver | kVirtioStatusFeaturesOk | kVirtioStatusDriverOk);
  }
  // Puts `req` at kData as one readable descriptor, then `out` writable
  // descriptors of the given sizes at kData + 0x8000...; notifies.
  void send(const std::vector<uint8_t>& req, const std::vector<uint32_t>& out) {
    std::memcpy(&drv.buf[kData], req.data(), req.size());
    uint16_t i = 0;
    drv.desc(i, kData, static_cast<uint32_t>(req.size()), out.empty() ? 0 : 1, 1);
    uint64_t at = kData + 0x8000;
    for (size_t k = 0; k < out.size(); ++k) {
      ++i;
      drv.desc(i, at, out[k], static_cast<uint16_t>(2 | (k + 1 < out.size() ? 1 : 0)), static_cast<uint16_t>(i + 1));
      at += out[k] + 0x100;
    }
    drv.offer(0);
    w32(*t, mmio::kQueueNotify, 0);
    settle();
  }
  // Does what the VMM's I/O loop does until the driver has every reply (or
  // the device broke): the worker's replies come back through
  // completion_fd() and a kick of queue 0.
  void settle() {
    auto& dev = static_cast<Virtio9p&>(t->device());
    for (int i = 0; i < 1000 && !t->broken() && drv.used_idx() != drv.avail_idx; ++i) {
      pollfd p{dev.completion_fd(), POLLIN, 0};
      if (::poll(&p, 1, 10) > 0) {
        uint64_t v;
        (void)!::read(p.fd, &v, sizeof v);
      }
      t->kick(0);
    }
  }
  // A session with fid 2 open on file f ("abcdefghijklmnopqrstuvwxyz").
  void open_file_as_fid2() {
    write_file(dir.path + "/f", "abcdefghijklmnopqrstuvwxyz");
    send(Msg(Tversion, 0xffff).u32(262144).str("9P2000.L").bytes(), {4096});
    send(Msg(Tattach, 1).u32(1).u32(kNoFid).str("").str("").u32(0).bytes(), {4096});
    send(Msg(Twalk, 2).u32(1).u32(2).u16(1).str("f").bytes(), {4096});
    send(Msg(Tlopen, 3).u32(2).u32(0).bytes(), {4096});
    ASSERT_EQ(drv.used_idx(), 4);
  }
  // n one-byte Treads of fid 2 (byte k, tag first_tag + k) in n chains of
  // two descriptors (2k, 2k+1), offered together, then one notify. Reply k
  // lands at kData + 0x4000 + 0x400 * k.
  void offer_reads(uint16_t n, uint16_t first_tag) {
    for (uint16_t k = 0; k < n; ++k) {
      std::vector<uint8_t> req = Msg(Tread, static_cast<uint16_t>(first_tag + k)).u32(2).u64(k).u32(1).bytes();
      uint64_t in = kData + 0x100 * k, out = kData + 0x4000 + 0x400 * k;
      std::memcpy(&drv.buf[in], req.data(), req.size());
      drv.desc(static_cast<uint16_t>(2 * k), in, static_cast<uint32_t>(req.size()), 1, static_cast<uint16_t>(2 * k + 1));
      drv.desc(static_cast<uint16_t>(2 * k + 1), out, 0x400, 2);
      drv.offer(static_cast<uint16_t>(2 * k));
    }
    w32(*t, mmio::kQueueNotify, 0);
  }
  std::vector<uint8_t> at(uint64_t addr, size_t n) const {
    return std::vector<uint8_t>(drv.buf.begin() + static_cast<long>(addr), drv.buf.begin() + static_cast<long>(addr + n));
  }
};

TEST(P9VirtioDevice, RejectsBadTagsAndMissingShare) {
  TempDir d;
  EXPECT_THROW(Virtio9p(d.path, "", false), hvrun::Error);
  EXPECT_THROW(Virtio9p(d.path, std::string(32, 'a'), false), hvrun::Error);
  EXPECT_THROW(Virtio9p(d.path, "bad tag", false), hvrun::Error);
  EXPECT_THROW(Virtio9p(d.path, "a/b", false), hvrun::Error);
  EXPECT_THROW(Virtio9p(d.path + "/nope", "ok", false), hvrun::Error);
  EXPECT_NO_THROW(Virtio9p(d.path, std::string(31, 'a'), false));
  EXPECT_NO_THROW(Virtio9p(d.path, "Ab_9-z", true));
}

TEST_F(P9Virtio, ConfigSpaceHoldsTagLengthAndTag) {
  uint8_t cfg[16] = {};
  for (unsigned i = 0; i < sizeof cfg; ++i) t->read(mmio::kConfig + i, &cfg[i], 1);
  EXPECT_EQ(cfg[0] | cfg[1] << 8, 9);
  EXPECT_EQ(std::string(reinterpret_cast<char*>(cfg + 2), 9), "hostshare");
  EXPECT_EQ(cfg[11], 0);  // no NUL needed, bytes past the tag read 0
}

TEST_F(P9Virtio, TversionRoundTripThroughTheQueue) {
  send(Msg(Tversion, 0xffff).u32(262144).str("9P2000.L").bytes(), {4096});
  ASSERT_FALSE(t->broken()) << t->broken_reason();
  ASSERT_EQ(drv.used_idx(), 1);
  uint32_t len = drv.used_len(0);
  Reply r(at(kData + 0x8000, len));
  ASSERT_EQ(r.type(), Tversion + 1);
  EXPECT_EQ(r.u32(), 262144u);
  EXPECT_EQ(r.str(), "9P2000.L");
  EXPECT_GT(irqs, 0);
}

TEST_F(P9Virtio, ReplyIsScatteredOverSeveralWritableBuffers) {
  open_file_as_fid2();
  // Like the Linux zero-copy read: an 11-byte header buffer, then data pages.
  send(Msg(Tread, 4).u32(2).u64(0).u32(26).bytes(), {11, 10, 100});
  ASSERT_FALSE(t->broken()) << t->broken_reason();
  ASSERT_EQ(drv.used_idx(), 5);
  EXPECT_EQ(drv.used_len(4), 11u + 26u);
  uint64_t seg1 = kData + 0x8000, seg2 = seg1 + 11 + 0x100, seg3 = seg2 + 10 + 0x100;
  std::vector<uint8_t> hdr = at(seg1, 11);
  EXPECT_EQ(hdr[4], Tread + 1);
  EXPECT_EQ(hdr[7], 26);
  std::vector<uint8_t> a = at(seg2, 10), b = at(seg3, 16);
  EXPECT_EQ(std::string(a.begin(), a.end()) + std::string(b.begin(), b.end()), "abcdefghijklmnopqrstuvwxyz");
}

TEST_F(P9Virtio, ReplyTooBigForTheBufferBecomesRlerrorEmsgsize) {
  send(Msg(Tversion, 0xffff).u32(262144).str("9P2000.L").bytes(), {12});  // Rversion needs 21
  ASSERT_FALSE(t->broken()) << t->broken_reason();
  ASSERT_EQ(drv.used_idx(), 1);
  EXPECT_EQ(drv.used_len(0), 11u);
  Reply r(at(kData + 0x8000, 11));
  EXPECT_EQ(r.err(), EMSGSIZE);
  EXPECT_EQ(r.tag(), 0xffff);
  // Not even room for the error: the device breaks.
  send(Msg(Tversion, 0xffff).u32(262144).str("9P2000.L").bytes(), {8});
  EXPECT_TRUE(t->broken());
}

TEST_F(P9Virtio, ChainWithoutWritablePartBreaksTheDevice) {
  send(Msg(Tversion, 0xffff).u32(262144).str("9P2000.L").bytes(), {});
  EXPECT_TRUE(t->broken());
  EXPECT_NE(t->broken_reason().find("writable"), std::string::npos) << t->broken_reason();
  EXPECT_EQ(drv.used_idx(), 0);
}

TEST_F(P9Virtio, RequestLargerThanMsizeBreaksTheDevice) {
  send(Msg(Tversion, 0xffff).u32(8192).str("9P2000.L").bytes(), {4096});
  ASSERT_FALSE(t->broken());
  std::vector<uint8_t> big = Msg(Twrite, 1).u32(1).u64(0).u32(9000).raw(std::vector<uint8_t>(9000)).bytes();
  send(big, {4096});
  EXPECT_TRUE(t->broken());
  EXPECT_NE(t->broken_reason().find("msize"), std::string::npos) << t->broken_reason();
}

TEST_F(P9Virtio, ManyRequestsAtOnceAreAllAnsweredInOrderAFewAtATime) {
  open_file_as_fid2();
  // 24 Tread in 24 two-descriptor chains, offered together: more than the
  // device takes at once (Virtio9p::kMaxPending); the rest wait on the ring
  // and are taken as the worker's replies come back.
  constexpr uint16_t kN = 24;
  static_assert(kN > Virtio9p::kMaxPending && 2 * kN <= kQSize);
  const uint16_t before = drv.used_idx();
  offer_reads(kN, 100);
  settle();
  ASSERT_FALSE(t->broken()) << t->broken_reason();
  ASSERT_EQ(drv.used_idx(), before + kN);
  for (uint16_t k = 0; k < kN; ++k) {
    uint16_t u = static_cast<uint16_t>(before + k);
    uint32_t head;
    std::memcpy(&head, &drv.buf[kUsed + 4 + 8 * (u % kQSize)], 4);
    EXPECT_EQ(head, 2u * k) << "in order";
    Reply r(at(kData + 0x4000 + 0x400 * k, drv.used_len(u)));
    EXPECT_EQ(r.type(), Tread + 1) << r.err();
    EXPECT_EQ(r.tag(), 100 + k);
    EXPECT_EQ(r.u32(), 1u);
    EXPECT_EQ(r.u8(), 'a' + k) << "byte k of the file";
  }
}

TEST_F(P9Virtio, AResetWithRequestsInFlightNeverAnswersThemAfterwards) {
  open_file_as_fid2();
  offer_reads(8, 200);
  init();  // reset at once: replies may be in the works
  // Whatever the worker finished before the reset must not reach the new rings.
  auto& dev = static_cast<Virtio9p&>(t->device());
  pollfd p{dev.completion_fd(), POLLIN, 0};
  (void)::poll(&p, 1, 200);
  t->kick(0);
  EXPECT_EQ(drv.used_idx(), 0);
  // The new session works, and its first fid is unknown (the old one went).
  send(Msg(Tversion, 0xffff).u32(262144).str("9P2000.L").bytes(), {4096});
  send(Msg(Tclunk, 2).u32(1).bytes(), {4096});
  ASSERT_EQ(drv.used_idx(), 2);
  EXPECT_EQ(Reply(at(kData + 0x8000, drv.used_len(1))).err(), EBADF);
}

TEST_F(P9Virtio, DeviceResetDropsTheSession) {
  send(Msg(Tversion, 0xffff).u32(262144).str("9P2000.L").bytes(), {4096});
  send(Msg(Tattach, 1).u32(1).u32(kNoFid).str("").str("").u32(0).bytes(), {4096});
  ASSERT_EQ(drv.used_idx(), 2);
  auto& dev = static_cast<Virtio9p&>(t->device());
  EXPECT_EQ(dev.tag(), "hostshare");
  // Reset (Status = 0) and initialise again: the same device, a new session.
  init();
  EXPECT_EQ(&t->device(), &dev);
  send(Msg(Tversion, 0xffff).u32(262144).str("9P2000.L").bytes(), {4096});
  send(Msg(Tclunk, 2).u32(1).bytes(), {4096});
  ASSERT_FALSE(t->broken()) << t->broken_reason();
  ASSERT_EQ(drv.used_idx(), 2);
  Reply r(at(kData + 0x8000, drv.used_len(1)));
  EXPECT_EQ(r.err(), EBADF);
}

}  // namespace
