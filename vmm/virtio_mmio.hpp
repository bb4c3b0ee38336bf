// virtio-mmio transport, virtio 1.x "modern" only (Version register = 2).
// A device occupies 4 KiB of MMIO space: registers 0x000-0x0ff, device config
// from 0x100. The transport owns the virtqueues, negotiates features
// (VIRTIO_F_VERSION_1 required), and turns any VirtioError/GuestMemoryError
// from the device into DEVICE_NEEDS_RESET: status bit 0x40 set, a
// configuration-change interrupt raised, and no more queue processing until
// the driver resets the device (writes 0 to Status).
//
// Thread safety: every entry point takes the transport's mutex (vCPU threads
// do MMIO, the I/O loop handles ioeventfds and input fds).
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "vmm/guest_memory.hpp"
#include "vmm/virtqueue.hpp"

namespace hvrun::vmm {

constexpr uint64_t kVirtioFVersion1 = 1ull << 32;
constexpr uint64_t kVirtioRingFIndirectDesc = 1ull << 28;

constexpr uint32_t kVirtioStatusAcknowledge = 1;
constexpr uint32_t kVirtioStatusDriver = 2;
constexpr uint32_t kVirtioStatusDriverOk = 4;
constexpr uint32_t kVirtioStatusFeaturesOk = 8;
constexpr uint32_t kVirtioStatusNeedsReset = 0x40;
constexpr uint32_t kVirtioStatusFailed = 0x80;

// Register offsets (virtio 1.x, 4.2.2).
namespace mmio {
constexpr uint32_t kMagic = 0x000, kVersion = 0x004, kDeviceId = 0x008, kVendorId = 0x00c;
constexpr uint32_t kDeviceFeatures = 0x010, kDeviceFeaturesSel = 0x014;
constexpr uint32_t kDriverFeatures = 0x020, kDriverFeaturesSel = 0x024;
constexpr uint32_t kQueueSel = 0x030, kQueueNumMax = 0x034, kQueueNum = 0x038, kQueueReady = 0x044;
constexpr uint32_t kQueueNotify = 0x050, kInterruptStatus = 0x060, kInterruptAck = 0x064, kStatus = 0x070;
constexpr uint32_t kQueueDescLow = 0x080, kQueueDescHigh = 0x084, kQueueDriverLow = 0x090, kQueueDriverHigh = 0x094;
constexpr uint32_t kQueueDeviceLow = 0x0a0, kQueueDeviceHigh = 0x0a4, kConfigGeneration = 0x0fc, kConfig = 0x100;
constexpr uint32_t kMagicValue = 0x74726976;  // "virt"
constexpr uint32_t kVendor = 0x4856524e;      // "HVRN"
}  // namespace mmio

class VirtioDevice {
 public:
  virtual ~VirtioDevice() = default;
  virtual uint32_t device_id() const = 0;
  virtual uint64_t features() const = 0;  // VERSION_1 is added by the transport
  virtual unsigned num_queues() const = 0;
  // Device configuration space; out-of-range bytes read as 0.
  virtual void read_config(uint32_t offset, uint8_t* data, unsigned len) = 0;
  // The driver made buffers available on `queue` (or the device has input
  // for it). Returns true when used buffers were added. Throws VirtioError /
  // GuestMemoryError on a malformed request.
  virtual bool process(unsigned queue, std::vector<Virtqueue>& queues, const GuestMemory& mem) = 0;
  // DRIVER_OK was set (queues are valid) / the driver reset the device.
  virtual void activate() {}
  virtual void reset() {}
  // Snapshots. busy(): requests are in progress off the rings (wait for
  // them before saving). save_state(): the device's own state beside its
  // queues (most devices have none). restore_state(): reads it back as
  // hostile input; returns a note for the user on what could not be
  // restored ("" when everything was).
  virtual bool busy() const { return false; }
  virtual std::string save_state() const { return {}; }
  virtual std::string restore_state(std::string_view blob) {
    if (!blob.empty()) throw Error("virtio device " + std::to_string(device_id()) + ": unexpected state in the snapshot");
    return {};
  }
  // After a restore: true (once) when the device's configuration space
  // differs from what the guest read (a disk of another size), so that the
  // transport tells the guest with a configuration-change interrupt.
  virtual bool take_config_change() { return false; }
};

class MmioTransport {
 public:
  // raise_irq is called (with the mutex held) whenever InterruptStatus gains a bit.
  MmioTransport(std::unique_ptr<VirtioDevice> dev, const GuestMemory& mem, std::function<void()> raise_irq);

  void read(uint64_t offset, uint8_t* data, unsigned len);
  void write(uint64_t offset, const uint8_t* data, unsigned len);
  // A queue notification (QueueNotify write or its ioeventfd).
  void notify(unsigned queue);
  // Re-run the device on `queue` (e.g. console input became readable).
  void kick(unsigned queue) { notify(queue); }

  uint32_t status() const;
  uint32_t interrupt_status() const;
  bool broken() const { return status() & kVirtioStatusNeedsReset; }
  bool driver_ok() const;
  std::string broken_reason() const;  // why DEVICE_NEEDS_RESET was set
  VirtioDevice& device() { return *dev_; }

  // Snapshots, with the vCPUs stopped and the device not busy(): the
  // registers, each queue and the device's own state. restore() reads a
  // blob as hostile input (Error naming what is wrong): another device
  // type or queue count, features the device does not offer, unknown
  // status bits, queues that fail their checks; it returns the device's note.
  std::string save_state() const;
  std::string restore_state(std::string_view blob);
  // After a restore, before the guest runs: every ready queue is run once
  // (a notification may have been on its way) and a pending interrupt
  // status raised again.
  void resume_after_restore();

 private:
  void do_reset();
  void mark_broken(const std::string& why);
  void run_queue(unsigned queue);
  void set_status(uint32_t v);
  uint32_t read_reg(uint32_t offset);
  void write_reg(uint32_t offset, uint32_t v);
  Virtqueue* selected();

  mutable std::mutex mu_;
  std::unique_ptr<VirtioDevice> dev_;
  const GuestMemory& mem_;
  std::function<void()> raise_irq_;
  std::vector<Virtqueue> queues_;
  uint32_t status_ = 0;
  uint32_t isr_ = 0;
  uint32_t device_features_sel_ = 0;
  uint32_t driver_features_sel_ = 0;
  uint64_t driver_features_ = 0;
  uint32_t queue_sel_ = 0;
  uint32_t config_generation_ = 0;
  std::string broken_reason_;
};

}  // namespace hvrun::vmm
