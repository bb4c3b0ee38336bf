#include "vmm/virtio_console.hpp"

#include <poll.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace hvrun::vmm {

void VirtioConsole::read_config(uint32_t offset, uint8_t* data, unsigned len) {
  // cols u16, rows u16, max_nr_ports u32, emerg_wr u32: all 0 (unused without
  // the SIZE/MULTIPORT/EMERG_WRITE features).
  (void)offset;
  std::memset(data, 0, len);
}

bool VirtioConsole::process(unsigned queue, std::vector<Virtqueue>& queues, const GuestMemory& mem) {
  if (queue == 0) {
    rx_starved_ = false;  // the guest added buffers (or input arrived): try again
    return fill_rx(queues[0], mem);
  }
  if (queue == 1) return drain_tx(queues[1], mem);
  return false;
}

bool VirtioConsole::fill_rx(Virtqueue& q, const GuestMemory& mem) {
  if (in_fd_ < 0 || in_eof_) return false;
  struct pollfd pfd{in_fd_, POLLIN, 0};
  bool used = false;
  while (::poll(&pfd, 1, 0) == 1) {
    if (!q.pop(mem, chain_)) {
      rx_starved_ = true;
      return used;
    }
    iovec iov[Virtqueue::kMaxSize];
    int n_iov = 0;
    for (const auto& s : chain_.segs) {
      if (!s.device_writable) throw VirtioError("virtio-console receive buffer is not writable");
      if (n_iov < static_cast<int>(Virtqueue::kMaxSize)) iov[n_iov++] = iovec{mem.translate(s.addr, s.len), s.len};
    }
    ssize_t n;
    do n = ::readv(in_fd_, iov, n_iov);
    while (n < 0 && errno == EINTR);
    // EOF or a hard error: hand the buffer back empty and stop reading in_fd.
    if (n == 0 || (n < 0 && errno != EAGAIN)) in_eof_ = true;
    q.push_used(mem, chain_.head, n > 0 ? static_cast<uint32_t>(n) : 0);
    used = true;
    if (in_eof_) break;
  }
  return used;
}

bool VirtioConsole::drain_tx(Virtqueue& q, const GuestMemory& mem) {
  bool used = false;
  while (q.pop(mem, chain_)) {
    for (const auto& s : chain_.segs) {
      if (s.device_writable) continue;
      const uint8_t* p = mem.translate(s.addr, s.len);
      size_t done = 0;
      while (out_fd_ >= 0 && done < s.len) {
        ssize_t n = ::write(out_fd_, p + done, s.len - done);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) {
          struct pollfd pfd{out_fd_, POLLOUT, 0};
          ::poll(&pfd, 1, 1000);
          continue;
        }
        if (n <= 0) break;  // reader gone: drop the output
        done += static_cast<size_t>(n);
      }
    }
    q.push_used(mem, chain_.head, 0);
    used = true;
  }
  return used;
}

}  // namespace hvrun::vmm
