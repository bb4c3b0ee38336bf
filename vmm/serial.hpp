// 16550A-style UART (8250 family) for ttyS0: enough for Linux's 8250 driver
// (autoconfig loopback test, FIFO detection, THRE and RX interrupts).
// Registers at offsets 0-7 from the base port (0x3f8). Output bytes go to
// out_fd; input is pushed by the I/O loop with push_input().
#pragma once
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>

namespace hvrun::vmm {

class Serial {
 public:
  static constexpr size_t kFifoSize = 64;
  // raise_irq: an edge on the UART's IRQ line. room: the rx FIFO went from
  // full to having room (the I/O loop may read input again).
  Serial(int out_fd, std::function<void()> raise_irq, std::function<void()> room = nullptr)
      : out_fd_(out_fd), raise_irq_(std::move(raise_irq)), room_(std::move(room)) {}
  uint8_t read(uint8_t offset);
  void write(uint8_t offset, uint8_t value);
  // Appends up to the free FIFO space; returns how many bytes were taken.
  size_t push_input(const uint8_t* data, size_t len);
  size_t input_room() const;
  // Registers and the rx FIFO, for snapshots (state_codec.hpp); restore
  // reads a snapshot as hostile input and throws Error saying what is wrong.
  std::string save_state() const;
  void restore_state(std::string_view blob);
  // After a restore: raises the interrupt again if one is pending (it may
  // not have reached the interrupt controller before the snapshot).
  void reraise_pending_irq();

 private:
  uint8_t iir_locked() const;
  void update_irq_locked(bool event);
  mutable std::mutex mu_;
  int out_fd_;
  std::function<void()> raise_irq_;
  std::function<void()> room_;
  std::deque<uint8_t> rx_;
  uint8_t ier_ = 0, lcr_ = 0, mcr_ = 0x08, scr_ = 0, dll_ = 0x0c, dlm_ = 0, fcr_ = 0;
  bool thr_irq_pending_ = false;
};

}  // namespace hvrun::vmm
