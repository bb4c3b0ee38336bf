// virtio-9p (device id 9): shares one host directory with the guest as a
// 9P2000.L file system (P9Server does the protocol). Feature bit 0
// VIRTIO_9P_MOUNT_TAG; config space = le16 tag length + tag bytes (no NUL).
// The guest mounts it with
//   mount -t 9p -o trans=virtio,version=9p2000.L,access=client TAG /mnt
//
// One request queue. Each chain: device-readable segments hold one
// T-message, device-writable ones receive the R-message. A request larger
// than msize or a chain without a writable part breaks the device
// (VirtioError); a reply that does not fit the writable part is replaced
// by an Rlerror EMSGSIZE (VirtioError when even that does not fit).
// Requests are served synchronously in the caller's thread.
#pragma once
#include <string>
#include <vector>

#include "vmm/p9_server.hpp"
#include "vmm/virtio_mmio.hpp"

namespace hvrun::vmm {

constexpr uint64_t kVirtio9pFMountTag = 1ull << 0;

class Virtio9p : public VirtioDevice {
 public:
  static constexpr size_t kMaxTagLen = 31;
  // Shares directory `root` (must exist and be a directory, else Error naming
  // it) under mount tag `tag` (1..31 chars [A-Za-z0-9_-], else Error).
  // readonly: every modifying request fails with EROFS.
  Virtio9p(const std::string& root, const std::string& tag, bool readonly);
  uint32_t device_id() const override { return 9; }
  uint64_t features() const override;
  unsigned num_queues() const override { return 1; }
  void read_config(uint32_t offset, uint8_t* data, unsigned len) override;
  bool process(unsigned queue, std::vector<Virtqueue>& queues, const GuestMemory& mem) override;
  // The driver reset the device: a new session (all fids dropped).
  void reset() override;
  const std::string& tag() const { return tag_; }

 private:
  std::string root_;
  std::string tag_;
  bool readonly_;
  std::unique_ptr<P9Server> server_;
  DescChain chain_;
  std::vector<uint8_t> req_;
};

}  // namespace hvrun::vmm
