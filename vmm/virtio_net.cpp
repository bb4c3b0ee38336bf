#include "vmm/virtio_net.hpp"

#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>

#include "vmm/tap.hpp"

namespace hvrun::vmm {

VirtioNet::VirtioNet(int tap_fd, const unsigned char mac[6]) : tap_fd_(tap_fd) { std::memcpy(mac_, mac, 6); }

void VirtioNet::read_config(uint32_t offset, uint8_t* data, unsigned len) {
  // mac[6], status u16 (max_virtqueue_pairs and mtu only exist with features
  // we do not offer: they read as 0).
  uint8_t cfg[8] = {};
  std::memcpy(cfg, mac_, 6);
  const uint16_t status = kVirtioNetSLinkUp;
  std::memcpy(cfg + 6, &status, 2);
  for (unsigned i = 0; i < len; ++i) data[i] = offset + i < sizeof cfg ? cfg[offset + i] : 0;
}

bool VirtioNet::process(unsigned queue, std::vector<Virtqueue>& queues, const GuestMemory& mem) {
  if (queue == 0) {
    rx_starved_ = false;  // the guest added buffers (or a packet arrived): try again
    return fill_rx(queues[0], mem);
  }
  if (queue == 1) return drain_tx(queues[1], mem);
  return false;
}

bool VirtioNet::fill_rx(Virtqueue& q, const GuestMemory& mem) {
  if (tap_dead_) return false;
  bool used = false;
  for (;;) {
    if (!q.pop(mem, chain_)) {
      // No buffer: leave packets in the tap's queue until the guest posts some.
      // (Whether a packet is waiting does not matter: a notify re-tries.)
      rx_starved_ = true;
      return used;
    }
    iov_.clear();
    uint64_t total = 0;
    for (const auto& s : chain_.segs) {
      if (!s.device_writable) throw VirtioError("virtio-net receive buffer is not writable");
      if (s.len == 0) continue;
      iov_.push_back(iovec{mem.translate(s.addr, s.len), s.len});
      total += s.len;
    }
    if (total < kVnetHdrLen) throw VirtioError("virtio-net receive buffer of " + std::to_string(total) + " bytes is shorter than the header");
    if (iov_.size() > IOV_MAX) throw VirtioError("virtio-net receive chain has too many buffers");
    ssize_t n;
    do n = ::readv(tap_fd_, iov_.data(), static_cast<int>(iov_.size()));
    while (n < 0 && errno == EINTR);
    if (n < 0) {
      q.undo_pop();  // keep the buffer for the next packet
      // EFAULT/EINVAL: the packet did not fit the guest's buffer; the tap
      // dropped it. Go on with the next one.
      if (errno == EFAULT || errno == EINVAL || errno == EMSGSIZE) continue;
      if (errno != EAGAIN) tap_dead_ = true;  // the tap failed for good: stop polling it
      return used;
    }
    if (n < kVnetHdrLen) {  // cannot happen with a vnet-header tap; do not pass garbage up
      q.undo_pop();
      tap_dead_ = true;
      return used;
    }
    // num_buffers (bytes 10-11 of the header): 1 without MRG_RXBUF; the tap
    // only fills the first 10 bytes.
    const uint8_t nb[2] = {1, 0};  // little-endian 1
    size_t pos = 0;
    for (const auto& v : iov_) {
      for (size_t k = 0; k < 2; ++k) {
        const size_t at = 10 + k;
        if (at >= pos && at < pos + v.iov_len) static_cast<uint8_t*>(v.iov_base)[at - pos] = nb[k];
      }
      pos += v.iov_len;
      if (pos >= kVnetHdrLen) break;
    }
    q.push_used(mem, chain_.head, static_cast<uint32_t>(n));
    ++rx_packets_;
    used = true;
  }
}

bool VirtioNet::drain_tx(Virtqueue& q, const GuestMemory& mem) {
  bool used = false;
  while (q.pop(mem, chain_)) {
    iov_.clear();
    uint64_t total = 0;
    for (const auto& s : chain_.segs) {
      if (s.device_writable) throw VirtioError("virtio-net transmit buffer is device-writable");
      if (s.len == 0) continue;
      iov_.push_back(iovec{mem.translate(s.addr, s.len), s.len});
      total += s.len;
    }
    if (total < kVnetHdrLen) throw VirtioError("virtio-net transmit chain of " + std::to_string(total) + " bytes is shorter than the header");
    if (iov_.size() > IOV_MAX) throw VirtioError("virtio-net transmit chain has too many buffers");
    ssize_t n;
    do n = ::writev(tap_fd_, iov_.data(), static_cast<int>(iov_.size()));
    while (n < 0 && errno == EINTR);
    if (n < 0) ++tx_dropped_;  // refused (bad header, interface down...): dropped like on a wire
    else ++tx_packets_;
    q.push_used(mem, chain_.head, 0);
    used = true;
  }
  return used;
}

}  // namespace hvrun::vmm
