#include "vmm/serial.hpp"

#include <poll.h>
#include <unistd.h>

#include <cerrno>

#include "vmm/state_codec.hpp"

namespace hvrun::vmm {
namespace {
constexpr uint8_t kIerRdi = 1, kIerThri = 2;
constexpr uint8_t kLcrDlab = 0x80;
constexpr uint8_t kMcrLoop = 0x10;
constexpr uint8_t kLsrDr = 0x01, kLsrThre = 0x20, kLsrTemt = 0x40;
constexpr uint8_t kIirNone = 0x01, kIirThri = 0x02, kIirRdi = 0x04;
}  // namespace

uint8_t Serial::iir_locked() const {
  uint8_t fifo = (fcr_ & 1) ? 0xc0 : 0;
  if ((ier_ & kIerRdi) && !rx_.empty()) return kIirRdi | fifo;
  if ((ier_ & kIerThri) && thr_irq_pending_) return kIirThri | fifo;
  return kIirNone | fifo;
}

void Serial::update_irq_locked(bool event) {
  if (event && (iir_locked() & 1) == 0 && raise_irq_) raise_irq_();
}

uint8_t Serial::read(uint8_t offset) {
  std::lock_guard lock(mu_);
  switch (offset) {
    case 0: {
      if (lcr_ & kLcrDlab) return dll_;
      if (rx_.empty()) return 0;
      const bool was_full = rx_.size() >= kFifoSize;
      uint8_t v = rx_.front();
      rx_.pop_front();
      if (was_full && room_) room_();
      update_irq_locked(!rx_.empty());
      return v;
    }
    case 1: return (lcr_ & kLcrDlab) ? dlm_ : ier_;
    case 2: {
      uint8_t v = iir_locked();
      if ((v & 0x0f) == kIirThri) thr_irq_pending_ = false;  // reading IIR clears THRE
      return v;
    }
    case 3: return lcr_;
    case 4: return mcr_;
    case 5: return static_cast<uint8_t>((rx_.empty() ? 0 : kLsrDr) | kLsrThre | kLsrTemt);
    case 6:
      if (mcr_ & kMcrLoop) {  // loopback: DTR->DSR, RTS->CTS, OUT1->RI, OUT2->DCD
        return static_cast<uint8_t>(((mcr_ & 1) << 5) | ((mcr_ & 2) << 3) | ((mcr_ & 4) << 4) | ((mcr_ & 8) << 4));
      }
      return 0xb0;  // DCD, DSR, CTS
    case 7: return scr_;
    default: return 0xff;
  }
}

void Serial::write(uint8_t offset, uint8_t v) {
  std::lock_guard lock(mu_);
  switch (offset) {
    case 0:
      if (lcr_ & kLcrDlab) {
        dll_ = v;
        return;
      }
      if (mcr_ & kMcrLoop) {
        if (rx_.size() < kFifoSize) rx_.push_back(v);
      } else if (out_fd_ >= 0) {
        while (::write(out_fd_, &v, 1) < 0) {
          if (errno == EINTR) continue;
          if (errno == EAGAIN) {
            struct pollfd p{out_fd_, POLLOUT, 0};
            ::poll(&p, 1, 1000);
            continue;
          }
          break;  // reader gone: drop
        }
      }
      thr_irq_pending_ = true;  // the byte left at once: THR empty again
      update_irq_locked(true);
      return;
    case 1:
      if (lcr_ & kLcrDlab) {
        dlm_ = v;
        return;
      }
      {
        const bool thri_on = (v & kIerThri) && !(ier_ & kIerThri);
        ier_ = v & 0x0f;
        if (thri_on) thr_irq_pending_ = true;
        update_irq_locked(true);
      }
      return;
    case 2:
      fcr_ = v;
      if (v & 2) rx_.clear();
      return;
    case 3: lcr_ = v; return;
    case 4: mcr_ = v & 0x1f; return;
    case 7: scr_ = v; return;
    default: return;
  }
}

size_t Serial::push_input(const uint8_t* data, size_t len) {
  std::lock_guard lock(mu_);
  size_t n = 0;
  while (n < len && rx_.size() < kFifoSize) rx_.push_back(data[n++]);
  if (n) update_irq_locked(true);
  return n;
}

size_t Serial::input_room() const {
  std::lock_guard lock(mu_);
  return kFifoSize - rx_.size();
}

constexpr char kSerialTag[4] = {'U', 'A', 'R', 'T'};

std::string Serial::save_state() const {
  std::lock_guard lock(mu_);
  StateOut o(kSerialTag, 1);
  for (uint8_t r : {ier_, lcr_, mcr_, scr_, dll_, dlm_, fcr_}) o.u8(r);
  o.u8(thr_irq_pending_);
  o.str(std::string(rx_.begin(), rx_.end()));
  return o.take();
}

void Serial::restore_state(std::string_view blob) {
  StateIn in(blob, kSerialTag, 1, "serial port");
  uint8_t regs[7];
  for (auto& r : regs) r = in.u8("register");
  const bool thr = in.flag("THRE pending");
  const std::string rx = in.str("receive FIFO", kFifoSize);
  in.end();
  std::lock_guard lock(mu_);
  ier_ = regs[0] & 0x0f;
  lcr_ = regs[1];
  mcr_ = regs[2] & 0x1f;
  scr_ = regs[3];
  dll_ = regs[4];
  dlm_ = regs[5];
  fcr_ = regs[6];
  thr_irq_pending_ = thr;
  rx_.assign(rx.begin(), rx.end());
}

void Serial::reraise_pending_irq() {
  std::lock_guard lock(mu_);
  update_irq_locked(true);
}

}  // namespace hvrun::vmm
