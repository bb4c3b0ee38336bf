// run_vm: one KVM VM, one thread per vCPU, and the calling thread as the
// I/O loop (epoll over input fds, ioeventfds and a stop eventfd). The
// Machine is in machine.hpp; its snapshots in vm_snapshot.cpp.
#include "vmm/vm.hpp"

#include "vmm/machine.hpp"

namespace hvrun::vmm {
namespace machine {

std::atomic<int> g_stop_fd{-1};
std::atomic<bool> g_stop_requested{false};
std::atomic<int> g_snapshot_requested{0};
std::atomic<bool> g_snapshot_release{false};

uint64_t now_ns() {
  timespec ts;
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

int kick_signal() { return SIGRTMIN + 2; }

void install_kick_handler() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction sa{};
    sa.sa_handler = [](int) {};
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;  // no SA_RESTART: KVM_RUN returns EINTR
    ::sigaction(kick_signal(), &sa, nullptr);
  });
}

UniqueFd make_eventfd() {
  int fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (fd < 0) throw_sys("eventfd");
  return UniqueFd(fd);
}

void signal_eventfd(int fd) {
  uint64_t one = 1;
  ssize_t n = ::write(fd, &one, 8);
  (void)n;
}

void drain_eventfd(int fd) {
  uint64_t v;
  ssize_t n = ::read(fd, &v, 8);
  (void)n;
}

std::string hex(uint64_t v) {
  char b[24];
  std::snprintf(b, sizeof b, "0x%" PRIx64, v);
  return b;
}

Machine::Machine(const VmConfig& cfg, const snapshot::Reader* snap)
    : cfg_(cfg),
      vm_(kvm_),
      mem_([&] {
        if (cfg.mem_bytes < (16ull << 20) || cfg.mem_bytes > kMaxMemBytes)
          throw Error("guest memory must be between 16 MiB and 3 GiB, not " + std::to_string(cfg.mem_bytes >> 20) + " MiB");
        if (cfg.vcpus == 0 || cfg.vcpus > 64) throw Error("vCPU count must be 1-64, not " + std::to_string(cfg.vcpus));
        return GuestMemory::allocate((cfg.mem_bytes + 0xfff) & ~0xfffull);
      }()),
      serial_(cfg.serial_out_fd, [this] { signal_eventfd(serial_irq_.get()); }, [this] { signal_eventfd(wake_fd_.get()); }) {
  install_kick_handler();
  vm_.set_tss_addr(kTssAddr);
  vm_.create_irqchip();
  if (snap) {
    // Guest memory straight from the file, copy-on-write: clones of one
    // snapshot share its page cache; only what a clone writes is its own.
    const snapshot::Section* m = snap->memory();
    if (!m || m->length != mem_.size())
      throw Error("snapshot " + cfg.restore_from + ": its memory section is not the VM's " + std::to_string(mem_.size() >> 20) + " MiB");
    ::fstat(snap->fd(), &restored_from_);
    if (!mem_.map_file(0, snap->fd(), m->offset, m->length)) {
      for (uint64_t done = 0; done < m->length;) {
        ssize_t n = ::pread(snap->fd(), mem_.host_base() + done, size_t(std::min<uint64_t>(m->length - done, 1 << 20)), off_t(m->offset + done));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) throw_sys("read the snapshot's memory", cfg.restore_from);
        done += uint64_t(n);
      }
    }
  }
  vm_.set_memory(0, 0, mem_.size(), mem_.host_base());
  vm_.add_irqfd(serial_irq_.get(), kSerialIrq);

  // Virtio devices: disks first, then consoles (see the plan in vm.hpp).
  std::string devices;
  auto add_slot = [&](std::unique_ptr<VirtioDevice> dev) {
    const size_t i = slots_.size();
    const uint64_t base = kVirtioBase + i * kVirtioStride;
    const uint32_t irq = kVirtioFirstIrq + static_cast<uint32_t>(i);
    if (irq > 23) throw Error("too many virtio devices (at most " + std::to_string(24 - kVirtioFirstIrq) + ")");
    VirtioSlot s;
    s.irq_fd = make_eventfd();
    vm_.add_irqfd(s.irq_fd.get(), irq);
    const unsigned nq = dev->num_queues();
    int irq_fd = s.irq_fd.get();
    s.transport = std::make_unique<MmioTransport>(std::move(dev), mem_, [irq_fd] { signal_eventfd(irq_fd); });
    try {
      for (unsigned q = 0; q < nq; ++q) {
        UniqueFd fd = make_eventfd();
        vm_.add_ioeventfd(fd.get(), base + mmio::kQueueNotify, 4, q);
        s.notify_fds.push_back(std::move(fd));
      }
    } catch (const Error&) {
      s.notify_fds.clear();  // fall back to MMIO exits for QueueNotify
    }
    slots_.push_back(std::move(s));
    char buf[64];
    std::snprintf(buf, sizeof buf, " virtio_mmio.device=4K@0x%" PRIx64 ":%u", base, irq);
    devices += buf;
  };
  for (const auto& d : cfg.disks) add_slot(std::make_unique<VirtioBlk>(d.path, d.readonly));
  for (const auto& c : cfg.consoles) {
    auto con = std::make_unique<VirtioConsole>(c.in_fd, c.out_fd);
    VirtioConsole* p = con.get();
    add_slot(std::move(con));
    slots_.back().console = p;
    slots_.back().in_fd = c.in_fd;
  }
  for (const auto& n : cfg.nics) {
    unsigned char mac[6];
    if (!parse_mac(n.mac, mac)) throw Error("network card: bad MAC address '" + n.mac + "' (want 02:xx:xx:xx:xx:xx)");
    if (mac[0] & 1) throw Error("network card: MAC address " + n.mac + " is a multicast address");
    if (n.tap_fd < 0) throw Error("network card " + n.mac + ": no tap fd");
    auto net = std::make_unique<VirtioNet>(n.tap_fd, mac);
    VirtioNet* p = net.get();
    add_slot(std::move(net));
    slots_.back().net = p;
    slots_.back().in_fd = n.tap_fd;
  }

  for (const auto& s : cfg.shares) {
    std::function<void()> enter_worker;
    if (cfg.enter_thread) enter_worker = [hook = cfg.enter_thread] { hook(ThreadRole::P9Worker); };
    auto share = std::make_unique<Virtio9p>(s.path, s.tag, s.readonly, std::move(enter_worker));
    Virtio9p* p = share.get();
    add_slot(std::move(share));
    slots_.back().p9 = p;
    slots_.back().in_fd = p->completion_fd();
  }

  HVRUN_DEBUG("vmm", "devices: serial ttyS0, i8042, ", cfg.disks.size(), " virtio-blk, ", cfg.consoles.size(),
              " virtio-console, ", cfg.nics.size(), " virtio-net, ", cfg.shares.size(), " virtio-9p;", devices);
  const uint64_t t_load = now_ns();
  BootEntry entry{};
  if (!snap) {
    entry = cfg.raw_kernel ? load_raw(mem_, cfg.kernel) : load_linux(mem_, cfg.kernel, cfg.initrd, cfg.cmdline + I8042::kLinuxParams + devices);
    load_ns_ = now_ns() - t_load;
    write_mptable(mem_, cfg.vcpus);
  }
  const CpuidTable cpuid = kvm_.supported_cpuid();
  CpuidExtras extras;
  extras.tsc_deadline = kvm_.has_cap(KVM_CAP_TSC_DEADLINE_TIMER);
  for (unsigned i = 0; i < cfg.vcpus; ++i) {
    auto v = std::make_unique<Vcpu>(kvm_, vm_, i);
    v->set_cpuid(cpuid_for_vcpu(cpuid, i, cfg.vcpus, extras));
    try {
      v->set_msrs({{0x2ff, 0x806}});  // MTRRdefType: enabled, write-back default
    } catch (const Error&) {
    }
    if (i == 0 && !snap) setup_boot_vcpu(*v, mem_, entry);  // APs wait for INIT/SIPI in the in-kernel LAPIC
    vcpus_.push_back(std::move(v));
  }
  if (snap) restore(*snap);
  if (!cfg.snapshot_path.empty() || cfg.snapshot_fd >= 0) {
    // Now, before a jail: the I/O loop that writes a snapshot opens no files.
    msrs_ = saveable_msrs(kvm_);
    origin_ = snapshot::Origin::here();
  }
  setup_ns_ = now_ns() - t0_;
  if (snap) restore_ns_ = setup_ns_;
  HVRUN_DEBUG("vmm", "kernel ", cfg.kernel, cfg.initrd.empty() ? "" : " and initrd " + cfg.initrd, " loaded in ", log::ms(load_ns_),
              "; ", cfg.vcpus, " vCPU(s), ", cfg.mem_bytes >> 20, " MiB; setup took ", log::ms(setup_ns_));
}

Machine::~Machine() {
  {
    std::lock_guard lock(pause_mu_);
    stopping_ = true;
  }
  pause_cv_.notify_all();
  for (size_t i = 0; i < threads_.size(); ++i) {
    vcpus_[i]->run_struct()->immediate_exit = 1;
    if (threads_[i].joinable()) ::pthread_kill(threads_[i].native_handle(), kick_signal());
  }
  for (auto& t : threads_)
    if (t.joinable()) t.join();
  int expected = stop_fd_.get();
  g_stop_fd.compare_exchange_strong(expected, -1);
}

void Machine::finish(VmResult::Reason r, std::string detail) {
  {
    std::lock_guard lock(result_mu_);
    if (!result_) {
      VmResult res;
      res.reason = r;
      res.detail = std::move(detail);
      result_ = std::move(res);
    }
  }
  {
    std::lock_guard lock(pause_mu_);  // a parked vCPU or a snapshot waiting for them sees it at once
    stopping_ = true;
  }
  pause_cv_.notify_all();
  signal_eventfd(stop_fd_.get());
}

void Machine::handle_pio(Vcpu& v, kvm_run* run) {
  (void)v;
  uint8_t* data = reinterpret_cast<uint8_t*>(run) + run->io.data_offset;
  const uint16_t port = run->io.port;
  const bool out = run->io.direction == KVM_EXIT_IO_OUT;
  if (cfg_.debug) {
    const ExitKind k = port >= kSerialPort && port < kSerialPort + 8 ? kExitSerial
                       : I8042::handles(port)                      ? kExitI8042
                       : CmosRtc::handles(port)                    ? kExitCmos
                                                                   : kExitOtherPio;
    exits_[k].fetch_add(1, std::memory_order_relaxed);
  }
  for (uint32_t c = 0; c < run->io.count; ++c, data += run->io.size) {
    if (port >= kSerialPort && port < kSerialPort + 8) {
      const uint8_t off = static_cast<uint8_t>(port - kSerialPort);
      if (out) serial_.write(off, data[0]);
      else data[0] = serial_.read(off);
      if (!out) std::memset(data + 1, 0, run->io.size - 1);
    } else if (I8042::handles(port)) {
      if (out) {
        if (i8042_.write(port, data[0])) finish(VmResult::Reason::Reset, "i8042 reset");
      } else {
        std::memset(data, 0, run->io.size);
        data[0] = i8042_.read(port);
      }
    } else if (CmosRtc::handles(port)) {
      if (out) {
        rtc_.write(port, data[0]);
      } else {
        std::memset(data, 0, run->io.size);
        data[0] = rtc_.read(port);
      }
    } else if (port == kBootTimerPort && out) {
      uint64_t expected = 0;
      if (boot_ns_.compare_exchange_strong(expected, now_ns() - t0_) && cfg_.debug)
        for (int k = 0; k < kExitKinds; ++k) exits_at_boot_[k] = exits_[k].load(std::memory_order_relaxed);
    } else if (port == kTemplateReadyPort && out) {
      if (cfg_.snapshot_on_guest_request && !template_asked_.exchange(true)) request_snapshot(true);
    } else if (!out) {
      std::memset(data, 0xff, run->io.size);  // PCI 0xcf8-0xcff included: no PCI
    }
  }
}

void Machine::handle_mmio(kvm_run* run) {
  if (cfg_.debug) exits_[kExitMmio].fetch_add(1, std::memory_order_relaxed);
  const uint64_t addr = run->mmio.phys_addr;
  const unsigned len = std::min<unsigned>(run->mmio.len, 8);
  if (addr >= kVirtioBase && addr < kVirtioBase + slots_.size() * kVirtioStride) {
    const size_t i = (addr - kVirtioBase) / kVirtioStride;
    const uint64_t off = (addr - kVirtioBase) % kVirtioStride;
    if (run->mmio.is_write) {
      slots_[i].transport->write(off, run->mmio.data, len);
      // Input interest may have changed (rx buffers added, DRIVER_OK, reset).
      if (off == mmio::kQueueNotify || off == mmio::kStatus) signal_eventfd(wake_fd_.get());
    } else {
      slots_[i].transport->read(off, run->mmio.data, len);
    }
    return;
  }
  if (!run->mmio.is_write) std::memset(run->mmio.data, 0xff, len);
}

bool Machine::handle_exit(unsigned i) {
  Vcpu& v = *vcpus_[i];
  kvm_run* run = v.run_struct();
  auto where = [&] { return cfg_.debug ? " (" + v.dump() + ")" : " at rip=" + hex(v.regs().rip); };
  switch (run->exit_reason) {
    case KVM_EXIT_IO: handle_pio(v, run); return true;
    case KVM_EXIT_MMIO: handle_mmio(run); return true;
    case KVM_EXIT_HLT: finish(VmResult::Reason::Halt, "vcpu " + std::to_string(i) + " halted" + where()); return false;
    case KVM_EXIT_SHUTDOWN: {
      // On AMD (SVM), KVM resets the vCPU's state on a shutdown intercept:
      // rip 0xfff0 is then the reset vector, not where the guest faulted.
      std::string d = "triple fault (KVM_EXIT_SHUTDOWN) on vcpu " + std::to_string(i) + where();
      if (v.regs().rip == 0xfff0) d += " (the reset vector: this host's KVM reset the vCPU, where it faulted is lost)";
      finish(VmResult::Reason::Reset, d);
      return false;
    }
    case KVM_EXIT_SYSTEM_EVENT:
      if (run->system_event.type == KVM_SYSTEM_EVENT_RESET) finish(VmResult::Reason::Reset, "system reset event");
      else finish(VmResult::Reason::Shutdown, "system event " + std::to_string(run->system_event.type));
      return false;
    case KVM_EXIT_INTERNAL_ERROR: {
      std::string d = "KVM_EXIT_INTERNAL_ERROR suberror " + std::to_string(run->internal.suberror);
      if (run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION) d += " (instruction emulation failed)";
      finish(VmResult::Reason::Error, d + " on vcpu " + std::to_string(i) + where());
      return false;
    }
    case KVM_EXIT_FAIL_ENTRY:
      finish(VmResult::Reason::Error, "KVM_EXIT_FAIL_ENTRY hardware reason " + hex(run->fail_entry.hardware_entry_failure_reason) + " on vcpu " + std::to_string(i) + where());
      return false;
    case KVM_EXIT_INTR: return true;
    default:
      finish(VmResult::Reason::Error, "unexpected KVM exit " + std::to_string(run->exit_reason) + " on vcpu " + std::to_string(i) + where());
      return false;
  }
}

void Machine::vcpu_loop(unsigned i) {
  // Only the kick signal reaches vCPU threads: process signals (SIGINT,
  // SIGTERM...) go to other threads, and a caller that blocks signals for a
  // signalfd cannot leave a vCPU unkickable.
  sigset_t set;
  sigfillset(&set);
  sigdelset(&set, kick_signal());
  ::pthread_sigmask(SIG_SETMASK, &set, nullptr);
  Vcpu& v = *vcpus_[i];
  kvm_run* run = v.run_struct();
  try {
    if (cfg_.enter_thread) cfg_.enter_thread(ThreadRole::Vcpu);
    while (!stopping_) {
      if (pause_) {
        // Finish the exit in progress first (a string I/O may need more
        // of the VMM): KVM_RUN with immediate_exit returns EINTR once
        // nothing is left for the VMM to do.
        run->immediate_exit = 1;
        const bool exited = v.run();
        run->immediate_exit = 0;
        if (exited) {
          if (!handle_exit(i)) return;
          continue;
        }
        park(i);
        continue;
      }
      if (!v.run()) {
        run->immediate_exit = 0;
        continue;
      }
      if (!handle_exit(i)) return;
    }
  } catch (const std::exception& e) {
    finish(VmResult::Reason::Error, std::string(e.what()) + " on vcpu " + std::to_string(i));
  }
}

void Machine::add_input(Input& in) {
  if (in.fd < 0) return;
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = in.fd;
  if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, in.fd, &ev) == 0) {
    in.armed = true;
  } else if (errno == EPERM) {
    in.always_ready = true;  // regular file or /dev/null: always readable
  } else {
    throw_sys("epoll_ctl add input fd", std::to_string(in.fd));
  }
}

// Input interest is added and removed (not EPOLL_CTL_MOD to no events:
// EPOLLHUP would still fire and spin the loop on a hung-up pipe).
void Machine::rearm(Input& in, bool want) {
  if (in.fd < 0 || in.always_ready || in.eof || in.armed == want) return;
  if (want) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = in.fd;
    if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, in.fd, &ev) == 0) in.armed = true;
  } else if (::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, in.fd, nullptr) == 0) {
    in.armed = false;
  }
}

void Machine::serial_input() {
  uint8_t buf[Serial::kFifoSize];
  size_t room = serial_.input_room();
  if (room == 0) return;
  ssize_t n = ::read(serial_in_.fd, buf, room);
  if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
    serial_in_.eof = true;
    if (serial_in_.armed) ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, serial_in_.fd, nullptr);
    serial_in_.armed = false;
    return;
  }
  if (n > 0) serial_.push_input(buf, static_cast<size_t>(n));
}

void Machine::io_loop() {
  epoll_.reset(::epoll_create1(EPOLL_CLOEXEC));
  if (!epoll_) throw_sys("epoll_create1");
  auto add = [&](int fd, uint64_t tag) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = tag;
    check_sys(::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev), "epoll_ctl add");
  };
  // Tags: fds of inputs are looked up by value; eventfds get tagged ids.
  constexpr uint64_t kTagStop = 1ull << 40, kTagWake = 2ull << 40, kTagNotify = 3ull << 40;
  add(stop_fd_.get(), kTagStop);
  add(wake_fd_.get(), kTagWake);
  for (size_t i = 0; i < slots_.size(); ++i)
    for (size_t q = 0; q < slots_[i].notify_fds.size(); ++q) add(slots_[i].notify_fds[q].get(), kTagNotify | (i << 16) | q);
  serial_in_.fd = cfg_.serial_in_fd;
  add_input(serial_in_);
  console_in_.resize(slots_.size());
  for (size_t i = 0; i < slots_.size(); ++i) {
    console_in_[i].fd = slots_[i].in_fd;
    add_input(console_in_[i]);
  }

  epoll_event evs[16];
  while (!stopping_) {
    // Input interest follows buffer space: serial FIFO room, console rx buffers.
    bool ready_now = false;
    const bool serial_room = serial_.input_room() > 0;
    rearm(serial_in_, serial_room);
    if (serial_in_.always_ready && !serial_in_.eof && serial_room) ready_now = true;
    for (size_t i = 0; i < slots_.size(); ++i) {
      if (slots_[i].p9) {  // replies of the 9p worker: always wanted
        rearm(console_in_[i], true);
        continue;
      }
      if (slots_[i].net) {  // the tap: polled only while the guest has receive buffers
        rearm(console_in_[i], slots_[i].net->wants_input() && slots_[i].transport->driver_ok());
        continue;
      }
      if (!slots_[i].console) continue;
      const bool want = slots_[i].console->wants_input() && slots_[i].transport->driver_ok();
      rearm(console_in_[i], want);
      if (slots_[i].console->input_eof()) console_in_[i].eof = true;
      if (console_in_[i].always_ready && want) ready_now = true;
    }
    int n = ::epoll_wait(epoll_.get(), evs, 16, ready_now ? 0 : -1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw_sys("epoll_wait");
    if (serial_in_.always_ready && !serial_in_.eof && serial_.input_room() > 0) serial_input();
    for (size_t i = 0; i < slots_.size(); ++i)
      if (console_in_[i].always_ready && slots_[i].console && slots_[i].console->wants_input()) slots_[i].transport->kick(0);
    for (int k = 0; k < n; ++k) {
      const uint64_t tag = evs[k].data.u64;
      if (tag == kTagStop) {
        drain_eventfd(stop_fd_.get());
        if (const int req = g_snapshot_requested.exchange(0); req) {
          if (stopping_) note("snapshot failed: the VM is ending");
          else take_snapshot(req == 2, req == 3);
        }
        // A VM stopped by its snapshot handles nothing more of this batch:
        // what the guest did after it is not the snapshotted VM's.
        if (stopping_) break;
        if (g_stop_requested.exchange(false)) finish(VmResult::Reason::Shutdown, "stop requested");
      } else if (tag == kTagWake) {
        drain_eventfd(wake_fd_.get());
      } else if ((tag & (0xffull << 40)) == kTagNotify) {
        const size_t slot = (tag >> 16) & 0xffff, q = tag & 0xffff;
        drain_eventfd(slots_[slot].notify_fds[q].get());
        slots_[slot].transport->notify(static_cast<unsigned>(q));
      } else {
        const int fd = evs[k].data.fd;
        if (fd == serial_in_.fd) serial_input();
        for (size_t i = 0; i < slots_.size(); ++i)
          if (fd == console_in_[i].fd && (slots_[i].console || slots_[i].net || slots_[i].p9)) {
            if (slots_[i].p9) drain_eventfd(fd);  // level-triggered: cleared here, whatever the transport does
            slots_[i].transport->kick(0);
          }
      }
    }
  }
}

VmResult Machine::run() {
  int expected = -1;
  g_stop_fd.compare_exchange_strong(expected, stop_fd_.get());
  g_stop_requested = false;
  // A snapshot asked for while the VM was being set up (or restored) is
  // taken as soon as the I/O loop runs.
  if (g_snapshot_requested) signal_eventfd(stop_fd_.get());
  if (cfg_.debug)
    std::fprintf(stderr, "hvrun: vmm setup took %.3f ms (loading kernel, initrd: %.3f ms)\n", static_cast<double>(setup_ns_) / 1e6,
                 static_cast<double>(load_ns_) / 1e6);
  bool set_up = true;
  if (cfg_.after_setup) {
    try {
      cfg_.after_setup();
    } catch (const std::exception& e) {
      finish(VmResult::Reason::Error, std::string("jail: ") + e.what());
      set_up = false;
    }
  }
  if (set_up) {
    for (unsigned i = 0; i < vcpus_.size(); ++i) threads_.emplace_back([this, i] { vcpu_loop(i); });
    try {
      if (cfg_.enter_thread) cfg_.enter_thread(ThreadRole::IoLoop);
    } catch (const std::exception& e) {
      finish(VmResult::Reason::Error, std::string("jail of the I/O loop: ") + e.what());
      set_up = false;
    }
  }
  try {
    if (set_up) io_loop();
  } catch (const std::exception& e) {
    finish(VmResult::Reason::Error, std::string("I/O loop: ") + e.what());
  }
  {
    std::lock_guard lock(pause_mu_);  // parked vCPUs: see stopping_
    stopping_ = true;
  }
  pause_cv_.notify_all();
  for (size_t i = 0; i < threads_.size(); ++i) {
    vcpus_[i]->run_struct()->immediate_exit = 1;
    ::pthread_kill(threads_[i].native_handle(), kick_signal());
  }
  for (auto& t : threads_) t.join();
  threads_.clear();
  VmResult r;
  {
    std::lock_guard lock(result_mu_);
    if (result_) r = *result_;
  }
  if (cfg_.debug && r.reason == VmResult::Reason::Shutdown)  // where was it when stopped?
    for (auto& v : vcpus_) r.detail += "; " + v->dump();
  r.boot_ns = boot_ns_;
  if (cfg_.debug) {
    auto line = [&](const char* when, const uint64_t* n) {
      std::fprintf(stderr, "hvrun: vm exits to the VMM %s: serial %" PRIu64 ", i8042 %" PRIu64 ", cmos %" PRIu64 ", other port %" PRIu64 ", mmio %" PRIu64 "\n",
                   when, n[kExitSerial], n[kExitI8042], n[kExitCmos], n[kExitOtherPio], n[kExitMmio]);
    };
    uint64_t all[kExitKinds];
    for (int k = 0; k < kExitKinds; ++k) all[k] = exits_[k].load();
    if (boot_ns_) line("up to the boot timer", exits_at_boot_);
    line("in all", all);
  }
  r.setup_ns = setup_ns_;
  r.load_ns = load_ns_;
  r.restore_ns = restore_ns_;
  {
    std::lock_guard lock(result_mu_);
    r.notes = notes_;
  }
  for (size_t i = 0; i < slots_.size(); ++i)
    if (slots_[i].transport->broken()) r.broken_devices.push_back("virtio slot " + std::to_string(i) + ": " + slots_[i].transport->broken_reason());
  g_snapshot_requested = 0;  // not for the next VM of this process
  return r;
}

}  // namespace machine

using machine::Machine;
using namespace machine;

const char* thread_role_name(ThreadRole r) {
  switch (r) {
    case ThreadRole::Vcpu: return "vcpu";
    case ThreadRole::IoLoop: return "io";
    case ThreadRole::P9Worker: return "p9";
    case ThreadRole::Relay: return "relay";
  }
  return "?";
}

// The user's own inputs are checked before /dev/kvm is opened, so that a
// mistyped kernel or disk path is what they hear about, on any host.
static void check_inputs(const VmConfig& cfg) {
  auto must_open = [](const std::string& path, int flags, const std::string& what) {
    UniqueFd fd(::open(path.c_str(), flags | O_CLOEXEC));
    if (!fd) throw_sys("open " + what, path);
    struct stat st{};
    check_sys(::fstat(fd.get(), &st), "stat " + what, path);
    if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) throw Error(what + " " + path + ": not a regular file");
  };
  if (cfg.restore_from.empty()) {
    if (cfg.kernel.empty()) throw Error("no kernel given");
    must_open(cfg.kernel, O_RDONLY, "kernel");
    if (!cfg.initrd.empty()) must_open(cfg.initrd, O_RDONLY, "initrd");
  }
  for (const auto& d : cfg.disks) must_open(d.path, d.readonly ? O_RDONLY : O_RDWR, "disk");
}

VmResult run_vm(const VmConfig& config) {
  check_inputs(config);
  if (config.restore_from.empty()) {
    Machine m(config, nullptr);
    return m.run();
  }
  // A snapshot is checked whole (origin, header, every state section's
  // CRC) before anything of it is used; the VM takes its shape from it.
  VmConfig cfg = config;
  if (!cfg.restore_snapshot) open_restore_snapshot(cfg);
  const snapshot::Reader& snap = *cfg.restore_snapshot;
  const Shape shape = read_shape(snap, cfg.restore_from);
  // The slots in the order the Machine makes them (vm.hpp): told here,
  // before /dev/kvm is opened, so that any host says what is wrong.
  std::vector<uint32_t> here;
  here.insert(here.end(), config.disks.size(), 2);
  here.insert(here.end(), config.consoles.size(), 3);
  here.insert(here.end(), config.nics.size(), 1);
  here.insert(here.end(), config.shares.size(), 9);
  if (here != shape.devices)
    throw Error("snapshot " + config.restore_from + " is of a VM with devices (" + shape_devices(shape.devices) +
                "); this one has (" + shape_devices(here) + ")");
  Machine m(cfg, &snap);
  return m.run();
}

void request_stop() {
  g_stop_requested = true;
  int fd = g_stop_fd.load();
  if (fd >= 0) signal_eventfd(fd);
}

}  // namespace hvrun::vmm
