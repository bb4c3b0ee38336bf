// Snapshots of a running microVM (vm.hpp: request_snapshot, restore_from):
// the vCPUs parked and saved by their own threads, the devices quiesced,
// everything written with snapshot_file.hpp; and a restore into a fresh
// Machine. docs/architecture.md, "Snapshots".
#include <sys/stat.h>
#include <unistd.h>

#include "vmm/machine.hpp"

namespace hvrun::vmm {
namespace machine {

constexpr char kShapeTag[4] = {'C', 'O', 'N', 'F'};

std::string encode_shape(const Shape& s) {
  StateOut o(kShapeTag, 1);
  o.u64(s.mem_bytes);
  o.u32(s.vcpus);
  o.u32(uint32_t(s.devices.size()));
  for (uint32_t d : s.devices) o.u32(d);
  return o.take();
}

Shape decode_shape(std::string_view blob) {
  StateIn in(blob, kShapeTag, 1, "VM configuration");
  Shape s;
  s.mem_bytes = in.u64("memory size");
  s.vcpus = in.u32("vCPU count");
  const uint32_t n = in.u32("device count");
  if (n > 64) in.fail(std::to_string(n) + " devices");
  for (uint32_t i = 0; i < n; ++i) s.devices.push_back(in.u32("device type"));
  in.end();
  return s;
}

Shape read_shape(const snapshot::Reader& snap, const std::string& path) {
  const snapshot::Section* conf = snap.find(snapshot::SectionType::Config);
  if (!conf) throw Error("snapshot " + path + " has no VM configuration");
  return decode_shape(snap.read(*conf));
}

const char* virtio_name(uint32_t id) {
  switch (id) {
    case 1: return "net";
    case 2: return "blk";
    case 3: return "console";
    case 9: return "9p";
    default: return "?";
  }
}

std::string shape_devices(const std::vector<uint32_t>& ids) {
  std::string s;
  for (uint32_t id : ids) s += (s.empty() ? "" : ", ") + std::string(virtio_name(id));
  return s.empty() ? "none" : s;
}

// A vCPU asked to stop for a snapshot: its state is saved by this thread
// (the one that runs it), then it waits until the snapshot is written.
void Machine::park(unsigned i) {
  std::unique_lock lock(pause_mu_);
  try {
    vcpu_blobs_[i] = encode_vcpu_state(save_vcpu(*vcpus_[i], msrs_));
  } catch (const std::exception& e) {
    vcpu_errors_[i] = "vCPU " + std::to_string(i) + ": " + e.what();
  }
  ++parked_;
  pause_cv_.notify_all();
  // Until this pause ends: a next one (a new generation) may begin before
  // this thread wakes, and it must park again for that one.
  const uint64_t gen = pause_gen_;
  pause_cv_.wait(lock, [&] { return pause_gen_ != gen || stopping_; });
}

void Machine::note(std::string line) {
  // A snapshot's outcome goes to whoever asked for it (the done fd) when
  // one listens; everything else, and that without one, to stderr.
  if (cfg_.snapshot_done_fd >= 0 && line.rfind("snapshot ", 0) == 0) (void)write_all(cfg_.snapshot_done_fd, line + "\n");
  else std::fprintf(stderr, "hvrun: %s\n", line.c_str());
  std::lock_guard lock(result_mu_);
  notes_.push_back(std::move(line));
}

void Machine::take_snapshot(bool then_stop, bool hold) {
  if (cfg_.snapshot_path.empty() && cfg_.snapshot_fd < 0) {
    note("snapshot failed: this VM has no snapshot file");
    return;
  }
  const uint64_t t = now_ns();
  {
    std::lock_guard lock(pause_mu_);
    vcpu_blobs_.assign(vcpus_.size(), {});
    vcpu_errors_.assign(vcpus_.size(), {});
    parked_ = 0;
    pause_ = true;
  }
  for (size_t i = 0; i < threads_.size(); ++i) {
    vcpus_[i]->run_struct()->immediate_exit = 1;
    ::pthread_kill(threads_[i].native_handle(), kick_signal());
  }
  std::string failed;
  {
    std::unique_lock lock(pause_mu_);
    if (!pause_cv_.wait_for(lock, std::chrono::seconds(10), [&] { return parked_ == vcpus_.size() || stopping_; }))
      failed = "the vCPUs did not stop within 10 s";
    else if (stopping_)
      failed = "the VM ended meanwhile";
    for (const auto& e : vcpu_errors_)
      if (failed.empty() && !e.empty()) failed = e;
  }
  if (failed.empty()) {
    try {
      write_snapshot();
    } catch (const std::exception& e) {
      failed = e.what();
    }
  }
  if (failed.empty()) {
    char line[512];
    std::snprintf(line, sizeof line, "snapshot written to %s in %.1f ms (%" PRIu64 " MiB of memory)%s", snapshot_name().c_str(),
                  double(now_ns() - t) / 1e6, mem_.size() >> 20,
                  then_stop ? "; the VM stops" : hold ? "; the vCPUs wait to be released" : "");
    note(line);
    if (then_stop) finish(VmResult::Reason::Shutdown, "stopped after a snapshot to " + snapshot_name());
    if (hold) hold_until_released();
  } else {
    note("snapshot failed: " + failed + "; the VM goes on");
  }
  {
    std::lock_guard lock(pause_mu_);
    pause_ = false;
    ++pause_gen_;
  }
  pause_cv_.notify_all();
}

void Machine::hold_until_released() {
  const uint64_t until = now_ns() + 60'000'000'000ull;
  while (!g_snapshot_release.load() && !g_stop_requested.load() && !stopping_) {
    if (now_ns() > until) {
      note("snapshot hold: not released within 60 s; the VM goes on");
      break;
    }
    ::usleep(2000);
  }
  g_snapshot_release = false;
}

// With every vCPU parked and its state saved: the devices' in-flight
// requests finish, then everything goes to the file.
void Machine::write_snapshot() {
  // Notifications the guest sent before its vCPUs stopped but the I/O loop
  // has not handled yet (an ioeventfd that fired in the same epoll batch as
  // the snapshot request, or after it): handled now, so that the queues
  // are saved with those requests done. Otherwise the snapshotted VM would
  // emit them afterwards (a line in its log) and every clone again.
  for (auto& slot : slots_)
    for (size_t q = 0; q < slot.notify_fds.size(); ++q) {
      uint64_t pending = 0;
      if (::read(slot.notify_fds[q].get(), &pending, sizeof pending) == ssize_t(sizeof pending) && pending &&
          !slot.transport->broken())
        slot.transport->notify(unsigned(q));
    }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  for (;;) {
    bool busy = false;
    for (size_t i = 0; i < slots_.size(); ++i) {
      // (A broken device's requests are void: only a reset revives it.)
      if (slots_[i].transport->broken() || !slots_[i].transport->device().busy()) continue;
      busy = true;
      if (slots_[i].p9) {
        drain_eventfd(slots_[i].in_fd);
        slots_[i].transport->kick(0);
      }
    }
    if (!busy) break;
    if (std::chrono::steady_clock::now() > deadline) throw Error("a device still had requests in progress after 10 s");
    ::usleep(1000);
  }
  std::optional<snapshot::Writer> writer;
  if (cfg_.snapshot_fd >= 0 && restored_from_.st_ino) {
    // Guest memory pages not yet written are read from the restored file:
    // emptying it to write a new snapshot would zero them under the guest.
    struct stat st{};
    if (::fstat(cfg_.snapshot_fd, &st) == 0 && st.st_dev == restored_from_.st_dev && st.st_ino == restored_from_.st_ino)
      throw Error("the snapshot file is the one this VM was restored from and maps its memory from: give a new file");
  }
  if (cfg_.snapshot_fd >= 0) writer.emplace(cfg_.snapshot_fd, snapshot_name(), origin_);
  else writer.emplace(cfg_.snapshot_path, origin_);
  snapshot::Writer& w = *writer;
  Shape shape;
  shape.mem_bytes = mem_.size();
  shape.vcpus = uint32_t(vcpus_.size());
  for (const auto& s : slots_) shape.devices.push_back(s.transport->device().device_id());
  w.add(snapshot::SectionType::Config, 0, encode_shape(shape));
  for (size_t i = 0; i < vcpu_blobs_.size(); ++i) w.add(snapshot::SectionType::Vcpu, uint32_t(i), vcpu_blobs_[i]);
  w.add(snapshot::SectionType::IrqChip, 0, encode_vm_state(save_vm_state(vm_)));
  w.add(snapshot::SectionType::Device, kSerialSection, serial_.save_state());
  w.add(snapshot::SectionType::Device, kI8042Section, i8042_.save_state());
  w.add(snapshot::SectionType::Device, kRtcSection, rtc_.save_state());
  for (size_t i = 0; i < slots_.size(); ++i) {
    try {
      w.add(snapshot::SectionType::Device, uint32_t(i), slots_[i].transport->save_state());
    } catch (const std::exception& e) {
      throw Error("virtio slot " + std::to_string(i) + " (" + virtio_name(shape.devices[i]) + "): " + e.what());
    }
  }
  w.add_memory(mem_.host_base(), mem_.size());
  w.finish();
}

// The vCPUs exist (CPUID set); memory is the snapshot's.
void Machine::restore(const snapshot::Reader& snap) {
  auto section = [&](snapshot::SectionType t, uint32_t index, const std::string& what) {
    const snapshot::Section* s = snap.find(t, index);
    if (!s) throw Error("snapshot " + cfg_.restore_from + " has no " + what);
    return snap.read(*s);
  };
  // The shape (memory, vCPUs, device kinds per slot) was checked by run_vm.
  // The PIT and the interrupt controllers before the vCPUs' LAPICs; the
  // clock again last, once the vCPUs' TSCs are back.
  const VmState vm = decode_vm_state(section(snapshot::SectionType::IrqChip, 0, "interrupt controller state"));
  restore_vm_state(vm_, vm);
  for (size_t i = 0; i < vcpus_.size(); ++i)
    restore_vcpu(*vcpus_[i], decode_vcpu_state(section(snapshot::SectionType::Vcpu, uint32_t(i), "state of vCPU " + std::to_string(i))));
  serial_.restore_state(section(snapshot::SectionType::Device, kSerialSection, "serial port"));
  i8042_.restore_state(section(snapshot::SectionType::Device, kI8042Section, "i8042"));
  rtc_.restore_state(section(snapshot::SectionType::Device, kRtcSection, "CMOS clock"));
  for (size_t i = 0; i < slots_.size(); ++i) {
    std::string n;
    try {
      n = slots_[i].transport->restore_state(section(snapshot::SectionType::Device, uint32_t(i), "virtio slot " + std::to_string(i)));
    } catch (const std::exception& e) {
      throw Error("snapshot " + cfg_.restore_from + ", virtio slot " + std::to_string(i) + ": " + e.what());
    }
    if (!n.empty()) note(n);
  }
  restore_vm_clock(vm_, vm);
  // What was on its way when the snapshot was taken: a queue notification
  // the I/O loop had not read yet (its eventfd is not carried over), an
  // interrupt KVM had not yet delivered to the interrupt controllers. So
  // every ready queue is looked at once and every pending interrupt raised
  // again (an extra one is harmless: the guest finds nothing new).
  serial_.reraise_pending_irq();
  for (auto& s : slots_) s.transport->resume_after_restore();
}

}  // namespace machine

using namespace machine;

void open_restore_snapshot(VmConfig& cfg) {
  auto snap = std::make_shared<const snapshot::Reader>(snapshot::Reader::open(cfg.restore_from, snapshot::Origin::here()));
  const Shape shape = read_shape(*snap, cfg.restore_from);
  cfg.mem_bytes = shape.mem_bytes;
  cfg.vcpus = shape.vcpus;
  cfg.restore_snapshot = std::move(snap);
}

void request_snapshot(bool then_stop) {
  g_snapshot_requested = then_stop ? 2 : 1;
  int fd = g_stop_fd.load();
  if (fd >= 0) signal_eventfd(fd);
}

void request_held_snapshot() {
  g_snapshot_release = false;
  g_snapshot_requested = 3;
  int fd = g_stop_fd.load();
  if (fd >= 0) signal_eventfd(fd);
}

void release_held_snapshot() { g_snapshot_release = true; }

}  // namespace hvrun::vmm
