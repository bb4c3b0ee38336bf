// The i8042 keyboard controller of the microVM (ports 0x60/0x64), as
// kvmtool's hw/i8042.c: how a Linux guest resets the machine (reboot=k).
#pragma once
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <string_view>

namespace hvrun::vmm {

// i8042 keyboard controller, just enough for Linux to probe it quickly and
// for a guest to reset the machine (command 0xFE on port 0x64, or pulsing
// output-port bit 0 with command 0xD1).
// A minimal i8042: reset lines (0xfe, output port bit 0), CTR read/write,
// self tests. No AUX port and no real keyboard behind it.
class I8042 {
 public:
  static constexpr uint16_t kDataPort = 0x60;
  static constexpr uint16_t kCommandPort = 0x64;  // status on read
  static bool handles(uint16_t port) { return port == kDataPort || port == kCommandPort; }
  // Appended to a Linux guest's command line, like virtio_mmio.device=: it
  // tells the kernel what this controller lacks, so it does not spend
  // seconds probing for it (i8042 waits 0.5 s per unanswered command; the
  // boot went 2.2 s faster). Firecracker passes the same, less nokbd:
  // there is no keyboard behind this controller, so the kernel need not
  // probe one (atkbd: ~10 ms of port traffic under nested KVM).
  static constexpr const char* kLinuxParams = " i8042.noaux i8042.nokbd i8042.nomux i8042.nopnp i8042.dumbkbd";

  uint8_t read(uint16_t port);
  // Returns true when the guest asked for a reset.
  bool write(uint16_t port, uint8_t value);
  // For snapshots (state_codec.hpp); restore throws Error on a corrupt blob.
  std::string save_state();
  void restore_state(std::string_view blob);

 private:
  std::mutex mu_;
  std::deque<uint8_t> out_;
  uint8_t ctr_ = 0x47;  // kbd irq on, system flag, translate
  uint8_t pending_cmd_ = 0;
};

}  // namespace hvrun::vmm
