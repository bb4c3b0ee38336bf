#include "vmm/virtqueue.hpp"

#include <cinttypes>
#include <cstdio>
#include <string>

namespace hvrun::vmm {
namespace {

constexpr uint16_t kDescNext = 1;
constexpr uint16_t kDescWrite = 2;
constexpr uint16_t kDescIndirect = 4;
constexpr uint16_t kAvailNoInterrupt = 1;

struct VirtqDesc {
  uint64_t addr;
  uint32_t len;
  uint16_t flags;
  uint16_t next;
};
static_assert(sizeof(VirtqDesc) == 16);

std::string hex(uint64_t v) {
  char b[24];
  std::snprintf(b, sizeof b, "0x%" PRIx64, v);
  return b;
}

uint16_t load_acquire16(const GuestMemory& mem, uint64_t gpa) {
  auto* p = reinterpret_cast<uint16_t*>(mem.translate(gpa, 2));
  return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

}  // namespace

void Virtqueue::reset() {
  *this = Virtqueue{};
}

void Virtqueue::validate(const GuestMemory& mem) const {
  if (size == 0 || size > kMaxSize || (size & (size - 1)) != 0)
    throw VirtioError("queue size " + std::to_string(size) + " is not a power of two <= " + std::to_string(kMaxSize));
  if (desc_addr % 16 || avail_addr % 2 || used_addr % 4)
    throw VirtioError("misaligned ring (desc " + hex(desc_addr) + ", avail " + hex(avail_addr) + ", used " + hex(used_addr) + ")");
  const uint64_t n = size;
  if (!mem.contains(desc_addr, 16 * n)) throw VirtioError("descriptor table " + hex(desc_addr) + " is outside guest memory");
  if (!mem.contains(avail_addr, 6 + 2 * n)) throw VirtioError("available ring " + hex(avail_addr) + " is outside guest memory");
  if (!mem.contains(used_addr, 6 + 8 * n)) throw VirtioError("used ring " + hex(used_addr) + " is outside guest memory");
}

void Virtqueue::add_segment(const GuestMemory& mem, DescChain& out, uint64_t addr, uint32_t len, uint16_t flags) const {
  if (!mem.contains(addr, len))
    throw VirtioError("descriptor buffer " + hex(addr) + "+" + hex(len) + " is outside guest memory");
  out.segs.push_back(DescSegment{addr, len, (flags & kDescWrite) != 0});
}

void Virtqueue::walk_indirect(const GuestMemory& mem, DescChain& out, uint64_t table, uint32_t len) const {
  if (len == 0 || len % 16 != 0 || len / 16 > kMaxIndirect)
    throw VirtioError("indirect descriptor table of bad size " + std::to_string(len));
  if (!mem.contains(table, len))  // (no alignment rule for indirect tables: loads are memcpy)
    throw VirtioError("indirect descriptor table " + hex(table) + "+" + hex(len) + " is outside guest memory");
  const uint32_t n = len / 16;
  uint32_t i = 0;
  for (uint32_t count = 0;; ++count) {
    if (count >= n) throw VirtioError("indirect descriptor chain loops or is longer than its table");
    VirtqDesc d = mem.load<VirtqDesc>(table + 16ull * i);
    if (d.flags & kDescIndirect) throw VirtioError("nested indirect descriptor");
    add_segment(mem, out, d.addr, d.len, d.flags);
    if (!(d.flags & kDescNext)) break;
    if (d.next >= n) throw VirtioError("indirect descriptor next index " + std::to_string(d.next) + " is out of range");
    i = d.next;
  }
}

bool Virtqueue::pop(const GuestMemory& mem, DescChain& out) {
  if (!ready) return false;
  const uint16_t avail_idx = load_acquire16(mem, avail_addr + 2);
  const uint16_t pending = static_cast<uint16_t>(avail_idx - last_avail_);
  if (pending == 0) return false;
  if (pending > size) throw VirtioError("available index moved by " + std::to_string(pending) + " > queue size");
  uint16_t head = mem.load<uint16_t>(avail_addr + 4 + 2ull * (last_avail_ % size));
  ++last_avail_;
  if (head >= size) throw VirtioError("available ring head " + std::to_string(head) + " is out of range");

  out.head = head;
  out.segs.clear();
  uint16_t i = head;
  for (unsigned count = 0;; ++count) {
    if (count >= size) throw VirtioError("descriptor chain loops or is longer than the queue");
    VirtqDesc d = mem.load<VirtqDesc>(desc_addr + 16ull * i);
    if (d.flags & kDescIndirect) {
      if (!indirect_enabled) throw VirtioError("indirect descriptor without VIRTIO_RING_F_INDIRECT_DESC");
      if (d.flags & kDescNext) throw VirtioError("indirect descriptor with NEXT set");
      walk_indirect(mem, out, d.addr, d.len);
      break;
    }
    add_segment(mem, out, d.addr, d.len, d.flags);
    if (!(d.flags & kDescNext)) break;
    if (d.next >= size) throw VirtioError("descriptor next index " + std::to_string(d.next) + " is out of range");
    i = d.next;
  }
  return true;
}

void Virtqueue::push_used(const GuestMemory& mem, uint16_t head, uint32_t len) {
  const uint64_t elem = used_addr + 4 + 8ull * (used_idx_ % size);
  mem.store<uint32_t>(elem, head);
  mem.store<uint32_t>(elem + 4, len);
  ++used_idx_;
  auto* idx = reinterpret_cast<uint16_t*>(mem.translate(used_addr + 2, 2));
  __atomic_store_n(idx, used_idx_, __ATOMIC_RELEASE);
}

bool Virtqueue::wants_interrupt(const GuestMemory& mem) const {
  __atomic_thread_fence(__ATOMIC_SEQ_CST);
  return !(mem.load<uint16_t>(avail_addr) & kAvailNoInterrupt);
}

void Virtqueue::save(StateOut& o, bool drop_in_flight) const {
  if (in_flight() && !drop_in_flight) throw Error(std::to_string(in_flight()) + " request(s) of the guest still in the device");
  o.u16(size);
  o.u64(desc_addr);
  o.u64(avail_addr);
  o.u64(used_addr);
  o.u8(ready);
  o.u8(indirect_enabled);
  o.u16(drop_in_flight ? used_idx_ : last_avail_);
  o.u16(used_idx_);
}

void Virtqueue::restore(StateIn& in, const GuestMemory& mem) {
  Virtqueue q;
  q.size = in.u16("queue size");
  q.desc_addr = in.u64("descriptor table");
  q.avail_addr = in.u64("available ring");
  q.used_addr = in.u64("used ring");
  q.ready = in.flag("queue ready");
  q.indirect_enabled = in.flag("indirect descriptors");
  q.last_avail_ = in.u16("last available index");
  q.used_idx_ = in.u16("used index");
  if (q.in_flight()) in.fail("a queue holds " + std::to_string(q.in_flight()) + " request(s) in flight");
  if (q.ready) {
    try {
      q.validate(mem);
    } catch (const Error& e) {
      in.fail(e.what());
    }
    const uint16_t seen = mem.load<uint16_t>(q.used_addr + 2);
    if (seen != q.used_idx_)
      in.fail("used index " + std::to_string(q.used_idx_) + " but the guest's ring says " + std::to_string(seen));
    const uint16_t avail = mem.load<uint16_t>(q.avail_addr + 2);
    if (static_cast<uint16_t>(avail - q.last_avail_) > q.size)
      in.fail("available index " + std::to_string(avail) + " is more than a queue ahead of " + std::to_string(q.last_avail_));
  }
  *this = q;
}

}  // namespace hvrun::vmm
