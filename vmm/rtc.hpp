// The CMOS real-time clock of the microVM (ports 0x70 index / 0x71 data), as
// kvmtool's hw/rtc.c: the host's UTC wall clock in binary, 24-hour mode
// (status B = 0x06), never "update in progress", so that a guest's boot-time
// read of the RTC gets the right date. Other CMOS bytes read 0; writes to
// the clock are ignored.
#pragma once
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>

namespace hvrun::vmm {

class CmosRtc {
 public:
  static constexpr uint16_t kIndexPort = 0x70;
  static constexpr uint16_t kDataPort = 0x71;
  static bool handles(uint16_t port) { return port == kIndexPort || port == kDataPort; }

  uint8_t read(uint16_t port);
  void write(uint16_t port, uint8_t value);

  // The value of CMOS register `index` now.
  static uint8_t reg(uint8_t index);

  // The index register, for snapshots (the clock itself is the host's).
  std::string save_state();
  void restore_state(std::string_view blob);

 private:
  std::mutex mu_;
  uint8_t index_ = 0;
};

}  // namespace hvrun::vmm
