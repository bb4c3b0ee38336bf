// virtio-console (device id 3), a single port (no VIRTIO_CONSOLE_F_MULTIPORT).
// Queue 0 (receiveq) is fed from in_fd, queue 1 (transmitq) is written to
// out_fd. The I/O loop calls has_input_interest()/kick(0) when in_fd is
// readable; reads go straight into the guest's buffers. At EOF (or a read
// error) on in_fd the device stops reading it for good: the guest simply sees
// no more input (virtio-console has no end-of-file signal).
#pragma once
#include "vmm/virtio_mmio.hpp"

namespace hvrun::vmm {

class VirtioConsole : public VirtioDevice {
 public:
  VirtioConsole(int in_fd, int out_fd) : in_fd_(in_fd), out_fd_(out_fd) {}
  uint32_t device_id() const override { return 3; }
  uint64_t features() const override { return 0; }
  unsigned num_queues() const override { return 2; }
  void read_config(uint32_t offset, uint8_t* data, unsigned len) override;
  bool process(unsigned queue, std::vector<Virtqueue>& queues, const GuestMemory& mem) override;
  // True while in_fd is worth polling: not at EOF, and the guest has rx
  // buffers (or we have not looked yet). Read by the I/O loop.
  bool wants_input() const { return in_fd_ >= 0 && !in_eof_ && !rx_starved_; }
  bool input_eof() const { return in_eof_; }
  void reset() override { rx_starved_ = false; }

 private:
  bool fill_rx(Virtqueue& q, const GuestMemory& mem);
  bool drain_tx(Virtqueue& q, const GuestMemory& mem);
  int in_fd_;
  int out_fd_;
  bool in_eof_ = false;
  bool rx_starved_ = false;  // input pending but no rx buffer: wait for a notify
  DescChain chain_;
};

}  // namespace hvrun::vmm
