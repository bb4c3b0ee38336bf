// The state of a microVM's parts in a snapshot, without /dev/kvm: the blob
// codec (state_codec.hpp), the interrupt controller and clock blob
// (vm_state.hpp), the serial port, i8042 and CMOS clock, and a virtio-mmio
// device with its queues, which a restore into a fresh transport continues
// on the same rings. Every restore reads the snapshot as hostile input: a
// bad blob is refused with a line saying what is wrong and changes nothing.
// run_vm refuses a snapshot whose devices differ before it opens /dev/kvm.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "tests/unit/virtio_test_driver.hpp"
#include "util/error.hpp"
#include "util/fd.hpp"
#include "vmm/i8042.hpp"
#include "vmm/rtc.hpp"
#include "vmm/serial.hpp"
#include "vmm/snapshot_file.hpp"
#include "vmm/state_codec.hpp"
#include "vmm/virtio_blk.hpp"
#include "vmm/virtio_console.hpp"
#include "vmm/virtio_mmio.hpp"
#include "vmm/vm.hpp"
#include "vmm/vm_state.hpp"

using namespace hvrun::vmm;
using namespace hvrun::vmm::test;

namespace {

template <typename F>
std::string error_of(F&& f) {
  try {
    f();
    return "";
  } catch (const hvrun::Error& e) {
    return e.what();
  }
}

constexpr char kTag[4] = {'T', 'E', 'S', 'T'};

TEST(SnapshotStateCodec, ReadsBackWhatWasWrittenAndNamesTheFieldThatIsMissing) {
  StateOut o(kTag, 3);
  o.u8(7);
  o.u16(0xbeef);
  o.u64(1ull << 40);
  o.str("hello");
  const std::string blob = o.blob();
  StateIn in(blob, kTag, 3, "test device");
  EXPECT_EQ(in.u8("a"), 7);
  EXPECT_EQ(in.u16("b"), 0xbeef);
  EXPECT_EQ(in.u64("c"), 1ull << 40);
  EXPECT_EQ(in.str("d", 16), "hello");
  in.end();

  EXPECT_EQ(error_of([&] {
              StateIn t(blob.substr(0, 11), kTag, 3, "test device");
              t.u8("a");
              t.u16("b");
              t.u64("the counter");
            }),
            "test device state in the snapshot is corrupt: truncated at the counter");
  EXPECT_EQ(error_of([&] { StateIn(blob, kTag, 4, "test device"); }),
            "test device state in the snapshot is corrupt: version 3 (this hvrun reads 4)");
  EXPECT_EQ(error_of([&] { StateIn("NOPE", kTag, 3, "test device"); }), "test device state in the snapshot is corrupt: not a test device state");
  EXPECT_NE(error_of([&] {
              StateIn t(blob, kTag, 3, "test device");
              t.u8("a");
              t.end();
            }).find("bytes after its last field"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              StateIn t(blob, kTag, 3, "test device");
              t.u8("a");
              t.u16("b");
              t.u64("c");
              t.str("name", 4);
            }).find("name is 5 bytes (at most 4)"),
            std::string::npos);
}

TEST(SnapshotVmState, InterruptControllersPitAndClockRoundTripAndSwappedChipsAreRefused) {
  VmState s;
  s.pic_master.chip_id = KVM_IRQCHIP_PIC_MASTER;
  s.pic_master.chip.pic.imr = 0xfb;
  s.pic_slave.chip_id = KVM_IRQCHIP_PIC_SLAVE;
  s.ioapic.chip_id = KVM_IRQCHIP_IOAPIC;
  s.ioapic.chip.ioapic.redirtbl[4].bits = 0x10030;
  s.pit.channels[0].count = 0x1234;
  s.clock.clock = 987654321;
  const std::string blob = encode_vm_state(s);
  const VmState b = decode_vm_state(blob);
  EXPECT_EQ(b.pic_master.chip.pic.imr, 0xfb);
  EXPECT_EQ(b.ioapic.chip.ioapic.redirtbl[4].bits, 0x10030u);
  EXPECT_EQ(b.pit.channels[0].count, 0x1234u);
  EXPECT_EQ(b.clock.clock, 987654321u);
  EXPECT_EQ(encode_vm_state(b), blob);

  VmState swapped = s;
  std::swap(swapped.pic_master, swapped.ioapic);
  EXPECT_NE(error_of([&] { decode_vm_state(encode_vm_state(swapped)); }).find("not PIC master, PIC slave and IOAPIC"),
            std::string::npos);
  for (size_t cut : {size_t(0), size_t(7), blob.size() / 2, blob.size() - 1})
    EXPECT_EQ(error_of([&] { decode_vm_state(blob.substr(0, cut)); }).rfind("interrupt controller and clock state in the snapshot is corrupt: ", 0), 0u)
        << "cut at " << cut;
}

TEST(SnapshotLegacyDevices, SerialRegistersAndPendingInputSurviveARestoreIntoAFreshPort) {
  Serial a(-1, [] {});
  a.write(3, 0x83);  // DLAB on: divisor latch
  a.write(0, 0x01);
  a.write(1, 0x00);
  a.write(3, 0x03);  // 8N1
  a.write(1, 0x01);  // rx interrupt on
  a.write(7, 0x5a);  // scratch
  const uint8_t input[] = {'h', 'i'};
  a.push_input(input, 2);
  Serial b(-1, [] {});
  b.restore_state(a.save_state());
  EXPECT_EQ(b.read(3), 0x03);
  EXPECT_EQ(b.read(1), 0x01);
  EXPECT_EQ(b.read(7), 0x5a);
  EXPECT_EQ(b.read(5) & 1, 1) << "data ready";
  EXPECT_EQ(b.read(0), 'h');
  EXPECT_EQ(b.read(0), 'i');
  EXPECT_EQ(b.input_room(), Serial::kFifoSize);

  constexpr char kUart[4] = {'U', 'A', 'R', 'T'};
  StateOut big(kUart, 1);
  for (int i = 0; i < 8; ++i) big.u8(0);
  big.str(std::string(Serial::kFifoSize + 1, 'x'));
  EXPECT_NE(error_of([&] { b.restore_state(big.blob()); }).find("receive FIFO is 65 bytes (at most 64)"), std::string::npos);
  EXPECT_EQ(b.read(7), 0x5a) << "a refused restore changes nothing";
}

TEST(SnapshotLegacyDevices, I8042AndCmosClockRoundTrip) {
  I8042 k;
  k.write(I8042::kCommandPort, 0x60);
  k.write(I8042::kDataPort, 0x45);  // a new CTR
  k.write(I8042::kCommandPort, 0x20);  // read CTR: queued for the guest
  I8042 k2;
  k2.restore_state(k.save_state());
  EXPECT_EQ(k2.read(I8042::kCommandPort) & 1, 1) << "output buffer full";
  EXPECT_EQ(k2.read(I8042::kDataPort), 0x45);
  EXPECT_NE(error_of([&] { k2.restore_state("8042"); }), "");

  CmosRtc r;
  r.write(CmosRtc::kIndexPort, 0x0b);
  CmosRtc r2;
  r2.restore_state(r.save_state());
  EXPECT_EQ(r2.read(CmosRtc::kDataPort), 0x06) << "status B: binary, 24-hour";
}

// A console on the fake driver's memory: queue 1 (transmit) at 0x4000.
constexpr uint64_t kMem = 1 << 20, kTxDesc = 0x4000, kTxAvail = 0x5000, kTxUsed = 0x6000, kData = 0x10000;
constexpr uint16_t kQSize = 16;
constexpr RingAt kTx{kTxDesc, kTxAvail, kTxUsed};

void init_console(MmioTransport& t) {
  w32(t, mmio::kStatus, kVirtioStatusAcknowledge | kVirtioStatusDriver);
  w32(t, mmio::kDriverFeaturesSel, 1);
  w32(t, mmio::kDriverFeatures, 1);  // VERSION_1
  w32(t, mmio::kStatus, kVirtioStatusAcknowledge | kVirtioStatusDriver | kVirtioStatusFeaturesOk);
  w32(t, mmio::kQueueSel, 1);
  w32(t, mmio::kQueueNum, kQSize);
  w32(t, mmio::kQueueDescLow, uint32_t(kTxDesc));
  w32(t, mmio::kQueueDriverLow, uint32_t(kTxAvail));
  w32(t, mmio::kQueueDeviceLow, uint32_t(kTxUsed));
  w32(t, mmio::kQueueReady, 1);
  w32(t, mmio::kStatus, kVirtioStatusAcknowledge | kVirtioStatusDriver | kVirtioStatusFeaturesOk | kVirtioStatusDriverOk);
}

// The guest sends `text` on the transmit queue (descriptor `slot`).
void send(FakeDriver& d, MmioTransport& t, uint16_t& avail, uint16_t slot, const std::string& text) {
  std::memcpy(&d.buf[kData + 0x100 * slot], text.data(), text.size());
  d.put_desc(kTxDesc, slot, kData + 0x100 * slot, uint32_t(text.size()), 0, 0);
  d.put_avail(kTx, avail, slot);
  w32(t, mmio::kQueueNotify, 1);
}

std::string read_some(int fd) {
  char buf[64];
  ssize_t n = ::read(fd, buf, sizeof buf);
  return n > 0 ? std::string(buf, size_t(n)) : "";
}

TEST(SnapshotVirtioDevice, AConsoleRestoredIntoAFreshTransportGoesOnWithTheGuestsRings) {
  FakeDriver d(kMem, kQSize);
  auto out1 = hvrun::Pipe::make();
  MmioTransport a(std::make_unique<VirtioConsole>(-1, out1.write.get()), d.mem, [] {});
  init_console(a);
  uint16_t avail = 0;
  send(d, a, avail, 0, "before");
  EXPECT_EQ(read_some(out1.read.get()), "before");
  const std::string blob = a.save_state();

  // The clone: the same guest memory, a new backend (another output pipe).
  auto out2 = hvrun::Pipe::make();
  MmioTransport b(std::make_unique<VirtioConsole>(-1, out2.write.get()), d.mem, [] {});
  EXPECT_EQ(b.restore_state(blob), "");
  EXPECT_TRUE(b.driver_ok());
  EXPECT_EQ(r32(b, mmio::kStatus), r32(a, mmio::kStatus));
  w32(b, mmio::kQueueSel, 1);
  EXPECT_EQ(r32(b, mmio::kQueueReady), 1u);
  send(d, b, avail, 1, "after");
  EXPECT_EQ(read_some(out2.read.get()), "after");
  EXPECT_EQ(d.used_idx(kTx), 2) << "the used ring goes on from where the snapshot left it";
  EXPECT_FALSE(b.broken()) << b.broken_reason();
}

// A snapshot taken after the guest made a buffer available but before its
// notification reached the device: the restored device serves it at once,
// and an interrupt status that was set is raised again.
TEST(SnapshotVirtioDevice, WhatWasOnItsWayWhenTheSnapshotWasTakenIsServedAfterTheRestore) {
  FakeDriver d(kMem, kQSize);
  int irqs_a = 0;
  MmioTransport a(std::make_unique<VirtioConsole>(-1, -1), d.mem, [&] { ++irqs_a; });
  init_console(a);
  uint16_t avail = 0;
  send(d, a, avail, 0, "seen");  // used, interrupt status set
  ASSERT_EQ(r32(a, mmio::kInterruptStatus), 1u);
  std::memcpy(&d.buf[kData + 0x100], "in flight", 9);
  d.put_desc(kTxDesc, 1, kData + 0x100, 9, 0, 0);
  d.put_avail(kTx, avail, 1);  // ... and no notify: it was still in the ioeventfd
  const std::string blob = a.save_state();

  auto out = hvrun::Pipe::make();
  int irqs_b = 0;
  MmioTransport b(std::make_unique<VirtioConsole>(-1, out.write.get()), d.mem, [&] { ++irqs_b; });
  b.restore_state(blob);
  EXPECT_EQ(irqs_b, 0) << "nothing is raised before the restore is complete";
  b.resume_after_restore();
  EXPECT_EQ(read_some(out.read.get()), "in flight");
  EXPECT_EQ(d.used_idx(kTx), 2);
  EXPECT_GE(irqs_b, 1) << "the pending interrupt status is raised again";
}

TEST(SnapshotVirtioDevice, HostileDeviceStatesAreRefusedSayingWhyAndChangeNothing) {
  FakeDriver d(kMem, kQSize);
  MmioTransport a(std::make_unique<VirtioConsole>(-1, -1), d.mem, [] {});
  init_console(a);
  uint16_t avail = 0;
  send(d, a, avail, 0, "x");
  const std::string good = a.save_state();
  // Field offsets in the blob (virtio_mmio.cpp): tag 4, version 4, device
  // id 4, status 4, isr 4, two selects 8, features 8, queue select 4,
  // generation 4, broken reason 4+0, queue count 4, then each queue: size
  // 2, desc 8, avail 8, used 8, ready 1, indirect 1, last avail 2, used 2.
  constexpr size_t kStatus = 12, kQueue0 = 52, kQueue1 = kQueue0 + 32;
  auto with = [&](size_t off, const void* v, size_t n) {
    std::string s = good;
    std::memcpy(&s[off], v, n);
    return s;
  };
  auto refused = [&](const std::string& blob, const std::string& why) {
    MmioTransport fresh(std::make_unique<VirtioConsole>(-1, -1), d.mem, [] {});
    const std::string e = error_of([&] { fresh.restore_state(blob); });
    EXPECT_NE(e.find(why), std::string::npos) << "got: " << e;
    EXPECT_EQ(e.rfind("virtio device state in the snapshot is corrupt: ", 0), 0u) << e;
    EXPECT_EQ(r32(fresh, mmio::kStatus), 0u) << "a refused restore changes nothing";
  };
  const uint32_t status = 0x100 | kVirtioStatusDriverOk;
  refused(with(kStatus, &status, 4), "unknown status bits");
  const uint64_t outside = kMem - 16;
  refused(with(kQueue1 + 2, &outside, 8), "outside guest memory");
  const uint16_t indices[2] = {7, 7};  // last available and used
  refused(with(kQueue1 + 28, indices, 4), "used index 7 but the guest's ring says 1");
  const uint16_t ahead = 3;
  refused(with(kQueue1 + 28, &ahead, 2), "in flight");
  const uint16_t bad_size = 12;
  refused(with(kQueue1, &bad_size, 2), "not a power of two");
  const uint8_t two = 2;
  refused(with(kQueue0 + 26, &two, 1), "queue ready is 2");
  refused(good.substr(0, good.size() - 3), "truncated");

  char disk[] = "/tmp/hvrun-snap-disk-XXXXXX";
  hvrun::UniqueFd fd(::mkstemp(disk));
  ASSERT_TRUE(fd);
  ASSERT_EQ(::ftruncate(fd.get(), 4096), 0);
  MmioTransport blk_slot(std::make_unique<VirtioBlk>(disk, true), d.mem, [] {});
  ::unlink(disk);
  EXPECT_NE(error_of([&] { blk_slot.restore_state(good); }).find("it is virtio device type 3, this slot holds type 2"),
            std::string::npos);
}

// A disk of another size under a restored virtio-blk (a template VM's
// placeholder replaced by the image's disk): the guest hears of it once, by
// a configuration-change interrupt, and reads the new capacity.
TEST(SnapshotVirtioDevice, ADiskOfAnotherSizeUnderARestoredBlkRaisesOneConfigChange) {
  auto disk_of = [](off_t bytes) {
    char path[] = "/tmp/hvrun-snap-blk-XXXXXX";
    hvrun::UniqueFd fd(::mkstemp(path));
    EXPECT_EQ(::ftruncate(fd.get(), bytes), 0);
    return std::string(path);
  };
  const std::string small = disk_of(1 << 20), big = disk_of(64 << 20);
  FakeDriver d(kMem);
  MmioTransport a(std::make_unique<VirtioBlk>(small, true), d.mem, [] {});
  w32(a, mmio::kStatus, kVirtioStatusAcknowledge | kVirtioStatusDriver);
  w32(a, mmio::kDriverFeaturesSel, 1);
  w32(a, mmio::kDriverFeatures, 1);
  w32(a, mmio::kStatus, kVirtioStatusAcknowledge | kVirtioStatusDriver | kVirtioStatusFeaturesOk | kVirtioStatusDriverOk);
  const std::string saved = a.save_state();
  const uint32_t generation = r32(a, mmio::kConfigGeneration);

  int irqs = 0;
  MmioTransport same(std::make_unique<VirtioBlk>(small, true), d.mem, [&] { ++irqs; });
  same.restore_state(saved);
  same.resume_after_restore();
  EXPECT_EQ(irqs, 0) << "the same disk: nothing changed";
  EXPECT_EQ(r32(same, mmio::kInterruptStatus), 0u);

  MmioTransport other(std::make_unique<VirtioBlk>(big, true), d.mem, [&] { ++irqs; });
  other.restore_state(saved);
  other.resume_after_restore();
  EXPECT_EQ(irqs, 1);
  EXPECT_EQ(r32(other, mmio::kInterruptStatus), 2u) << "configuration change";
  EXPECT_EQ(r32(other, mmio::kConfigGeneration), generation + 1);
  EXPECT_EQ(r32(other, mmio::kConfig) | uint64_t(r32(other, mmio::kConfig + 4)) << 32, uint64_t(64 << 20) / 512);
  other.resume_after_restore();  // (a pending interrupt is raised again, as after any restore)
  EXPECT_EQ(r32(other, mmio::kConfigGeneration), generation + 1) << "one change, counted once";
  ::unlink(small.c_str());
  ::unlink(big.c_str());
}

// A snapshot file whose VM had one console; `hvrun vmm --restore` without one.
TEST(SnapshotRestore, ASnapshotOfOtherDevicesIsRefusedBeforeAnyKvmIsNeeded) {
  char dir[] = "/tmp/hvrun-snap-test-XXXXXX";
  ASSERT_NE(::mkdtemp(dir), nullptr);
  const std::string path = std::string(dir) + "/snap";
  {
    snapshot::Writer w(path, snapshot::Origin::here());
    constexpr char kConf[4] = {'C', 'O', 'N', 'F'};
    StateOut conf(kConf, 1);
    conf.u64(64 << 20);
    conf.u32(1);
    conf.u32(1);
    conf.u32(3);  // virtio-console
    w.add(snapshot::SectionType::Config, 0, conf.blob());
    std::string page(snapshot::kPageSize, '\0');
    w.add_memory(page.data(), page.size());
    w.finish();
  }
  VmConfig cfg;
  cfg.restore_from = path;
  EXPECT_EQ(error_of([&] { run_vm(cfg); }), "snapshot " + path + " is of a VM with devices (console); this one has (none)");
  cfg.restore_from = std::string(dir) + "/missing";
  EXPECT_NE(error_of([&] { run_vm(cfg); }).find(cfg.restore_from), std::string::npos);
  ::unlink(path.c_str());
  ::rmdir(dir);
}

}  // namespace
