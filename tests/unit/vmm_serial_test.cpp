// 8250 UART and i8042 register behaviour that Linux's drivers rely on.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <ctime>
#include <string>

#include "util/fd.hpp"
#include "vmm/i8042.hpp"
#include "vmm/rtc.hpp"
#include "vmm/serial.hpp"

using namespace hvrun::vmm;

TEST(VmmSerial, ThrWritesGoToOutFd) {
  auto p = hvrun::Pipe::make();
  Serial s(p.write.get(), nullptr);
  for (char c : std::string("ok\n")) s.write(0, static_cast<uint8_t>(c));
  char buf[4] = {};
  ASSERT_EQ(::read(p.read.get(), buf, 3), 3);
  EXPECT_STREQ(buf, "ok\n");
  EXPECT_EQ(s.read(5) & 0x60, 0x60);  // THRE | TEMT: always ready to send
}

TEST(VmmSerial, LoopbackPassesLinuxAutoconfigTest) {
  Serial s(-1, nullptr);
  s.write(4, 0x10 | 0x0a);  // MCR: LOOP | RTS | OUT2
  EXPECT_EQ(s.read(6) & 0xf0, 0x90);  // CTS | DCD
  s.write(0, 'x');  // looped back into RBR
  EXPECT_EQ(s.read(5) & 1, 1);
  EXPECT_EQ(s.read(0), 'x');
  EXPECT_EQ(s.read(5) & 1, 0);
}

TEST(VmmSerial, DivisorLatchAndScratchAreReadBack) {
  Serial s(-1, nullptr);
  s.write(3, 0x80);  // DLAB
  s.write(0, 0x01);
  s.write(1, 0x02);
  EXPECT_EQ(s.read(0), 0x01);
  EXPECT_EQ(s.read(1), 0x02);
  s.write(3, 0x03);
  EXPECT_EQ(s.read(1), 0x00);  // IER, not DLM
  s.write(7, 0x5a);
  EXPECT_EQ(s.read(7), 0x5a);
}

TEST(VmmSerial, ThreInterruptIsRaisedAndClearedByIirRead) {
  int irqs = 0;
  Serial s(-1, [&] { ++irqs; });
  s.write(2, 0x01);  // FCR: FIFO on
  EXPECT_EQ(s.read(2), 0xc1);  // no interrupt, FIFO bits
  s.write(1, 0x02);  // IER: THRI
  EXPECT_EQ(irqs, 1);
  EXPECT_EQ(s.read(2), 0xc2);  // THRE pending
  EXPECT_EQ(s.read(2), 0xc1);  // cleared by the read
}

TEST(VmmSerial, InputRaisesRxInterruptAndRespectsFifoSize) {
  int irqs = 0, room = 0;
  Serial s(-1, [&] { ++irqs; }, [&] { ++room; });
  s.write(1, 0x01);  // IER: RDI
  std::string big(Serial::kFifoSize + 10, 'a');
  EXPECT_EQ(s.push_input(reinterpret_cast<const uint8_t*>(big.data()), big.size()), Serial::kFifoSize);
  EXPECT_GE(irqs, 1);
  EXPECT_EQ(s.read(2) & 0x0f, 0x04);  // RX data available
  EXPECT_EQ(s.input_room(), 0u);
  EXPECT_EQ(s.read(0), 'a');
  EXPECT_EQ(room, 1);  // full -> not full wakes the I/O loop
}

TEST(VmmI8042, SelfTestAnswersAndResetCommandsAreRecognised) {
  I8042 k;
  EXPECT_EQ(k.read(0x64) & 1, 0);
  EXPECT_FALSE(k.write(0x64, 0xaa));
  EXPECT_EQ(k.read(0x64) & 1, 1);
  EXPECT_EQ(k.read(0x60), 0x55);
  EXPECT_TRUE(k.write(0x64, 0xfe));
  EXPECT_FALSE(k.write(0x64, 0xd1));
  EXPECT_TRUE(k.write(0x60, 0xfe));  // output port bit 0 low: reset
  EXPECT_FALSE(k.write(0x64, 0xd1));
  EXPECT_FALSE(k.write(0x60, 0xff));
}

TEST(VmmCmosRtc, TheClockReadsTheHostsUtcDateInBinary24HourMode) {
  CmosRtc rtc;
  auto reg = [&](uint8_t index) {
    rtc.write(CmosRtc::kIndexPort, index | 0x80);  // bit 7 (NMI disable) is not part of the index
    return rtc.read(CmosRtc::kDataPort);
  };
  EXPECT_EQ(reg(0x0b), 0x06) << "status B: binary, 24-hour";
  EXPECT_EQ(reg(0x0a) & 0x80, 0) << "never update-in-progress";
  EXPECT_EQ(reg(0x0d), 0x80) << "valid RAM and time";
  time_t now = ::time(nullptr);
  tm t{};
  ::gmtime_r(&now, &t);
  EXPECT_EQ(reg(0x32) * 100 + reg(0x09), t.tm_year + 1900);
  EXPECT_EQ(reg(0x08), t.tm_mon + 1);
  EXPECT_EQ(reg(0x33), 0) << "other CMOS bytes read 0";
  EXPECT_EQ(rtc.read(CmosRtc::kIndexPort), 0xff);
  EXPECT_TRUE(CmosRtc::handles(0x70) && CmosRtc::handles(0x71) && !CmosRtc::handles(0x72));
  EXPECT_TRUE(I8042::handles(0x60) && I8042::handles(0x64) && !I8042::handles(0x61));
}
