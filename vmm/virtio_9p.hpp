// virtio-9p (device id 9): shares one host directory with the guest as a
// 9P2000.L file system (P9Server does the protocol). Feature bit 0
// VIRTIO_9P_MOUNT_TAG; config space = le16 tag length + tag bytes (no NUL).
// The guest mounts it with
//   mount -t 9p -o trans=virtio,version=9p2000.L,access=client TAG /mnt
//
// One request queue. Each chain: device-readable segments hold one
// T-message, device-writable ones receive the R-message. A request larger
// than msize, a chain without a writable part or with less than 11 bytes of
// it (an Rlerror) breaks the device (VirtioError); a reply that does not fit
// the writable part is replaced by an Rlerror EMSGSIZE.
//
// Reads, writes, fsyncs and directory listings are served in order by a
// worker thread of the device, so that a slow host file operation never
// holds up the VMM's I/O loop, the other devices or the transport's lock.
// process() hands them to the worker (at most kMaxPending at a time; the
// rest wait on the ring) and returns finished ones to the driver; a
// metadata request (walk, getattr, clunk, create...) that finds the worker
// idle is answered at once in process() (no thread hand-off; nothing
// earlier is unanswered then, so the order holds). The worker
// writes each reply into the chain's buffers (checked to lie in guest memory
// when popped) and signals completion_fd(), an eventfd that the I/O loop
// polls, reads and answers with a kick of queue 0. A device reset waits for the request in
// progress, drops the rest and starts a new 9P session.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "util/fd.hpp"
#include "vmm/p9_server.hpp"
#include "vmm/virtio_mmio.hpp"

namespace hvrun::vmm {

constexpr uint64_t kVirtio9pFMountTag = 1ull << 0;

class Virtio9p : public VirtioDevice {
 public:
  static constexpr size_t kMaxTagLen = 31;
  // Requests taken off the ring and not yet answered (each holds a copy of
  // its T-message, up to msize).
  static constexpr size_t kMaxPending = 16;
  // Shares directory `root` (must exist and be a directory, else Error naming
  // it) under mount tag `tag` (1..31 chars [A-Za-z0-9_-], else Error).
  // readonly: every modifying request fails with EROFS.
  // enter_worker (a jail, vmm/jail.hpp): run by the worker thread before it
  // serves its first request; with it, every request goes to the worker
  // (the only thread whose filter lets it open files). If it throws, the
  // VMM process ends (exit 125) rather than serve a guest unjailed.
  Virtio9p(const std::string& root, const std::string& tag, bool readonly, std::function<void()> enter_worker = {});
  ~Virtio9p() override;
  uint32_t device_id() const override { return 9; }
  uint64_t features() const override;
  unsigned num_queues() const override { return 1; }
  void read_config(uint32_t offset, uint8_t* data, unsigned len) override;
  bool process(unsigned queue, std::vector<Virtqueue>& queues, const GuestMemory& mem) override;
  // The driver reset the device: a new session (all fids dropped).
  void reset() override;
  const std::string& tag() const { return tag_; }
  // Snapshots: requests are busy while queued or served. The state is the
  // mount tag and the 9p session: msize and every fid by its path below
  // the share, reopened on restore as it was opened (P9Server::save_state);
  // the note restore_state() returns names the fids that could not be
  // (a file removed meanwhile) and the byte-range locks let go.
  bool busy() const override;
  std::string save_state() const override;
  std::string restore_state(std::string_view blob) override;
  // Readable (an eventfd) when replies are ready: read it, then kick queue 0.
  int completion_fd() const { return done_fd_.get(); }

 private:
  struct Job {
    uint16_t head = 0;
    uint64_t epoch = 0;
    const GuestMemory* mem = nullptr;
    std::vector<uint8_t> request;
    std::vector<DescSegment> reply_segs;
  };
  struct Done {
    uint16_t head = 0;
    uint32_t len = 0;
    uint64_t epoch = 0;
  };
  void work();
  void serve(Job& job);
  // Serves one request and writes its reply into the chain: the reply's length.
  uint32_t answer(Job& job);

  std::string root_;
  std::string tag_;
  bool readonly_;
  std::unique_ptr<P9Server> server_;
  DescChain chain_;
  UniqueFd done_fd_;
  std::atomic<uint32_t> msize_;
  std::function<void()> enter_worker_;

  mutable std::mutex server_mu_;  // held by the worker while serving, by reset() and by save/restore
  mutable std::mutex mu_;  // guards everything below
  std::condition_variable cv_;
  std::deque<Job> jobs_;
  std::vector<Done> done_;
  size_t pending_ = 0;  // jobs queued or being served
  uint64_t epoch_ = 0;  // bumped by reset(): older jobs are dropped
  bool stop_ = false;
  std::thread worker_;  // last: it starts once everything above exists
};

}  // namespace hvrun::vmm
