// Split virtqueue (virtio 1.x, 2.7): the device side. Every address, length
// and index the driver writes is checked: a bad one throws VirtioError, which
// the transport turns into DEVICE_NEEDS_RESET (the device stops processing).
#pragma once
#include <cstdint>
#include <vector>

#include "util/error.hpp"
#include "vmm/guest_memory.hpp"
#include "vmm/state_codec.hpp"

namespace hvrun::vmm {

// The driver broke the virtio protocol (bad ring, chain, lengths...).
class VirtioError : public Error {
 public:
  using Error::Error;
};

struct DescSegment {
  uint64_t addr = 0;
  uint32_t len = 0;
  bool device_writable = false;
};

// One available descriptor chain, indirect tables flattened. The segments
// are already checked to lie inside guest memory.
struct DescChain {
  uint16_t head = 0;
  std::vector<DescSegment> segs;
};

class Virtqueue {
 public:
  static constexpr uint16_t kMaxSize = 256;        // QueueNumMax we advertise
  static constexpr uint32_t kMaxIndirect = 1024;   // entries in one indirect table

  // Set by the transport from the driver's register writes.
  uint16_t size = kMaxSize;
  uint64_t desc_addr = 0;
  uint64_t avail_addr = 0;
  uint64_t used_addr = 0;
  bool ready = false;
  bool indirect_enabled = false;  // VIRTIO_RING_F_INDIRECT_DESC negotiated

  void reset();
  // Size a power of two <= kMaxSize, rings aligned and inside guest memory.
  void validate(const GuestMemory& mem) const;
  // Takes the next available chain into `out` (its vector is reused); false
  // when the driver has made nothing new available.
  bool pop(const GuestMemory& mem, DescChain& out);
  // Puts the chain pop() just returned back at the front (the device found
  // nothing to put in it yet); the next pop() returns it again.
  void undo_pop() { --last_avail_; }
  // Returns a chain to the driver with `len` bytes written into it.
  void push_used(const GuestMemory& mem, uint16_t head, uint32_t len);
  // The driver did not set VIRTQ_AVAIL_F_NO_INTERRUPT.
  bool wants_interrupt(const GuestMemory& mem) const;

  // Chains popped and not yet returned (in flight in the device).
  uint16_t in_flight() const { return static_cast<uint16_t>(last_avail_ - used_idx_); }
  // For snapshots (state_codec.hpp), with no chain in flight: the queue's
  // registers and the device's ring positions. drop_in_flight: the device
  // is broken (DEVICE_NEEDS_RESET) and its chains are void; only a reset,
  // which empties the queue, gets it going again.
  void save(StateOut& o, bool drop_in_flight = false) const;
  // Reads them back as hostile input (StateIn::fail on a bad value): a
  // ready queue must pass validate() in `mem`, hold no chain, and agree
  // with the used index the guest sees there.
  void restore(StateIn& in, const GuestMemory& mem);

 private:
  void add_segment(const GuestMemory& mem, DescChain& out, uint64_t addr, uint32_t len, uint16_t flags) const;
  void walk_indirect(const GuestMemory& mem, DescChain& out, uint64_t table, uint32_t len) const;
  uint16_t last_avail_ = 0;
  uint16_t used_idx_ = 0;
};

}  // namespace hvrun::vmm
