#include "vmm/virtio_mmio.hpp"

#include <cstring>

namespace hvrun::vmm {

MmioTransport::MmioTransport(std::unique_ptr<VirtioDevice> dev, const GuestMemory& mem, std::function<void()> raise_irq)
    : dev_(std::move(dev)), mem_(mem), raise_irq_(std::move(raise_irq)), queues_(dev_->num_queues()) {}

uint32_t MmioTransport::status() const {
  std::lock_guard lock(mu_);
  return status_;
}
uint32_t MmioTransport::interrupt_status() const {
  std::lock_guard lock(mu_);
  return isr_;
}
bool MmioTransport::driver_ok() const {
  std::lock_guard lock(mu_);
  return (status_ & kVirtioStatusDriverOk) && !(status_ & kVirtioStatusNeedsReset);
}

void MmioTransport::do_reset() {
  for (auto& q : queues_) q.reset();
  status_ = 0;
  isr_ = 0;
  device_features_sel_ = driver_features_sel_ = queue_sel_ = 0;
  driver_features_ = 0;
  broken_reason_.clear();
  dev_->reset();
}

std::string MmioTransport::broken_reason() const {
  std::lock_guard lock(mu_);
  return broken_reason_;
}

void MmioTransport::mark_broken(const std::string& why) {
  if (status_ & kVirtioStatusNeedsReset) return;
  broken_reason_ = why;
  status_ |= kVirtioStatusNeedsReset;
  isr_ |= 2;  // configuration change
  if (raise_irq_) raise_irq_();
}

Virtqueue* MmioTransport::selected() { return queue_sel_ < queues_.size() ? &queues_[queue_sel_] : nullptr; }

void MmioTransport::read(uint64_t offset, uint8_t* data, unsigned len) {
  std::lock_guard lock(mu_);
  std::memset(data, 0, len);
  if (offset >= mmio::kConfig) {
    if (offset - mmio::kConfig < 0x1000 && len <= 8) dev_->read_config(static_cast<uint32_t>(offset - mmio::kConfig), data, len);
    return;
  }
  if (len != 4 || offset % 4) return;  // registers are 32-bit aligned accesses only
  uint32_t v = read_reg(static_cast<uint32_t>(offset));
  std::memcpy(data, &v, 4);
}

uint32_t MmioTransport::read_reg(uint32_t offset) {
  const uint64_t features = dev_->features() | kVirtioFVersion1;
  Virtqueue* q = selected();
  switch (offset) {
    case mmio::kMagic: return mmio::kMagicValue;
    case mmio::kVersion: return 2;
    case mmio::kDeviceId: return dev_->device_id();
    case mmio::kVendorId: return mmio::kVendor;
    case mmio::kDeviceFeatures:
      return device_features_sel_ == 0 ? static_cast<uint32_t>(features) : device_features_sel_ == 1 ? static_cast<uint32_t>(features >> 32) : 0;
    case mmio::kQueueNumMax: return q ? Virtqueue::kMaxSize : 0;
    case mmio::kQueueReady: return q && q->ready ? 1 : 0;
    case mmio::kInterruptStatus: return isr_;
    case mmio::kStatus: return status_;
    case mmio::kConfigGeneration: return config_generation_;
    default: return 0;
  }
}

void MmioTransport::write(uint64_t offset, const uint8_t* data, unsigned len) {
  std::unique_lock lock(mu_);
  if (offset >= mmio::kConfig) return;  // no writable config fields
  if (len != 4 || offset % 4) return;
  uint32_t v;
  std::memcpy(&v, data, 4);
  if (offset == mmio::kQueueNotify) {
    lock.unlock();
    notify(v);
    return;
  }
  write_reg(static_cast<uint32_t>(offset), v);
}

void MmioTransport::set_status(uint32_t v) {
  if (v == 0) {
    do_reset();
    return;
  }
  if (status_ & kVirtioStatusNeedsReset) {  // only a reset gets out of this
    status_ |= (v & kVirtioStatusFailed);
    return;
  }
  const uint32_t added = v & ~status_;
  if (added & kVirtioStatusFeaturesOk) {
    const uint64_t offered = dev_->features() | kVirtioFVersion1;
    if ((driver_features_ & ~offered) || !(driver_features_ & kVirtioFVersion1)) v &= ~kVirtioStatusFeaturesOk;  // refuse
  }
  if (added & kVirtioStatusDriverOk) {
    const bool indirect = driver_features_ & kVirtioRingFIndirectDesc;
    for (auto& q : queues_) q.indirect_enabled = indirect;
  }
  status_ = v;
  if (added & kVirtioStatusDriverOk) dev_->activate();
}

void MmioTransport::write_reg(uint32_t offset, uint32_t v) {
  Virtqueue* q = selected();
  // Queue layout may only change while the queue is not ready.
  const bool q_writable = q && !q->ready && !(status_ & kVirtioStatusNeedsReset);
  auto set_lo = [](uint64_t& a, uint32_t v) { a = (a & ~0xffffffffull) | v; };
  auto set_hi = [](uint64_t& a, uint32_t v) { a = (a & 0xffffffffull) | (uint64_t{v} << 32); };
  switch (offset) {
    case mmio::kDeviceFeaturesSel: device_features_sel_ = v; break;
    case mmio::kDriverFeaturesSel: driver_features_sel_ = v; break;
    case mmio::kDriverFeatures:
      if (status_ & kVirtioStatusFeaturesOk) break;  // too late
      if (driver_features_sel_ == 0) set_lo(driver_features_, v);
      else if (driver_features_sel_ == 1) set_hi(driver_features_, v);
      break;
    case mmio::kQueueSel: queue_sel_ = v; break;
    case mmio::kQueueNum:
      if (q_writable) q->size = static_cast<uint16_t>(v > 0xffff ? 0 : v);
      break;
    case mmio::kQueueDescLow: if (q_writable) set_lo(q->desc_addr, v); break;
    case mmio::kQueueDescHigh: if (q_writable) set_hi(q->desc_addr, v); break;
    case mmio::kQueueDriverLow: if (q_writable) set_lo(q->avail_addr, v); break;
    case mmio::kQueueDriverHigh: if (q_writable) set_hi(q->avail_addr, v); break;
    case mmio::kQueueDeviceLow: if (q_writable) set_lo(q->used_addr, v); break;
    case mmio::kQueueDeviceHigh: if (q_writable) set_hi(q->used_addr, v); break;
    case mmio::kQueueReady:
      if (!q || (status_ & kVirtioStatusNeedsReset)) break;
      if (v == 1 && !q->ready) {
        try {
          q->validate(mem_);
          q->ready = true;
        } catch (const Error& e) {
          mark_broken(e.what());
        }
      } else if (v == 0) {
        q->ready = false;
      }
      break;
    case mmio::kInterruptAck: isr_ &= ~v; break;
    case mmio::kStatus: set_status(v); break;
    default: break;
  }
}

void MmioTransport::notify(unsigned queue) {
  std::lock_guard lock(mu_);
  run_queue(queue);
}

void MmioTransport::run_queue(unsigned queue) {
  if (!(status_ & kVirtioStatusDriverOk) || (status_ & kVirtioStatusNeedsReset)) return;
  if (queue >= queues_.size() || !queues_[queue].ready) return;
  try {
    if (dev_->process(queue, queues_, mem_) && queues_[queue].wants_interrupt(mem_)) {
      isr_ |= 1;
      if (raise_irq_) raise_irq_();
    }
  } catch (const Error& e) {
    mark_broken(e.what());
  }
}

constexpr char kMmioTag[4] = {'V', 'M', 'I', 'O'};
constexpr uint32_t kKnownStatus = kVirtioStatusAcknowledge | kVirtioStatusDriver | kVirtioStatusDriverOk |
                                  kVirtioStatusFeaturesOk | kVirtioStatusNeedsReset | kVirtioStatusFailed;

std::string MmioTransport::save_state() const {
  std::lock_guard lock(mu_);
  StateOut o(kMmioTag, 1);
  o.u32(dev_->device_id());
  o.u32(status_);
  o.u32(isr_);
  o.u32(device_features_sel_);
  o.u32(driver_features_sel_);
  o.u64(driver_features_);
  o.u32(queue_sel_);
  o.u32(config_generation_);
  o.str(broken_reason_);
  o.u32(static_cast<uint32_t>(queues_.size()));
  for (const auto& q : queues_) q.save(o, status_ & kVirtioStatusNeedsReset);
  o.str(dev_->save_state());
  return o.take();
}

std::string MmioTransport::restore_state(std::string_view blob) {
  StateIn in(blob, kMmioTag, 1, "virtio device");
  if (const uint32_t id = in.u32("device id"); id != dev_->device_id())
    in.fail("it is virtio device type " + std::to_string(id) + ", this slot holds type " + std::to_string(dev_->device_id()));
  const uint32_t status = in.u32("status"), isr = in.u32("interrupt status");
  const uint32_t dev_sel = in.u32("device features select"), drv_sel = in.u32("driver features select");
  const uint64_t features = in.u64("driver features");
  const uint32_t queue_sel = in.u32("queue select"), generation = in.u32("config generation");
  std::string broken = in.str("broken reason", 4096);
  if (status & ~kKnownStatus) in.fail("unknown status bits " + std::to_string(status));
  if (isr > 3) in.fail("interrupt status " + std::to_string(isr));
  const uint64_t offered = dev_->features() | kVirtioFVersion1;
  if (features & ~offered) in.fail("driver features the device does not offer");
  if ((status & kVirtioStatusFeaturesOk) && !(features & kVirtioFVersion1)) in.fail("features accepted without VERSION_1");
  if (in.u32("queue count") != queues_.size()) in.fail("another number of queues than the device has");
  std::vector<Virtqueue> queues(queues_.size());
  for (auto& q : queues) {
    q.restore(in, mem_);
    if (q.indirect_enabled && !(features & kVirtioRingFIndirectDesc)) in.fail("indirect descriptors that were not negotiated");
  }
  const std::string dev_blob = in.str("device state", 1 << 20);
  in.end();
  std::lock_guard lock(mu_);
  std::string note = dev_->restore_state(dev_blob);
  status_ = status;
  isr_ = isr;
  device_features_sel_ = dev_sel;
  driver_features_sel_ = drv_sel;
  driver_features_ = features;
  queue_sel_ = queue_sel;
  config_generation_ = generation;
  broken_reason_ = std::move(broken);
  queues_ = std::move(queues);
  if ((status_ & kVirtioStatusDriverOk) && !(status_ & kVirtioStatusNeedsReset)) dev_->activate();
  return note;
}

void MmioTransport::resume_after_restore() {
  std::lock_guard lock(mu_);
  if (dev_->take_config_change() && (status_ & kVirtioStatusDriverOk)) {
    ++config_generation_;
    isr_ |= 2;  // configuration change
  }
  for (unsigned q = 0; q < queues_.size(); ++q) run_queue(q);  // (returns at once unless DRIVER_OK and ready)
  if (isr_ && raise_irq_) raise_irq_();
}

}  // namespace hvrun::vmm
