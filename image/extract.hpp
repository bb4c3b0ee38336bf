// The entries of a tar unpacked into a directory so that nothing outside
// it is ever written (image/layer.hpp says how: openat2 RESOLVE_IN_ROOT,
// hard links inside, device nodes skipped, sizes capped, whiteouts). The
// part of layer extraction without compressions or digests, so that
// guest-init (static, in a microVM) links it alone for docker cp.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "util/fd.hpp"

struct archive;
struct archive_entry;

namespace hvrun::image {

inline constexpr uint64_t kDefaultMaxLayerSize = 64ull << 30;  // 64 GiB

struct ExtractOptions {
  uint64_t max_size = kDefaultMaxLayerSize;
  bool whiteouts = true;  // interpret .wh.* names (off for outer image tars)
  // Image-wide cap: the image's other layers already take image_size_before
  // of max_image_size (sums of regular files' apparent sizes).
  uint64_t max_image_size = UINT64_MAX;
  uint64_t image_size_before = 0;
  // Bytes the destination's file system must keep free: writing stops with
  // an error before it would have less.
  uint64_t min_free_space = 0;
  // When >= 0, the layer as it should be kept for distribution is written
  // here on the way (one pass): the bytes as read when they are a plain,
  // gzip or zstd tar (the OCI layer media types), else the decompressed tar.
  int keep_fd = -1;
  // docker cp: the destination directory itself stays as it is (an entry
  // for the archive's root is ignored), and an owner >= 0 is every entry's
  // instead of the archive's (Docker gives copied files the container's root).
  bool keep_root = false;
  int64_t owner_uid = -1, owner_gid = -1;
  // docker cp's noOverwriteDirNonDir: a directory is never replaced by a
  // non-directory nor the other way round (an Error instead).
  bool no_dir_swap = false;
};

class TarExtractor {
 public:
  // Unpacks into the directory `root`; `name` names the archive in errors.
  TarExtractor(int root, std::string name, const ExtractOptions& opt);
  ~TarExtractor();
  TarExtractor(const TarExtractor&) = delete;
  TarExtractor& operator=(const TarExtractor&) = delete;
  // The entry libarchive just read (its data is read from `a`).
  void entry(archive* a, archive_entry* e);
  // Sets directories' times (after everything inside them was made).
  void finish();
  uint64_t size() const;             // sum of regular files' apparent sizes
  uint64_t dropped_devices() const;  // device nodes skipped

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

// docker cp's unpacking, on the host and in a microVM's guest-init alike:
// no whiteouts, the destination directory itself kept, every entry owned by
// the container's root (`root_id`: 0, or the user namespace's base).
inline ExtractOptions cp_extract_options(uint32_t root_id, bool no_dir_swap) {
  ExtractOptions o;
  o.whiteouts = false;
  o.keep_root = true;
  o.no_dir_swap = no_dir_swap;
  o.owner_uid = o.owner_gid = root_id;
  return o;
}

// An uncompressed tar read from src_fd to its end, unpacked into
// dest_dirfd (docker cp's archives); returns the regular files' bytes.
// Throws Error naming `name`.
uint64_t extract_plain_tar(int src_fd, const std::string& name, int dest_dirfd, const ExtractOptions& opt);

// openat2(dirfd, rel, flags, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS).
UniqueFd open_in_root(int dirfd, const std::string& rel, int flags);

}  // namespace hvrun::image
