// Split virtqueue chain walking (vmm/virtqueue.cpp) over a fake guest
// memory whose first bytes are the input. The first 16 input bytes also set
// the queue: size, ring addresses (inside a 64 KiB guest, or just past it)
// and whether indirect descriptors were negotiated. Every chain pop()
// returns must lie inside guest memory (the promise of DescChain); any
// broken ring must end in VirtioError or GuestMemoryError.
#include <cstdint>
#include <cstring>
#include <vector>

#include "tests/fuzz/fuzz_util.hpp"
#include "util/error.hpp"
#include "vmm/guest_memory.hpp"
#include "vmm/virtqueue.hpp"

using namespace hvrun;

namespace {

uint16_t u16_at(const uint8_t* d, size_t size, size_t off) {
  uint16_t v = 0;
  if (off + 2 <= size) std::memcpy(&v, d + off, 2);
  return v;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  constexpr uint64_t kMem = 64 * 1024;
  static std::vector<uint8_t> buf;
  buf.assign(kMem, 0);
  std::memcpy(buf.data(), data, size < kMem ? size : kMem);
  vmm::GuestMemory mem(buf.data(), kMem);
  vmm::Virtqueue q;
  q.reset();
  // Addresses in units of 16 bytes below 68 KiB: mostly inside, sometimes not.
  q.size = u16_at(data, size, 0) & 0x1ff;
  q.desc_addr = static_cast<uint64_t>(u16_at(data, size, 2) % 0x1100) * 16;
  q.avail_addr = static_cast<uint64_t>(u16_at(data, size, 4) % 0x1100) * 2;
  q.used_addr = static_cast<uint64_t>(u16_at(data, size, 6) % 0x1100) * 4;
  q.indirect_enabled = size > 8 && (data[8] & 1);
  q.ready = true;
  try {
    q.validate(mem);
  } catch (const Error&) {
    return 0;
  }
  vmm::DescChain chain;
  try {
    for (int i = 0; i < 64 && q.pop(mem, chain); ++i) {
      uint32_t total = 0;
      for (const auto& s : chain.segs) {
        if (!mem.contains(s.addr, s.len)) fuzz::invariant_failed("a popped segment lies outside guest memory");
        total += s.len;
      }
      if (chain.head >= q.size) fuzz::invariant_failed("a popped chain's head is not below the queue size");
      q.push_used(mem, chain.head, total);
      q.wants_interrupt(mem);
    }
  } catch (const Error&) {
  }
  return 0;
}
