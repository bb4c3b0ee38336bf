#include "vmm/virtio_blk.hpp"

#include "vmm/state_codec.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

namespace hvrun::vmm {

VirtioBlk::VirtioBlk(const std::string& path, bool readonly) : path_(path), readonly_(readonly) {
  fd_.reset(::open(path.c_str(), (readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC));
  if (!fd_) throw_sys("open disk", path);
  struct stat st{};
  check_sys(::fstat(fd_.get(), &st), "stat disk", path);
  if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) throw Error("disk " + path + " is not a regular file or block device");
  uint64_t bytes = static_cast<uint64_t>(st.st_size);
  if (S_ISBLK(st.st_mode)) {
    off_t end = ::lseek(fd_.get(), 0, SEEK_END);
    check_sys(end, "size of disk", path);
    bytes = static_cast<uint64_t>(end);
  }
  capacity_ = bytes / 512;
}

namespace {
constexpr char kBlkTag[4] = {'V', 'B', 'L', 'K'};
}

std::string VirtioBlk::save_state() const {
  StateOut o(kBlkTag, 1);
  o.u64(capacity_);
  return o.take();
}

std::string VirtioBlk::restore_state(std::string_view blob) {
  if (blob.empty()) return {};  // a snapshot from before disks saved their capacity
  StateIn in(blob, kBlkTag, 1, "virtio-blk " + path_);
  const uint64_t was = in.u64("capacity");
  in.end();
  capacity_changed_ = was != capacity_;
  return {};
}

bool VirtioBlk::take_config_change() {
  const bool changed = capacity_changed_;
  capacity_changed_ = false;
  return changed;
}

uint64_t VirtioBlk::features() const {
  return kVirtioBlkFFlush | kVirtioBlkFSegMax | kVirtioRingFIndirectDesc | (readonly_ ? kVirtioBlkFRo : 0);
}

void VirtioBlk::read_config(uint32_t offset, uint8_t* data, unsigned len) {
  // capacity (u64), size_max (u32, unused: 0), seg_max (u32)
  uint8_t cfg[16] = {};
  std::memcpy(cfg, &capacity_, 8);
  std::memcpy(cfg + 12, &kSegMax, 4);
  for (unsigned i = 0; i < len; ++i)
    if (offset + i < sizeof cfg) data[i] = cfg[offset + i];
}

bool VirtioBlk::process(unsigned queue, std::vector<Virtqueue>& queues, const GuestMemory& mem) {
  Virtqueue& q = queues.at(queue);
  bool used = false;
  while (q.pop(mem, chain_)) {
    uint32_t written = 0;
    uint8_t status = handle(chain_, mem, written);
    const DescSegment& st = chain_.segs.back();
    mem.store<uint8_t>(st.addr + st.len - 1, status);
    q.push_used(mem, chain_.head, written + 1);
    used = true;
  }
  return used;
}

// Layout: [header 16 bytes, read-only] [data...] [status byte, writable, last].
uint8_t VirtioBlk::handle(const DescChain& c, const GuestMemory& mem, uint32_t& written) {
  if (c.segs.size() < 2) throw VirtioError("virtio-blk request without header and status");
  const DescSegment& status = c.segs.back();
  if (!status.device_writable || status.len == 0) throw VirtioError("virtio-blk status byte is not in a writable buffer");
  if (c.segs[0].device_writable || c.segs[0].len < 16) throw VirtioError("virtio-blk request header is not a readable 16-byte buffer");
  struct {
    uint32_t type;
    uint32_t reserved;
    uint64_t sector;
  } hdr;
  mem.read(c.segs[0].addr, &hdr, 16);
  // Data: everything between the header and the status byte. (Linux uses
  // separate descriptors; a header or status sharing a buffer with data is
  // not supported and gets IOERR for any data.)
  const size_t first = 1, last = c.segs.size() - 1;  // [first, last)

  switch (hdr.type) {
    case kVirtioBlkTIn:
    case kVirtioBlkTOut: {
      const bool is_write = hdr.type == kVirtioBlkTOut;
      if (is_write && readonly_) return kVirtioBlkSIoErr;
      uint64_t total = 0;
      for (size_t i = first; i < last; ++i) {
        if (c.segs[i].device_writable != !is_write) throw VirtioError("virtio-blk data buffer has the wrong direction");
        total += c.segs[i].len;
      }
      if (total % 512) return kVirtioBlkSIoErr;
      if (hdr.sector > capacity_ || total / 512 > capacity_ - hdr.sector) return kVirtioBlkSIoErr;
      uint64_t off = hdr.sector * 512;
      for (size_t i = first; i < last; ++i) {
        uint8_t* p = mem.translate(c.segs[i].addr, c.segs[i].len);
        size_t done = 0;
        while (done < c.segs[i].len) {
          ssize_t n = is_write ? ::pwrite(fd_.get(), p + done, c.segs[i].len - done, static_cast<off_t>(off + done))
                               : ::pread(fd_.get(), p + done, c.segs[i].len - done, static_cast<off_t>(off + done));
          if (n < 0 && errno == EINTR) continue;
          if (n <= 0) return kVirtioBlkSIoErr;
          done += static_cast<size_t>(n);
        }
        off += c.segs[i].len;
        if (!is_write) written += c.segs[i].len;
      }
      return kVirtioBlkSOk;
    }
    case kVirtioBlkTFlush:
      if (readonly_) return kVirtioBlkSOk;
      return ::fdatasync(fd_.get()) == 0 ? kVirtioBlkSOk : kVirtioBlkSIoErr;
    case kVirtioBlkTGetId: {
      if (last <= first || !c.segs[first].device_writable) return kVirtioBlkSIoErr;
      char id[20] = {};
      std::string base = path_.substr(path_.find_last_of('/') + 1);
      std::memcpy(id, base.data(), std::min(base.size(), sizeof id));
      uint32_t n = std::min<uint32_t>(c.segs[first].len, sizeof id);
      mem.write(c.segs[first].addr, id, n);
      written += n;
      return kVirtioBlkSOk;
    }
    default:
      return kVirtioBlkSUnsupp;
  }
}

}  // namespace hvrun::vmm
