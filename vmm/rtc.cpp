#include "vmm/rtc.hpp"

#include <ctime>

#include "vmm/state_codec.hpp"

namespace hvrun::vmm {

uint8_t CmosRtc::reg(uint8_t index) {
  timespec ts;
  ::clock_gettime(CLOCK_REALTIME, &ts);
  tm t{};
  ::gmtime_r(&ts.tv_sec, &t);
  switch (index) {
    case 0x00: return static_cast<uint8_t>(t.tm_sec);
    case 0x02: return static_cast<uint8_t>(t.tm_min);
    case 0x04: return static_cast<uint8_t>(t.tm_hour);
    case 0x06: return static_cast<uint8_t>(t.tm_wday + 1);
    case 0x07: return static_cast<uint8_t>(t.tm_mday);
    case 0x08: return static_cast<uint8_t>(t.tm_mon + 1);
    case 0x09: return static_cast<uint8_t>(t.tm_year % 100);
    case 0x32: return static_cast<uint8_t>(19 + t.tm_year / 100);  // century
    case 0x0a: return 0x26;  // divider: 32.768 kHz, 1024 Hz rate; UIP clear
    case 0x0b: return 0x06;  // binary, 24-hour
    case 0x0d: return 0x80;  // valid RAM and time
    default: return 0;
  }
}

uint8_t CmosRtc::read(uint16_t port) {
  std::lock_guard lock(mu_);
  return port == kIndexPort ? 0xff : reg(index_);
}

void CmosRtc::write(uint16_t port, uint8_t value) {
  std::lock_guard lock(mu_);
  if (port == kIndexPort) index_ = value & 0x7f;  // bit 7: NMI disable
}

constexpr char kRtcTag[4] = {'C', 'M', 'O', 'S'};

std::string CmosRtc::save_state() {
  std::lock_guard lock(mu_);
  StateOut o(kRtcTag, 1);
  o.u8(index_);
  return o.take();
}

void CmosRtc::restore_state(std::string_view blob) {
  StateIn in(blob, kRtcTag, 1, "CMOS clock");
  const uint8_t index = in.u8("index");
  in.end();
  std::lock_guard lock(mu_);
  index_ = index & 0x7f;
}

}  // namespace hvrun::vmm
