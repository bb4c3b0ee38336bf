// virtqueue, virtio-mmio and virtio-blk against a GuestMemory backed by a
// plain buffer: no /dev/kvm needed. A hostile driver must get the device
// marked DEVICE_NEEDS_RESET, never a crash or an access outside memory.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include "tests/unit/virtio_test_driver.hpp"
#include "vmm/guest_memory.hpp"
#include "vmm/virtio_blk.hpp"
#include "vmm/virtio_console.hpp"
#include "vmm/virtio_mmio.hpp"
#include "vmm/virtqueue.hpp"

using namespace hvrun::vmm;
using namespace hvrun::vmm::test;

namespace {

constexpr uint64_t kMem = 1 << 20;
constexpr uint64_t kDesc = 0x1000, kAvail = 0x2000, kUsed = 0x3000, kData = 0x10000;
constexpr uint16_t kQSize = 16;

// The fake driver with one queue at kDesc/kAvail/kUsed.
struct Driver : FakeDriver {
  static constexpr RingAt kRing{kDesc, kAvail, kUsed};
  uint16_t avail_idx = 0;
  Driver() : FakeDriver(kMem, kQSize) {}
  void desc(uint16_t i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next = 0, uint64_t table = kDesc) {
    put_desc(table, i, addr, len, flags, next);
  }
  void offer(uint16_t head) { put_avail(kRing, avail_idx, head); }
  uint16_t used_idx() const { return FakeDriver::used_idx(kRing); }
  uint32_t used_len(uint16_t i) const { return FakeDriver::used_len(kRing, i); }
};

Virtqueue make_queue() {
  Virtqueue q;
  q.size = kQSize;
  q.desc_addr = kDesc;
  q.avail_addr = kAvail;
  q.used_addr = kUsed;
  q.ready = true;
  return q;
}


// Drives the virtio 1.x init sequence; returns false if FEATURES_OK was refused.
bool init_device(MmioTransport& t, uint64_t features, uint64_t used = kUsed) {
  w32(t, mmio::kStatus, 0);
  w32(t, mmio::kStatus, kVirtioStatusAcknowledge | kVirtioStatusDriver);
  w32(t, mmio::kDriverFeaturesSel, 0);
  w32(t, mmio::kDriverFeatures, static_cast<uint32_t>(features));
  w32(t, mmio::kDriverFeaturesSel, 1);
  w32(t, mmio::kDriverFeatures, static_cast<uint32_t>(features >> 32));
  w32(t, mmio::kStatus, kVirtioStatusAcknowledge | kVirtioStatusDriver | kVirtioStatusFeaturesOk);
  if (!(r32(t, mmio::kStatus) & kVirtioStatusFeaturesOk)) return false;
  w32(t, mmio::kQueueSel, 0);
  w32(t, mmio::kQueueNum, kQSize);
  w32(t, mmio::kQueueDescLow, static_cast<uint32_t>(kDesc));
  w32(t, mmio::kQueueDescHigh, 0);
  w32(t, mmio::kQueueDriverLow, static_cast<uint32_t>(kAvail));
  w32(t, mmio::kQueueDeviceLow, static_cast<uint32_t>(used));
  w32(t, mmio::kQueueDeviceHigh, static_cast<uint32_t>(used >> 32));
  w32(t, mmio::kQueueReady, 1);
  w32(t, mmio::kStatus, kVirtioStatusAcknowledge | kVirtioStatusDriver | kVirtioStatusFeaturesOk | kVirtioStatusDriverOk);
  return true;
}

struct TempDisk {
  std::string path;
  explicit TempDisk(size_t sectors) {
    char tmpl[] = "/tmp/hvrun-vmm-disk-XXXXXX";
    int fd = ::mkstemp(tmpl);
    path = tmpl;
    std::vector<uint8_t> data(sectors * 512);
    for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(i / 512 + 1);
    EXPECT_EQ(::write(fd, data.data(), data.size()), static_cast<ssize_t>(data.size()));
    ::close(fd);
  }
  ~TempDisk() { ::unlink(path.c_str()); }
  std::vector<uint8_t> contents() const {
    std::vector<uint8_t> d(1 << 16);
    int fd = ::open(path.c_str(), O_RDONLY);
    ssize_t n = ::read(fd, d.data(), d.size());
    ::close(fd);
    d.resize(n > 0 ? static_cast<size_t>(n) : 0);
    return d;
  }
};

struct VmmVirtioBlk : ::testing::Test {
  Driver drv;
  TempDisk disk{8};
  int irqs = 0;
  std::unique_ptr<MmioTransport> t;
  void make(bool ro) {
    t = std::make_unique<MmioTransport>(std::make_unique<VirtioBlk>(disk.path, ro), drv.mem, [this] { ++irqs; });
    ASSERT_TRUE(init_device(*t, kVirtioFVersion1 | kVirtioRingFIndirectDesc | (ro ? kVirtioBlkFRo : 0)));
  }
  // header at kData, data at kData+0x100 (len), status at kData+0x80.
  void request(uint32_t type, uint64_t sector, uint32_t len) {
    struct {
      uint32_t type, reserved;
      uint64_t sector;
    } hdr{type, 0, sector};
    std::memcpy(&drv.buf[kData], &hdr, 16);
    drv.buf[kData + 0x80] = 0xff;
    drv.desc(0, kData, 16, 1, 1);
    drv.desc(1, kData + 0x100, len, 1 | (type == kVirtioBlkTIn || type == kVirtioBlkTGetId ? 2 : 0), 2);
    drv.desc(2, kData + 0x80, 1, 2);
    drv.offer(0);
    w32(*t, mmio::kQueueNotify, 0);
  }
  uint8_t status() const { return drv.buf[kData + 0x80]; }
};

}  // namespace

TEST(VmmGuestMemory, TranslateRejectsOutOfRangeAndOverflow) {
  std::vector<uint8_t> b(4096);
  GuestMemory m(b.data(), b.size());
  EXPECT_EQ(m.translate(0, 4096), b.data());
  EXPECT_EQ(m.translate(4096, 0), b.data() + 4096);
  EXPECT_THROW(m.translate(1, 4096), GuestMemoryError);
  EXPECT_THROW(m.translate(4097, 0), GuestMemoryError);
  EXPECT_THROW(m.translate(~0ull - 1, 4), GuestMemoryError);  // gpa+len wraps
  EXPECT_THROW(m.translate(8, ~0ull), GuestMemoryError);
}

TEST(VmmVirtqueue, PopsDirectChainAndPushesUsed) {
  Driver d;
  Virtqueue q = make_queue();
  d.desc(0, kData, 100, 1, 5);
  d.desc(5, kData + 0x1000, 200, 2);
  d.offer(0);
  DescChain c;
  ASSERT_TRUE(q.pop(d.mem, c));
  ASSERT_EQ(c.segs.size(), 2u);
  EXPECT_EQ(c.segs[0].len, 100u);
  EXPECT_FALSE(c.segs[0].device_writable);
  EXPECT_TRUE(c.segs[1].device_writable);
  EXPECT_FALSE(q.pop(d.mem, c));
  q.push_used(d.mem, c.head, 42);
  EXPECT_EQ(d.used_idx(), 1);
  EXPECT_EQ(d.used_len(0), 42u);
}

TEST(VmmVirtqueue, RejectsDescriptorPastMemoryEnd) {
  Driver d;
  Virtqueue q = make_queue();
  d.desc(0, kMem - 10, 20, 0);
  d.offer(0);
  DescChain c;
  EXPECT_THROW(q.pop(d.mem, c), VirtioError);
}

TEST(VmmVirtqueue, RejectsDescriptorWhoseAddrPlusLenWraps) {
  Driver d;
  Virtqueue q = make_queue();
  d.desc(0, ~0ull - 4, 0x100, 0);
  d.offer(0);
  DescChain c;
  EXPECT_THROW(q.pop(d.mem, c), VirtioError);
}

TEST(VmmVirtqueue, RejectsDescriptorLoop) {
  Driver d;
  Virtqueue q = make_queue();
  d.desc(0, kData, 1, 1, 1);
  d.desc(1, kData, 1, 1, 0);
  d.offer(0);
  DescChain c;
  EXPECT_THROW(q.pop(d.mem, c), VirtioError);
}

TEST(VmmVirtqueue, RejectsNextIndexOutOfRange) {
  Driver d;
  Virtqueue q = make_queue();
  d.desc(0, kData, 1, 1, kQSize);
  d.offer(0);
  DescChain c;
  EXPECT_THROW(q.pop(d.mem, c), VirtioError);
}

TEST(VmmVirtqueue, RejectsHeadOutOfRangeAndAvailIndexJump) {
  Driver d;
  Virtqueue q = make_queue();
  d.offer(kQSize + 3);
  DescChain c;
  EXPECT_THROW(q.pop(d.mem, c), VirtioError);
  Driver d2;
  Virtqueue q2 = make_queue();
  uint16_t idx = kQSize + 1;
  std::memcpy(&d2.buf[kAvail + 2], &idx, 2);
  EXPECT_THROW(q2.pop(d2.mem, c), VirtioError);
}

TEST(VmmVirtqueue, FollowsIndirectTable) {
  Driver d;
  Virtqueue q = make_queue();
  q.indirect_enabled = true;
  const uint64_t table = 0x8000;
  d.desc(0, kData, 16, 1, 1, table);
  d.desc(1, kData + 0x100, 512, 3, 2, table);
  d.desc(2, kData + 0x80, 1, 2, 0, table);
  d.desc(0, table, 48, 4);
  d.offer(0);
  DescChain c;
  ASSERT_TRUE(q.pop(d.mem, c));
  ASSERT_EQ(c.segs.size(), 3u);
  EXPECT_EQ(c.segs[1].len, 512u);
}

TEST(VmmVirtqueue, RejectsIndirectTableOfBadSize) {
  for (uint32_t len : {0u, 20u, (Virtqueue::kMaxIndirect + 1) * 16}) {
    Driver d;
    Virtqueue q = make_queue();
    q.indirect_enabled = true;
    d.desc(0, 0x8000, len, 4);
    d.offer(0);
    DescChain c;
    EXPECT_THROW(q.pop(d.mem, c), VirtioError) << "len " << len;
  }
}

TEST(VmmVirtqueue, RejectsNestedIndirectAndIndirectLoopAndTablePastMemory) {
  const uint64_t table = 0x8000;
  {
    Driver d;
    Virtqueue q = make_queue();
    q.indirect_enabled = true;
    d.desc(0, table, 16, 4, 0, table);  // an indirect inside the table
    d.desc(0, table, 16, 4);
    d.offer(0);
    DescChain c;
    EXPECT_THROW(q.pop(d.mem, c), VirtioError);
  }
  {
    Driver d;
    Virtqueue q = make_queue();
    q.indirect_enabled = true;
    d.desc(0, kData, 1, 1, 1, table);
    d.desc(1, kData, 1, 1, 0, table);
    d.desc(0, table, 32, 4);
    d.offer(0);
    DescChain c;
    EXPECT_THROW(q.pop(d.mem, c), VirtioError);
  }
  {
    Driver d;
    Virtqueue q = make_queue();
    q.indirect_enabled = true;
    d.desc(0, kMem - 16, 32, 4);
    d.offer(0);
    DescChain c;
    EXPECT_THROW(q.pop(d.mem, c), VirtioError);
  }
  {
    Driver d;
    Virtqueue q = make_queue();  // indirect not negotiated
    d.desc(0, table, 16, 4);
    d.offer(0);
    DescChain c;
    EXPECT_THROW(q.pop(d.mem, c), VirtioError);
  }
}

TEST(VmmVirtqueue, ValidateRejectsRingsOutsideMemoryAndBadSize) {
  Driver d;
  Virtqueue q = make_queue();
  EXPECT_NO_THROW(q.validate(d.mem));
  q.used_addr = kMem - 8;
  EXPECT_THROW(q.validate(d.mem), VirtioError);
  q = make_queue();
  q.desc_addr = ~0ull & ~15ull;
  EXPECT_THROW(q.validate(d.mem), VirtioError);
  q = make_queue();
  q.size = 12;
  EXPECT_THROW(q.validate(d.mem), VirtioError);
  q = make_queue();
  q.avail_addr = kAvail + 1;
  EXPECT_THROW(q.validate(d.mem), VirtioError);
}

TEST(VmmVirtioMmio, IdentityRegistersAndFeatures) {
  Driver d;
  TempDisk disk(4);
  MmioTransport t(std::make_unique<VirtioBlk>(disk.path, true), d.mem, nullptr);
  EXPECT_EQ(r32(t, mmio::kMagic), 0x74726976u);
  EXPECT_EQ(r32(t, mmio::kVersion), 2u);
  EXPECT_EQ(r32(t, mmio::kDeviceId), 2u);
  EXPECT_EQ(r32(t, mmio::kQueueNumMax), Virtqueue::kMaxSize);
  w32(t, mmio::kDeviceFeaturesSel, 1);
  EXPECT_EQ(r32(t, mmio::kDeviceFeatures), 1u);  // VIRTIO_F_VERSION_1 = bit 32
  w32(t, mmio::kDeviceFeaturesSel, 0);
  EXPECT_TRUE(r32(t, mmio::kDeviceFeatures) & kVirtioBlkFRo);
  uint64_t cap = 0;
  t.read(mmio::kConfig, reinterpret_cast<uint8_t*>(&cap), 8);
  EXPECT_EQ(cap, 4u);
  w32(t, mmio::kQueueSel, 1);  // no queue 1 on virtio-blk
  EXPECT_EQ(r32(t, mmio::kQueueNumMax), 0u);
}

TEST(VmmVirtioMmio, RefusesFeaturesOkWithoutVersion1OrWithUnofferedBits) {
  Driver d;
  TempDisk disk(4);
  MmioTransport t(std::make_unique<VirtioBlk>(disk.path, false), d.mem, nullptr);
  EXPECT_FALSE(init_device(t, 0));
  EXPECT_FALSE(init_device(t, kVirtioFVersion1 | (1ull << 7)));
  EXPECT_TRUE(init_device(t, kVirtioFVersion1));
  EXPECT_TRUE(t.driver_ok());
}

TEST(VmmVirtioMmio, RingAddressOutsideMemoryMarksNeedsResetAndResetClearsIt) {
  Driver d;
  TempDisk disk(4);
  int irqs = 0;
  MmioTransport t(std::make_unique<VirtioBlk>(disk.path, false), d.mem, [&] { ++irqs; });
  init_device(t, kVirtioFVersion1, kMem + 0x1000);
  EXPECT_TRUE(t.broken());
  EXPECT_TRUE(r32(t, mmio::kStatus) & kVirtioStatusNeedsReset);
  EXPECT_EQ(r32(t, mmio::kInterruptStatus) & 2, 2u);  // config change
  EXPECT_EQ(irqs, 1);
  EXPECT_NE(t.broken_reason().find("used ring"), std::string::npos);
  EXPECT_TRUE(init_device(t, kVirtioFVersion1));
  EXPECT_FALSE(t.broken());
  EXPECT_EQ(r32(t, mmio::kQueueReady), 1u);
}

TEST_F(VmmVirtioBlk, ReadsSectorAndRaisesInterrupt) {
  make(false);
  request(kVirtioBlkTIn, 2, 512);
  EXPECT_EQ(status(), kVirtioBlkSOk);
  EXPECT_EQ(drv.buf[kData + 0x100], 3);  // sector 2 is filled with 3s
  EXPECT_EQ(drv.buf[kData + 0x100 + 511], 3);
  EXPECT_EQ(drv.used_len(0), 513u);
  EXPECT_EQ(irqs, 1);
  EXPECT_EQ(r32(*t, mmio::kInterruptStatus), 1u);
  w32(*t, mmio::kInterruptAck, 1);
  EXPECT_EQ(r32(*t, mmio::kInterruptStatus), 0u);
}

TEST_F(VmmVirtioBlk, WritesSectorToFile) {
  make(false);
  std::memset(&drv.buf[kData + 0x100], 0xab, 1024);
  request(kVirtioBlkTOut, 5, 1024);
  EXPECT_EQ(status(), kVirtioBlkSOk);
  auto c = disk.contents();
  EXPECT_EQ(c[5 * 512], 0xab);
  EXPECT_EQ(c[7 * 512 - 1], 0xab);
  EXPECT_EQ(c[7 * 512], 8);  // sector 7 untouched
}

TEST_F(VmmVirtioBlk, ReadOnlyDiskFailsWritesWithIoErr) {
  make(true);
  std::memset(&drv.buf[kData + 0x100], 0xab, 512);
  request(kVirtioBlkTOut, 0, 512);
  EXPECT_EQ(status(), kVirtioBlkSIoErr);
  EXPECT_EQ(disk.contents()[0], 1);
  EXPECT_FALSE(t->broken());
}

TEST_F(VmmVirtioBlk, SectorPastCapacityFailsWithIoErr) {
  make(false);
  request(kVirtioBlkTIn, 7, 1024);  // sector 7 is the last one: 2 sectors overrun
  EXPECT_EQ(status(), kVirtioBlkSIoErr);
  request(kVirtioBlkTIn, ~0ull / 512, 512);
  EXPECT_EQ(status(), kVirtioBlkSIoErr);
  request(kVirtioBlkTIn, 7, 512);
  EXPECT_EQ(status(), kVirtioBlkSOk);
}

TEST_F(VmmVirtioBlk, GetIdAndFlushSucceed) {
  make(false);
  request(kVirtioBlkTGetId, 0, 20);
  EXPECT_EQ(status(), kVirtioBlkSOk);
  EXPECT_EQ(std::string(reinterpret_cast<char*>(&drv.buf[kData + 0x100]), 5), "hvrun");
  request(kVirtioBlkTFlush, 0, 0);
  EXPECT_EQ(status(), kVirtioBlkSOk);
}

TEST_F(VmmVirtioBlk, MalformedChainBreaksDeviceAndStopsProcessing) {
  make(false);
  drv.desc(0, kMem - 4, 16, 0);  // header runs past memory end
  drv.offer(0);
  w32(*t, mmio::kQueueNotify, 0);
  EXPECT_TRUE(t->broken());
  request(kVirtioBlkTIn, 0, 512);  // ignored until reset
  EXPECT_EQ(status(), 0xff);
  EXPECT_EQ(drv.used_idx(), 0);
}

TEST_F(VmmVirtioBlk, RequestWithoutWritableStatusBreaksDevice) {
  make(false);
  drv.desc(0, kData, 16, 1, 1);
  drv.desc(1, kData + 0x80, 1, 0);
  drv.offer(0);
  w32(*t, mmio::kQueueNotify, 0);
  EXPECT_TRUE(t->broken());
}

TEST(VmmVirtioConsole, TransmitsToOutFdAndReceivesFromInFd) {
  Driver d;
  auto out = hvrun::Pipe::make();
  auto in = hvrun::Pipe::make();
  int irqs = 0;
  MmioTransport t(std::make_unique<VirtioConsole>(in.read.get(), out.write.get()), d.mem, [&] { ++irqs; });
  ASSERT_TRUE(init_device(t, kVirtioFVersion1));
  // queue 1 (tx) at other addresses
  w32(t, mmio::kStatus, 0);
  ASSERT_TRUE(init_device(t, kVirtioFVersion1));
  w32(t, mmio::kQueueSel, 1);
  w32(t, mmio::kQueueNum, kQSize);
  w32(t, mmio::kQueueDescLow, 0x4000);
  w32(t, mmio::kQueueDriverLow, 0x5000);
  w32(t, mmio::kQueueDeviceLow, 0x6000);
  w32(t, mmio::kQueueReady, 1);
  ASSERT_FALSE(t.broken());
  std::memcpy(&d.buf[kData], "hi!", 3);
  d.desc(0, kData, 3, 0, 0, 0x4000);
  uint16_t head = 0, idx = 1;
  std::memcpy(&d.buf[0x5000 + 4], &head, 2);
  std::memcpy(&d.buf[0x5000 + 2], &idx, 2);
  w32(t, mmio::kQueueNotify, 1);
  char got[4] = {};
  ASSERT_EQ(::read(out.read.get(), got, 3), 3);
  EXPECT_STREQ(got, "hi!");
  // rx: a 64-byte writable buffer on queue 0, then input arrives.
  d.desc(0, kData + 0x100, 64, 2);
  d.offer(0);
  w32(t, mmio::kQueueNotify, 0);
  EXPECT_EQ(d.used_idx(), 0);  // no input yet: buffer kept
  ASSERT_EQ(::write(in.write.get(), "abc", 3), 3);
  t.kick(0);
  EXPECT_EQ(d.used_idx(), 1);
  EXPECT_EQ(d.used_len(0), 3u);
  EXPECT_EQ(std::memcmp(&d.buf[kData + 0x100], "abc", 3), 0);
  // EOF: the device stops wanting input instead of spinning.
  in.write.reset();
  d.desc(1, kData + 0x200, 64, 2);
  d.offer(1);
  t.kick(0);
  auto& con = static_cast<VirtioConsole&>(t.device());
  EXPECT_TRUE(con.input_eof());
  EXPECT_FALSE(con.wants_input());
}
