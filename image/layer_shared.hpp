// What image/layer.cpp (unpacking) and image/layer_tar.cpp (packing)
// share: libarchive handles, its error text, the free-space guard. Private
// to image/.
#pragma once
#include <archive.h>
#include <archive_entry.h>
#include <sys/statvfs.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>

#include "util/error.hpp"
#include "util/units.hpp"

namespace hvrun::image::layer_detail {

struct ArchiveReadFree {
  void operator()(archive* a) const { archive_read_free(a); }
};
struct ArchiveWriteFree {
  void operator()(archive* a) const { archive_write_free(a); }
};
struct EntryFree {
  void operator()(archive_entry* e) const { archive_entry_free(e); }
};
using ReadArchive = std::unique_ptr<archive, ArchiveReadFree>;
using WriteArchive = std::unique_ptr<archive, ArchiveWriteFree>;
using Entry = std::unique_ptr<archive_entry, EntryFree>;

inline std::string arch_err(archive* a) {
  const char* s = archive_error_string(a);
  return s ? s : "unknown archive error";
}

// Refuses writes that would leave a file system with less than `reserve`
// bytes free. statvfs runs when the bytes announced since the last look
// pass what that look allowed (at most 16 MiB), so others' writes are seen.
class FreeSpaceGuard {
 public:
  FreeSpaceGuard(int fd, uint64_t reserve, std::string what) : fd_(fd), reserve_(reserve), what_(std::move(what)) {}
  // About to write `bytes` for `item`; throws "<what>: not enough free
  // space ..." when that would cross the reserve.
  void need(uint64_t bytes, const std::string& item) {
    if (reserve_ == 0) return;
    if (bytes <= allowed_) {
      allowed_ -= bytes;
      return;
    }
    struct statvfs fs {};
    if (::fstatvfs(fd_, &fs) < 0) throw_sys("statvfs", what_);
    uint64_t avail = uint64_t(fs.f_bavail) * fs.f_frsize;
    if (avail < reserve_ || avail - reserve_ < bytes)
      throw Error(what_ + ": not enough free space to unpack '" + item + "': " + human_size(avail) +
                  " free, and imports keep " + std::to_string(reserve_) +
                  " bytes free (set HVRUN_MIN_FREE_SPACE to change it)");
    allowed_ = std::min<uint64_t>(avail - reserve_ - bytes, 16ull << 20);
  }

 private:
  int fd_;
  uint64_t reserve_;
  std::string what_;
  uint64_t allowed_ = 0;  // bytes that may still be written before looking again
};

// Metadata an entry costs on disk beyond its data (a guess: one block).
inline constexpr uint64_t kEntryOverhead = 4096;

}  // namespace hvrun::image::layer_detail
