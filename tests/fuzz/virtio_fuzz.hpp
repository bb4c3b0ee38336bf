// Shared by the virtio device targets: a device behind the real MMIO
// transport, set up as a guest driver would (every feature the device
// offers, each queue 16 entries at a fixed place), over a fake guest memory
// whose first bytes are the fuzz input: descriptor tables, available rings
// and buffers all come from it. Then every queue is notified twice.
//
// Guest memory layout (64 KiB): queue q's descriptor table at q*0x400, its
// available ring at q*0x400+0x100, its used ring at q*0x400+0x200; anything
// from 0x1000 is buffer space. The transport turns a VirtioError (a broken
// ring or chain) into DEVICE_NEEDS_RESET; only a crash, a sanitizer report
// or an exception the transport lets through is a finding.
#pragma once
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>

#include "vmm/guest_memory.hpp"
#include "tests/fuzz/fuzz_util.hpp"
#include "vmm/virtio_mmio.hpp"

namespace hvrun::fuzz {

inline constexpr uint64_t kGuestMem = 64 * 1024;
inline constexpr uint16_t kQueueSize = 16;

inline void mmio_w32(vmm::MmioTransport& t, uint32_t off, uint32_t v) {
  t.write(off, reinterpret_cast<uint8_t*>(&v), 4);
}

// Runs one input against `dev`, in guest memory held by `mem_buf` (reused
// across inputs, zeroed first).
inline void drive_virtio(std::unique_ptr<vmm::VirtioDevice> dev, std::vector<uint8_t>& mem_buf, const uint8_t* data,
                         size_t size) {
  namespace m = vmm::mmio;
  mem_buf.assign(kGuestMem, 0);
  vmm::GuestMemory mem(mem_buf.data(), kGuestMem);
  const uint64_t features = dev->features() | vmm::kVirtioFVersion1;
  const unsigned nq = dev->num_queues();
  vmm::MmioTransport t(std::move(dev), mem, nullptr);
  mmio_w32(t, m::kStatus, 0);
  mmio_w32(t, m::kStatus, vmm::kVirtioStatusAcknowledge | vmm::kVirtioStatusDriver);
  mmio_w32(t, m::kDriverFeaturesSel, 0);
  mmio_w32(t, m::kDriverFeatures, static_cast<uint32_t>(features));
  mmio_w32(t, m::kDriverFeaturesSel, 1);
  mmio_w32(t, m::kDriverFeatures, static_cast<uint32_t>(features >> 32));
  mmio_w32(t, m::kStatus, vmm::kVirtioStatusAcknowledge | vmm::kVirtioStatusDriver | vmm::kVirtioStatusFeaturesOk);
  for (uint32_t q = 0; q < nq; ++q) {
    mmio_w32(t, m::kQueueSel, q);
    mmio_w32(t, m::kQueueNum, kQueueSize);
    mmio_w32(t, m::kQueueDescLow, q * 0x400);
    mmio_w32(t, m::kQueueDriverLow, q * 0x400 + 0x100);
    mmio_w32(t, m::kQueueDeviceLow, q * 0x400 + 0x200);
    mmio_w32(t, m::kQueueReady, 1);
  }
  mmio_w32(t, m::kStatus,
           vmm::kVirtioStatusAcknowledge | vmm::kVirtioStatusDriver | vmm::kVirtioStatusFeaturesOk |
               vmm::kVirtioStatusDriverOk);
  std::memcpy(mem_buf.data(), data, size < kGuestMem ? size : kGuestMem);
  for (int round = 0; round < 2; ++round)
    for (unsigned q = 0; q < nq; ++q) t.notify(q);
  if (verbose() && t.broken()) std::fprintf(stderr, "fuzz: device broken: %s\n", t.broken_reason().c_str());
  // The config space, byte by byte, as a driver may read it.
  for (uint32_t off = 0; off < 64; ++off) {
    uint8_t b;
    t.read(m::kConfig + off, &b, 1);
  }
}

}  // namespace hvrun::fuzz
