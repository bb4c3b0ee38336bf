// The microVM of run_vm (vm.hpp) inside: the Machine and what its two
// source files share. Private to vmm/: vm.cpp (setup, vCPU and I/O loops)
// and vm_snapshot.cpp (pausing the vCPUs, writing and restoring a snapshot).
#pragma once
#include <pthread.h>
#include <signal.h>
#include <sys/epoll.h>
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include "contract/plan.hpp"
#include "util/error.hpp"
#include "util/fd.hpp"
#include "util/log.hpp"
#include "util/netif.hpp"
#include "vmm/boot.hpp"
#include "vmm/guest_memory.hpp"
#include "vmm/i8042.hpp"
#include "vmm/kvm.hpp"
#include "vmm/rtc.hpp"
#include "vmm/serial.hpp"
#include "vmm/snapshot_file.hpp"
#include "vmm/state_codec.hpp"
#include "vmm/vcpu_state.hpp"
#include "vmm/vm_state.hpp"
#include "vmm/virtio_9p.hpp"
#include "vmm/virtio_blk.hpp"
#include "vmm/virtio_console.hpp"
#include "vmm/virtio_mmio.hpp"
#include "vmm/virtio_net.hpp"
#include "vmm/tap.hpp"
#include "vmm/vm.hpp"

namespace hvrun::vmm::machine {

constexpr uint64_t kVirtioBase = 0xd0000000;
constexpr uint64_t kVirtioStride = 0x1000;
constexpr uint32_t kVirtioFirstIrq = 5;
constexpr uint16_t kSerialPort = 0x3f8;
constexpr uint32_t kSerialIrq = 4;
using contract::kBootTimerPort;  // guest-init writes it first thing
using contract::kTemplateReadyPort;

extern std::atomic<int> g_stop_fd;
extern std::atomic<bool> g_stop_requested;
// 1: snapshot and go on, 2: snapshot and stop, 3: snapshot, then hold the
// vCPUs until g_snapshot_release (or 60 s), then go on.
extern std::atomic<int> g_snapshot_requested;
extern std::atomic<bool> g_snapshot_release;

uint64_t now_ns();
int kick_signal();  // SIGRTMIN+2: kicks a vCPU thread out of KVM_RUN
void install_kick_handler();
UniqueFd make_eventfd();
void signal_eventfd(int fd);
void drain_eventfd(int fd);
std::string hex(uint64_t v);

// Snapshots (vm_snapshot.cpp). Device sections of the legacy devices
// (virtio slots use their slot index).
constexpr uint32_t kSerialSection = 1000, kI8042Section = 1001, kRtcSection = 1002;

// The Config section: the VM's shape, which a restore must reproduce.
struct Shape {
  uint64_t mem_bytes = 0;
  uint32_t vcpus = 0;
  std::vector<uint32_t> devices;  // virtio device type per slot
};
std::string encode_shape(const Shape& s);
Shape decode_shape(std::string_view blob);
Shape read_shape(const snapshot::Reader& snap, const std::string& path);
const char* virtio_name(uint32_t id);
std::string shape_devices(const std::vector<uint32_t>& ids);

class Machine {
 public:
  // snap: the snapshot to restore (cfg.restore_from, opened and checked), or null.
  Machine(const VmConfig& cfg, const snapshot::Reader* snap);
  ~Machine();
  VmResult run();

 private:
  struct VirtioSlot {
    std::unique_ptr<MmioTransport> transport;
    UniqueFd irq_fd;
    std::vector<UniqueFd> notify_fds;  // one ioeventfd per queue (empty if unsupported)
    VirtioConsole* console = nullptr;
    VirtioNet* net = nullptr;
    Virtio9p* p9 = nullptr;
    int in_fd = -1;  // console input, tap fd or 9p completion eventfd, polled by the I/O loop
  };
  // An input fd in the I/O loop: epoll-able, or "always ready" (regular files).
  struct Input {
    int fd = -1;
    bool always_ready = false;
    bool armed = false;
    bool eof = false;
  };

  void vcpu_loop(unsigned i);
  // Handles the exit KVM_RUN returned; false when the vCPU's loop ends.
  bool handle_exit(unsigned i);
  void park(unsigned i);
  void take_snapshot(bool then_stop, bool hold = false);
  void write_snapshot();
  // After a held snapshot: the vCPUs stay parked until
  // release_held_snapshot(), a stop request or 60 s (then it says so).
  void hold_until_released();
  void restore(const snapshot::Reader& snap);
  void note(std::string line);
  std::string snapshot_name() const {
    return cfg_.snapshot_fd >= 0 ? "fd " + std::to_string(cfg_.snapshot_fd) : cfg_.snapshot_path;
  }
  void handle_pio(Vcpu& v, kvm_run* run);
  void handle_mmio(kvm_run* run);
  void finish(VmResult::Reason r, std::string detail);
  void add_input(Input& in);
  void rearm(Input& in, bool want);
  void io_loop();
  void serial_input();

  VmConfig cfg_;
  uint64_t t0_ = now_ns();
  Kvm kvm_;
  VmFd vm_;
  GuestMemory mem_;
  UniqueFd epoll_;
  UniqueFd stop_fd_ = make_eventfd();
  UniqueFd wake_fd_ = make_eventfd();
  UniqueFd serial_irq_ = make_eventfd();
  Serial serial_;
  I8042 i8042_;
  CmosRtc rtc_;
  std::vector<VirtioSlot> slots_;
  std::vector<std::unique_ptr<Vcpu>> vcpus_;
  std::vector<std::thread> threads_;
  Input serial_in_;
  std::vector<Input> console_in_;  // parallel to slots_: console input / tap fds (-1 for disks)
  std::atomic<bool> stopping_{false};
  std::atomic<uint64_t> boot_ns_{0};
  std::atomic<bool> template_asked_{false};  // kTemplateReadyPort: one snapshot at most
  uint64_t load_ns_ = 0, setup_ns_ = 0;
  // Exits to this process, for --debug: each costs a round trip through the
  // host kernel (under nested KVM, ~0.1-0.2 ms), so they show where a boot
  // spends VMM time. Up to the boot-timer write and in all.
  enum ExitKind { kExitSerial, kExitI8042, kExitCmos, kExitOtherPio, kExitMmio, kExitKinds };
  std::atomic<uint64_t> exits_[kExitKinds] = {};
  uint64_t exits_at_boot_[kExitKinds] = {};
  std::mutex result_mu_;
  std::optional<VmResult> result_;
  std::vector<std::string> notes_;  // guarded by result_mu_
  uint64_t restore_ns_ = 0;
  // Pausing the vCPUs for a snapshot: each parks in park(), saves its state
  // into vcpu_blobs_ (or the error into vcpu_errors_) and waits.
  std::vector<uint32_t> msrs_;
  snapshot::Origin origin_;
  struct stat restored_from_{};  // the snapshot file memory is mapped from (st_ino 0: none)
  std::mutex pause_mu_;
  std::condition_variable pause_cv_;
  std::atomic<bool> pause_{false};
  unsigned parked_ = 0;     // vCPUs parked in this pause
  uint64_t pause_gen_ = 0;  // bumped when a pause ends
  std::vector<std::string> vcpu_blobs_, vcpu_errors_;
};

}  // namespace hvrun::vmm::machine
