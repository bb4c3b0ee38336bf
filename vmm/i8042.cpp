#include "vmm/i8042.hpp"

#include "vmm/state_codec.hpp"

namespace hvrun::vmm {

namespace {
// Replies queue here until the guest reads them; a guest that asks and
// never reads keeps only the last few (what a snapshot carries).
constexpr size_t kMaxOut = 16;
}  // namespace

uint8_t I8042::read(uint16_t port) {
  std::lock_guard lock(mu_);
  // system flag, keyboard not inhibited (no "keylock active"), OBF
  if (port == kCommandPort) return static_cast<uint8_t>(0x14 | (out_.empty() ? 0 : 0x01));
  if (out_.empty()) return 0;
  uint8_t v = out_.front();
  out_.pop_front();
  return v;
}

bool I8042::write(uint16_t port, uint8_t v) {
  std::lock_guard lock(mu_);
  if (port == kCommandPort) {
    pending_cmd_ = 0;
    if (out_.size() >= kMaxOut) out_.pop_front();
    switch (v) {
      case 0xfe: return true;  // pulse reset line
      case 0x20: out_.push_back(ctr_); break;
      case 0xaa: out_.push_back(0x55); break;  // self-test passed
      case 0xab: out_.push_back(0x00); break;  // kbd interface test passed
      case 0x60:
      case 0xd1: pending_cmd_ = v; break;
      default: break;
    }
    return false;
  }
  if (port == kDataPort) {
    if (pending_cmd_ == 0x60) ctr_ = v;
    else if (pending_cmd_ == 0xd1 && !(v & 1)) return true;  // output port bit 0 low = reset
    pending_cmd_ = 0;
  }
  return false;
}

constexpr char kI8042Tag[4] = {'8', '0', '4', '2'};

std::string I8042::save_state() {
  std::lock_guard lock(mu_);
  StateOut o(kI8042Tag, 1);
  o.u8(ctr_);
  o.u8(pending_cmd_);
  o.str(std::string(out_.begin(), out_.end()));
  return o.take();
}

void I8042::restore_state(std::string_view blob) {
  StateIn in(blob, kI8042Tag, 1, "i8042");
  const uint8_t ctr = in.u8("CTR"), cmd = in.u8("pending command");
  const std::string out = in.str("output buffer", kMaxOut);
  in.end();
  std::lock_guard lock(mu_);
  ctr_ = ctr;
  pending_cmd_ = cmd;
  out_.assign(out.begin(), out.end());
}

}  // namespace hvrun::vmm
