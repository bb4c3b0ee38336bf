// virtio-blk (device id 2) over a host file. Requests: IN (read), OUT
// (write), FLUSH (fdatasync), GET_ID. A read-only disk advertises
// VIRTIO_BLK_F_RO and fails writes with VIRTIO_BLK_S_IOERR; a sector range
// past the capacity fails with IOERR; a malformed request layout (no header,
// no status byte, header in a writable buffer) breaks the device.
#pragma once
#include <string>

#include "util/fd.hpp"
#include "vmm/virtio_mmio.hpp"

namespace hvrun::vmm {

constexpr uint64_t kVirtioBlkFSegMax = 1ull << 2;
constexpr uint64_t kVirtioBlkFRo = 1ull << 5;
constexpr uint64_t kVirtioBlkFFlush = 1ull << 9;
constexpr uint32_t kVirtioBlkTIn = 0, kVirtioBlkTOut = 1, kVirtioBlkTFlush = 4, kVirtioBlkTGetId = 8;
constexpr uint8_t kVirtioBlkSOk = 0, kVirtioBlkSIoErr = 1, kVirtioBlkSUnsupp = 2;

class VirtioBlk : public VirtioDevice {
 public:
  // Data segments per request we advertise (VIRTIO_BLK_F_SEG_MAX); a request
  // is then at most seg_max + 2 descriptors, within the queue size.
  static constexpr uint32_t kSegMax = 126;
  // Opens the file (O_RDONLY when readonly); capacity = size / 512.
  VirtioBlk(const std::string& path, bool readonly);
  uint32_t device_id() const override { return 2; }
  uint64_t features() const override;
  unsigned num_queues() const override { return 1; }
  void read_config(uint32_t offset, uint8_t* data, unsigned len) override;
  bool process(unsigned queue, std::vector<Virtqueue>& queues, const GuestMemory& mem) override;
  uint64_t capacity_sectors() const { return capacity_; }
  // Snapshots: the capacity the guest knew. A restore onto a disk of
  // another size (a template VM's placeholder, engine/vm_template.hpp)
  // makes the transport raise a configuration-change interrupt, and the
  // guest's driver reads the new capacity.
  std::string save_state() const override;
  std::string restore_state(std::string_view blob) override;
  bool take_config_change() override;

 private:
  uint8_t handle(const DescChain& c, const GuestMemory& mem, uint32_t& written);
  UniqueFd fd_;
  std::string path_;
  bool readonly_;
  uint64_t capacity_ = 0;
  bool capacity_changed_ = false;
  DescChain chain_;
};

}  // namespace hvrun::vmm
