// virtio-net (device id 1) backed by a tap fd opened with IFF_VNET_HDR and a
// 12-byte vnet header (see vmm/tap.hpp): the virtio_net_hdr the guest puts
// in front of each packet goes to the tap as is, and the tap's header comes
// back the same way. Queue 0 = receiveq, queue 1 = transmitq; no control
// queue, no multiqueue, no offloads. Features: VIRTIO_NET_F_MAC (the MAC in
// config space), VIRTIO_NET_F_STATUS (link always up), indirect descriptors.
//
// Receive: packets are read from the tap straight into the guest's receive
// buffers, one packet per buffer chain (the guest, without MRG_RXBUF, posts
// buffers of header + 1514 bytes or more). When the guest has no buffer
// the device stops wanting input (wants_input() false) until the guest adds
// some (a notify on queue 0): the tap queues (and at worst drops) packets in
// the kernel, nothing spins.
// Transmit: each chain is written to the tap with one writev. A packet the
// tap refuses (e.g. a bad header) is dropped, like on a real wire.
// A chain of the wrong direction, or shorter than the header, is a protocol
// violation: VirtioError, the transport marks the device broken.
#pragma once
#include <sys/uio.h>

#include <atomic>
#include <cstdint>

#include "vmm/virtio_mmio.hpp"

namespace hvrun::vmm {

constexpr uint64_t kVirtioNetFMac = 1ull << 5;
constexpr uint64_t kVirtioNetFStatus = 1ull << 16;
constexpr uint16_t kVirtioNetSLinkUp = 1;

class VirtioNet : public VirtioDevice {
 public:
  // tap_fd: non-blocking, vnet header size 12; not owned (outlives the device).
  VirtioNet(int tap_fd, const unsigned char mac[6]);
  uint32_t device_id() const override { return 1; }
  uint64_t features() const override { return kVirtioNetFMac | kVirtioNetFStatus | kVirtioRingFIndirectDesc; }
  unsigned num_queues() const override { return 2; }
  void read_config(uint32_t offset, uint8_t* data, unsigned len) override;
  bool process(unsigned queue, std::vector<Virtqueue>& queues, const GuestMemory& mem) override;
  void reset() override { rx_starved_ = false; }

  // True while the tap is worth polling: the guest has (or may have) receive
  // buffers and the tap has not failed. Read by the I/O loop.
  bool wants_input() const { return !rx_starved_ && !tap_dead_; }
  uint64_t rx_packets() const { return rx_packets_; }
  uint64_t tx_packets() const { return tx_packets_; }
  uint64_t tx_dropped() const { return tx_dropped_; }

 private:
  bool fill_rx(Virtqueue& q, const GuestMemory& mem);
  bool drain_tx(Virtqueue& q, const GuestMemory& mem);
  int tap_fd_;
  unsigned char mac_[6];
  std::atomic<bool> rx_starved_{false};
  std::atomic<bool> tap_dead_{false};
  std::atomic<uint64_t> rx_packets_{0}, tx_packets_{0}, tx_dropped_{0};
  DescChain chain_;
  std::vector<iovec> iov_;
};

}  // namespace hvrun::vmm
