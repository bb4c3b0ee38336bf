#include "image/layer.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <set>
#include <memory>
#include <vector>

#include "image/digest.hpp"
#include "image/extract.hpp"
#include "image/layer_shared.hpp"
#include "image/present.hpp"
#include "util/error.hpp"
#include "util/openat2.hpp"
#include "util/fd.hpp"
#include "util/fs.hpp"

namespace hvrun::image {

using namespace layer_detail;

namespace {
// Reads the input file, hashing the bytes as they are (the blob digest).
struct RawSource {
  int fd;
  std::string name;
  Sha256 blob;
  char buf[1 << 16];
  int err = 0;
  int keep_fd = -1;  // the raw bytes go here too while keeping them
  uint64_t kept = 0;
};

// A copy for ExtractOptions::keep_fd; false with errno set when it failed.
bool keep_bytes(int fd, const char* p, size_t n) {
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return false;
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

la_ssize_t raw_read(archive* a, void* client, const void** out) {
  auto* s = static_cast<RawSource*>(client);
  for (;;) {
    ssize_t n = ::read(s->fd, s->buf, sizeof s->buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      s->err = errno;
      archive_set_error(a, errno, "read %s: %s", s->name.c_str(), std::strerror(errno));
      return -1;
    }
    s->blob.update(s->buf, static_cast<size_t>(n));
    if (s->keep_fd >= 0) {
      if (!keep_bytes(s->keep_fd, s->buf, static_cast<size_t>(n))) {
        s->err = errno;
        archive_set_error(a, errno, "keeping the layer blob: %s", std::strerror(errno));
        return -1;
      }
      s->kept += static_cast<uint64_t>(n);
    }
    *out = s->buf;
    return n;
  }
}

// Feeds the decompressed stream of the outer reader to the tar reader,
// hashing it on the way (the diff id).
struct TarSource {
  archive* outer;
  Sha256 diff;
  char buf[1 << 16];
  std::string err;
  int keep_fd = -1;  // the decompressed stream goes here too while keeping it
  uint64_t kept = 0;
};

la_ssize_t tar_read(archive* a, void* client, const void** out) {
  auto* s = static_cast<TarSource*>(client);
  la_ssize_t n = archive_read_data(s->outer, s->buf, sizeof s->buf);
  if (n < 0) {
    s->err = arch_err(s->outer);
    archive_set_error(a, EIO, "%s", s->err.c_str());
    return -1;
  }
  s->diff.update(s->buf, static_cast<size_t>(n));
  if (s->keep_fd >= 0) {
    if (!keep_bytes(s->keep_fd, s->buf, static_cast<size_t>(n))) {
      s->err = std::string("keeping the layer blob: ") + std::strerror(errno);
      archive_set_error(a, EIO, "%s", s->err.c_str());
      return -1;
    }
    s->kept += static_cast<uint64_t>(n);
  }
  *out = s->buf;
  return n;
}

}  // namespace

void support_compressions(archive* a) {
  // Built-in decompressors only: filter_all would also run external
  // programs (lrzip, lzop, grzip...) on untrusted input.
  archive_read_support_filter_gzip(a);
  archive_read_support_filter_bzip2(a);
  archive_read_support_filter_xz(a);
  archive_read_support_filter_lzma(a);
  archive_read_support_filter_zstd(a);
  archive_read_support_filter_lz4(a);
}

ExtractResult extract_tar(int src_fd, const std::string& name, int dest_dirfd, const ExtractOptions& opt) {
  auto raw = std::make_unique<RawSource>();
  raw->fd = src_fd;
  raw->name = name;
  raw->keep_fd = opt.keep_fd;
  ReadArchive outer(archive_read_new());
  if (!outer) throw Error("libarchive: out of memory");
  support_compressions(outer.get());
  archive_read_support_format_raw(outer.get());
  if (archive_read_open(outer.get(), raw.get(), nullptr, raw_read, nullptr) != ARCHIVE_OK)
    throw Error(name + ": " + arch_err(outer.get()));
  archive_entry* oe;
  int r = archive_read_next_header(outer.get(), &oe);
  if (r == ARCHIVE_EOF) throw Error(name + ": empty file, not a tar archive");
  if (r < ARCHIVE_WARN) throw Error(name + ": " + arch_err(outer.get()));

  auto src = std::make_unique<TarSource>();
  src->outer = outer.get();
  std::string kept_type;
  if (opt.keep_fd >= 0) {
    // Plain, gzip and zstd tars are kept as read; any other compression
    // (xz, bzip2, ...) has no OCI media type: the decompressed tar is kept.
    switch (archive_filter_code(outer.get(), 0)) {
      case ARCHIVE_FILTER_NONE: kept_type = kLayerTar; break;
      case ARCHIVE_FILTER_GZIP: kept_type = kLayerTarGzip; break;
      case ARCHIVE_FILTER_ZSTD: kept_type = kLayerTarZstd; break;
      default:
        kept_type = kLayerTar;
        raw->keep_fd = -1;
        if (::ftruncate(opt.keep_fd, 0) < 0 || ::lseek(opt.keep_fd, 0, SEEK_SET) < 0)
          throw_sys("truncate the kept blob of", name);
        src->keep_fd = opt.keep_fd;
    }
  }
  ReadArchive tar(archive_read_new());
  if (!tar) throw Error("libarchive: out of memory");
  archive_read_support_format_tar(tar.get());
  if (archive_read_open(tar.get(), src.get(), nullptr, tar_read, nullptr) != ARCHIVE_OK)
    throw Error(name + ": " + (src->err.empty() ? "not a tar archive (" + arch_err(tar.get()) + ")" : src->err));

  TarExtractor x(dest_dirfd, name, opt);
  size_t entries = 0;
  for (;;) {
    archive_entry* e;
    r = archive_read_next_header(tar.get(), &e);
    if (r == ARCHIVE_EOF) break;
    if (r < ARCHIVE_WARN) {
      std::string why = !src->err.empty() ? src->err : arch_err(tar.get());
      if (entries == 0 && src->err.empty()) why = "not a tar archive (" + why + ")";
      throw Error(name + ": " + why);
    }
    ++entries;
    x.entry(tar.get(), e);
  }
  if (!src->err.empty()) throw Error(name + ": " + src->err);
  // The tar reader stops at the end-of-archive marker: hash the rest of the
  // decompressed stream (padding) and of the raw file too.
  for (;;) {
    la_ssize_t n = archive_read_data(outer.get(), src->buf, sizeof src->buf);
    if (n < 0) throw Error(name + ": " + arch_err(outer.get()));
    if (n == 0) break;
    src->diff.update(src->buf, static_cast<size_t>(n));
    if (src->keep_fd >= 0) {
      if (!keep_bytes(src->keep_fd, src->buf, static_cast<size_t>(n))) throw_sys("keep the layer blob of", name);
      src->kept += static_cast<uint64_t>(n);
    }
  }
  for (;;) {
    ssize_t n = ::read(src_fd, raw->buf, sizeof raw->buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw_sys("read", name);
    if (n == 0) break;
    raw->blob.update(raw->buf, static_cast<size_t>(n));
    if (raw->keep_fd >= 0) {
      if (!keep_bytes(raw->keep_fd, raw->buf, static_cast<size_t>(n))) throw_sys("keep the layer blob of", name);
      raw->kept += static_cast<uint64_t>(n);
    }
  }
  x.finish();
  ExtractResult res;
  res.diff_id = src->diff.hex();
  res.blob_digest = raw->blob.hex();
  res.size = x.size();
  res.dropped_devices = x.dropped_devices();
  if (opt.keep_fd >= 0) {
    res.kept_media_type = kept_type;
    bool raw_kept = raw->keep_fd >= 0;
    res.kept_digest = raw_kept ? res.blob_digest : res.diff_id;
    res.kept_size = raw_kept ? raw->kept : src->kept;
  }
  return res;
}

}  // namespace hvrun::image
