// A fake virtio driver for device tests that need no /dev/kvm: guest memory
// in a vector and helpers that write split rings as a guest driver would
// (used by the blk/console, net and 9p device tests).
#pragma once
#include <cstdint>
#include <cstring>
#include <vector>

#include "vmm/guest_memory.hpp"
#include "vmm/virtio_mmio.hpp"

namespace hvrun::vmm::test {

// Where one queue's descriptor table, available ring and used ring live.
struct RingAt {
  uint64_t desc, avail, used;
};

struct FakeDriver {
  explicit FakeDriver(uint64_t mem_bytes = 1 << 20, uint16_t queue_size = 16)
      : buf(mem_bytes), mem{buf.data(), mem_bytes}, qsize(queue_size) {}

  std::vector<uint8_t> buf;
  GuestMemory mem;
  uint16_t qsize;

  // Descriptor i of the table at `table` (a ring's or an indirect one).
  void put_desc(uint64_t table, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next) {
    struct {
      uint64_t addr;
      uint32_t len;
      uint16_t flags, next;
    } d{addr, len, flags, next};
    std::memcpy(&buf[table + 16 * i], &d, 16);
  }
  // Makes chain `head` available on ring `r`; avail_idx is that ring's index.
  void put_avail(const RingAt& r, uint16_t& avail_idx, uint16_t head) {
    std::memcpy(&buf[r.avail + 4 + 2 * (avail_idx % qsize)], &head, 2);
    ++avail_idx;
    std::memcpy(&buf[r.avail + 2], &avail_idx, 2);
  }
  uint16_t used_idx(const RingAt& r) const {
    uint16_t v;
    std::memcpy(&v, &buf[r.used + 2], 2);
    return v;
  }
  // The length the device reported in used element i.
  uint32_t used_len(const RingAt& r, uint16_t i) const {
    uint32_t v;
    std::memcpy(&v, &buf[r.used + 4 + 8 * (i % qsize) + 4], 4);
    return v;
  }
};

inline void w32(MmioTransport& t, uint32_t off, uint32_t v) { t.write(off, reinterpret_cast<uint8_t*>(&v), 4); }
inline uint32_t r32(MmioTransport& t, uint32_t off) {
  uint32_t v = 0;
  t.read(off, reinterpret_cast<uint8_t*>(&v), 4);
  return v;
}

}  // namespace hvrun::vmm::test
