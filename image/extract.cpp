// The hardened unpacking of tar entries into a directory: image layers
// (image/layer.cpp), docker cp (engine/changes.cpp), and, inside a microVM,
// guest-init (docker cp into a running microVM). Plain tar only here; the
// compressions and digests of an image layer are image/layer.cpp's.
#include "image/extract.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <memory>
#include <set>
#include <vector>

#include "image/layer_shared.hpp"
#include "util/error.hpp"
#include "util/fd.hpp"
#include "util/fs.hpp"
#include "util/openat2.hpp"

namespace hvrun::image {

using namespace layer_detail;

namespace {


// Lexically normalised components of an archive path, relative to the
// layer root. Leading '/' and '.' are dropped; ".." that would climb above
// the root is an error.
std::vector<std::string> split_path(const std::string& path, const std::string& archive_name) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i <= path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string::npos) j = path.size();
    std::string c = path.substr(i, j - i);
    i = j + 1;
    if (c.empty() || c == ".") continue;
    if (c == "..") {
      if (out.empty())
        throw Error(archive_name + ": entry '" + path + "' escapes the layer root (\"..\"): refusing hostile archive");
      out.pop_back();
      continue;
    }
    out.push_back(std::move(c));
  }
  return out;
}

std::string join(const std::vector<std::string>& comps, size_t n) {
  std::string s;
  for (size_t k = 0; k < n; ++k) {
    if (k) s += '/';
    s += comps[k];
  }
  return s.empty() ? "." : s;
}

struct Timestamp {
  std::string rel;
  struct timespec ts[2];
};


}  // namespace

class TarExtractor::Impl {
 public:
  Impl(int root, std::string name, const ExtractOptions& opt)
      : root_(root), name_(std::move(name)), opt_(opt), space_(root, opt.min_free_space, name_) {}

  void entry(archive* a, archive_entry* e);
  void finish();
  uint64_t size() const { return size_; }
  uint64_t dropped_devices() const { return dropped_devices_; }

 private:
  UniqueFd open_dir(const std::vector<std::string>& comps, size_t n);
  std::string symlink_in_the_way(const std::vector<std::string>& comps, size_t n);
  void check_caps(uint64_t sz, const std::string& rel);
  void clear_leaf(int pfd, const std::string& leaf, bool keep_dir, const std::string& rel);
  void write_file(archive* a, int fd, int64_t size, const std::string& rel);
  void set_xattrs(int fd, archive_entry* e);

  int root_;
  std::string name_;
  ExtractOptions opt_;
  FreeSpaceGuard space_;
  uint64_t size_ = 0;
  uint64_t dropped_devices_ = 0;
  std::vector<Timestamp> dir_times_;
};

// When comps[0..n) cannot be opened as a directory because a symlink on it
// does not lead to a directory inside the layer: a message naming the first
// such symlink and its target; "" when no symlink is to blame.
std::string TarExtractor::Impl::symlink_in_the_way(const std::vector<std::string>& comps, size_t n) {
  for (size_t i = 1; i <= n; ++i) {
    UniqueFd parent = open_in_root(root_, join(comps, i - 1), O_PATH | O_DIRECTORY);
    if (!parent) return "";
    char target[4096];
    ssize_t len = ::readlinkat(parent.get(), comps[i - 1].c_str(), target, sizeof target - 1);
    if (len < 0) continue;  // not a symlink
    if (open_in_root(root_, join(comps, i), O_PATH | O_DIRECTORY)) continue;  // leads to a directory in the layer
    return name_ + ": refusing to write '" + join(comps, comps.size()) + "' through the symbolic link '" +
           join(comps, i) + "' -> '" + std::string(target, size_t(len)) +
           "': it does not lead to a directory inside the layer (symlinks are only ever resolved inside it)";
  }
  return "";
}

UniqueFd TarExtractor::Impl::open_dir(const std::vector<std::string>& comps, size_t n) {
  std::string rel = join(comps, n);
  for (int attempt = 0; attempt < 2; ++attempt) {
    UniqueFd fd = open_in_root(root_, rel, O_RDONLY | O_DIRECTORY);
    if (fd) return fd;
    int err = errno;
    if (err != ENOENT || n == 0 || attempt == 1) {
      if (std::string why = symlink_in_the_way(comps, n); !why.empty()) throw Error(why);
      if (err == ENOTDIR)
        throw Error(name_ + ": cannot unpack under '" + rel + "': a path component is not a directory");
      throw_sys("open directory in layer", name_ + ": " + rel, err);
    }
    UniqueFd parent = open_dir(comps, n - 1);
    if (::mkdirat(parent.get(), comps[n - 1].c_str(), 0755) < 0 && errno != EEXIST)
      throw_sys("mkdir in layer", name_ + ": " + rel);
  }
  throw Error(name_ + ": cannot create directory '" + rel + "' in layer (dangling symlink in the way?)");
}

// Removes what is at pfd/leaf unless it is a directory and keep_dir.
void TarExtractor::Impl::clear_leaf(int pfd, const std::string& leaf, bool keep_dir, const std::string& rel) {
  struct stat st;
  if (::fstatat(pfd, leaf.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0) {
    if (errno == ENOENT) return;
    throw_sys("stat in layer", name_ + ": " + rel);
  }
  if (opt_.no_dir_swap && S_ISDIR(st.st_mode) != keep_dir)
    throw Error(name_ + ": refusing to replace " + (keep_dir ? "the non-directory" : "the directory") + " '" + rel +
                "' with " + (keep_dir ? "a directory" : "a non-directory"));
  if (S_ISDIR(st.st_mode)) {
    if (keep_dir) return;
    // Replace a directory: empty it first (entries inside the layer only).
    UniqueFd d(::openat(pfd, leaf.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!d) throw_sys("open in layer", name_ + ": " + rel);
    DIR* dir = ::fdopendir(::dup(d.get()));
    if (!dir) throw_sys("opendir in layer", name_ + ": " + rel);
    std::vector<std::string> names;
    while (dirent* de = ::readdir(dir)) {
      std::string n = de->d_name;
      if (n != "." && n != "..") names.push_back(n);
    }
    ::closedir(dir);
    for (auto& n : names) clear_leaf(d.get(), n, false, rel + "/" + n);
    if (::unlinkat(pfd, leaf.c_str(), AT_REMOVEDIR) < 0) throw_sys("rmdir in layer", name_ + ": " + rel);
    return;
  }
  if (::unlinkat(pfd, leaf.c_str(), 0) < 0) throw_sys("unlink in layer", name_ + ": " + rel);
}

void TarExtractor::Impl::write_file(archive* a, int fd, int64_t size, const std::string& rel) {
  const void* buf;
  size_t len;
  la_int64_t off;
  for (;;) {
    int r = archive_read_data_block(a, &buf, &len, &off);
    if (r == ARCHIVE_EOF) break;
    if (r < ARCHIVE_WARN) throw Error(name_ + ": reading '" + rel + "': " + arch_err(a));
    if (off < 0 || static_cast<uint64_t>(off) + len > static_cast<uint64_t>(size))
      throw Error(name_ + ": corrupt archive: data of '" + rel + "' runs past its declared size");
    space_.need(len, rel);
    const char* p = static_cast<const char*>(buf);
    while (len > 0) {
      ssize_t n = ::pwrite(fd, p, len, off);
      if (n < 0) {
        if (errno == EINTR) continue;
        throw_sys("write in layer", name_ + ": " + rel);
      }
      p += n;
      len -= static_cast<size_t>(n);
      off += n;
    }
  }
  // Holes at the end (and sparse regions) stay holes.
  if (::ftruncate(fd, size) < 0) throw_sys("truncate in layer", name_ + ": " + rel);
}

void TarExtractor::Impl::set_xattrs(int fd, archive_entry* e) {
  if (archive_entry_xattr_reset(e) == 0) return;
  const char* xname;
  const void* value;
  size_t size;
  while (archive_entry_xattr_next(e, &xname, &value, &size) == ARCHIVE_OK) {
    if (!xname || std::strncmp(xname, "trusted.overlay.", 16) == 0) continue;
    // As far as the filesystem allows: unsupported namespaces are dropped.
    (void)::fsetxattr(fd, xname, value, size, 0);
  }
}

void TarExtractor::Impl::check_caps(uint64_t sz, const std::string& rel) {
  if (sz > opt_.max_size || size_ + sz > opt_.max_size)
    throw Error(name_ + ": layer too large: unpacked size would exceed the limit of " + std::to_string(opt_.max_size) +
                " bytes (at '" + rel + "', " + std::to_string(sz) + " bytes; set HVRUN_MAX_LAYER_SIZE to change it)");
  uint64_t before = opt_.image_size_before;
  if (before > opt_.max_image_size || sz > opt_.max_image_size - before ||
      size_ + sz > opt_.max_image_size - before)
    throw Error(name_ + ": image too large: the unpacked size of its layers would exceed the limit of " +
                std::to_string(opt_.max_image_size) + " bytes (at '" + rel + "'; set HVRUN_MAX_IMAGE_SIZE to change it)");
}

void TarExtractor::Impl::entry(archive* a, archive_entry* e) {
  const char* p = archive_entry_pathname_utf8(e);
  if (!p) p = archive_entry_pathname(e);
  if (!p) throw Error(name_ + ": archive entry without a name");
  std::string path = p;
  std::vector<std::string> comps = split_path(path, name_);
  if (comps.empty()) {  // the root itself: only its owner and mode apply
    if (archive_entry_filetype(e) == AE_IFDIR && !opt_.keep_root) {
      if (::fchown(root_, static_cast<uid_t>(archive_entry_uid(e)), static_cast<gid_t>(archive_entry_gid(e))) < 0)
        throw_sys("chown layer root", name_);
      if (::fchmod(root_, archive_entry_perm(e) & 07777) < 0) throw_sys("chmod layer root", name_);
    }
    return;
  }
  const std::string leaf = comps.back();
  const std::string rel = join(comps, comps.size());
  space_.need(kEntryOverhead, rel);
  UniqueFd parent = open_dir(comps, comps.size() - 1);
  const int pfd = parent.get();

  if (opt_.whiteouts && leaf.rfind(".wh.", 0) == 0) {
    if (leaf == ".wh..wh..opq") {
      if (::fsetxattr(pfd, "trusted.overlay.opaque", "y", 1, 0) < 0)
        throw_sys("set trusted.overlay.opaque on", name_ + ": " + join(comps, comps.size() - 1));
      return;
    }
    if (leaf.rfind(".wh..wh.", 0) == 0) return;  // aufs metadata: not for overlayfs
    std::string target = leaf.substr(4);
    if (target.empty() || target == "." || target == "..")
      throw Error(name_ + ": invalid whiteout entry '" + path + "'");
    clear_leaf(pfd, target, false, rel);
    if (::mknodat(pfd, target.c_str(), S_IFCHR | 0, ::makedev(0, 0)) < 0)
      throw_sys("create whiteout in layer", name_ + ": " + rel);
    return;
  }

  const auto uid = static_cast<uid_t>(opt_.owner_uid >= 0 ? opt_.owner_uid : archive_entry_uid(e));
  const auto gid = static_cast<gid_t>(opt_.owner_gid >= 0 ? opt_.owner_gid : archive_entry_gid(e));
  const mode_t perm = archive_entry_perm(e) & 07777;
  struct timespec times[2];
  times[0].tv_sec = archive_entry_mtime(e);
  times[0].tv_nsec = archive_entry_mtime_nsec(e);
  times[1] = times[0];

  if (const char* hl = archive_entry_hardlink(e)) {
    std::vector<std::string> tcomps = split_path(hl, name_);
    if (tcomps.empty()) throw Error(name_ + ": hard link '" + path + "' points at the layer root");
    std::string trel = join(tcomps, tcomps.size());
    if (trel == rel) return;
    UniqueFd target = open_in_root(root_, trel, O_PATH | O_NOFOLLOW);
    if (!target)
      throw Error(name_ + ": hard link '" + path + "' -> '" + hl + "': target is not inside the layer (" +
                  std::strerror(errno) + ")");
    struct stat st;
    if (::fstat(target.get(), &st) < 0) throw_sys("stat in layer", name_ + ": " + trel);
    if (S_ISDIR(st.st_mode)) throw Error(name_ + ": hard link '" + path + "' points at a directory");
    clear_leaf(pfd, leaf, false, rel);
    if (::linkat(target.get(), "", pfd, leaf.c_str(), AT_EMPTY_PATH) < 0)
      throw_sys("hard link in layer", name_ + ": " + rel);
    return;
  }

  switch (archive_entry_filetype(e)) {
    case AE_IFDIR: {
      clear_leaf(pfd, leaf, true, rel);
      if (::mkdirat(pfd, leaf.c_str(), 0700) < 0 && errno != EEXIST) throw_sys("mkdir in layer", name_ + ": " + rel);
      UniqueFd d(::openat(pfd, leaf.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!d) throw_sys("open in layer", name_ + ": " + rel);
      if (::fchown(d.get(), uid, gid) < 0) throw_sys("chown in layer", name_ + ": " + rel);
      if (::fchmod(d.get(), perm) < 0) throw_sys("chmod in layer", name_ + ": " + rel);
      set_xattrs(d.get(), e);
      dir_times_.push_back({rel, {times[0], times[1]}});
      return;
    }
    case AE_IFREG: {
      int64_t sz = archive_entry_size(e);
      if (sz < 0) throw Error(name_ + ": corrupt archive: negative size for '" + rel + "'");
      check_caps(static_cast<uint64_t>(sz), rel);
      size_ += static_cast<uint64_t>(sz);
      clear_leaf(pfd, leaf, false, rel);
      UniqueFd f(::openat(pfd, leaf.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
      if (!f) throw_sys("create in layer", name_ + ": " + rel);
      write_file(a, f.get(), sz, rel);
      if (::fchown(f.get(), uid, gid) < 0) throw_sys("chown in layer", name_ + ": " + rel);
      if (::fchmod(f.get(), perm) < 0) throw_sys("chmod in layer", name_ + ": " + rel);
      set_xattrs(f.get(), e);
      if (::futimens(f.get(), times) < 0) throw_sys("set times in layer", name_ + ": " + rel);
      return;
    }
    case AE_IFLNK: {
      const char* t = archive_entry_symlink(e);
      if (!t || !*t) throw Error(name_ + ": symlink '" + rel + "' without a target");
      clear_leaf(pfd, leaf, false, rel);
      if (::symlinkat(t, pfd, leaf.c_str()) < 0) throw_sys("symlink in layer", name_ + ": " + rel);
      if (::fchownat(pfd, leaf.c_str(), uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
        throw_sys("chown in layer", name_ + ": " + rel);
      (void)::utimensat(pfd, leaf.c_str(), times, AT_SYMLINK_NOFOLLOW);
      return;
    }
    case AE_IFIFO: {
      clear_leaf(pfd, leaf, false, rel);
      if (::mknodat(pfd, leaf.c_str(), S_IFIFO | 0600, 0) < 0) throw_sys("mkfifo in layer", name_ + ": " + rel);
      UniqueFd f(::openat(pfd, leaf.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
      if (!f) throw_sys("open in layer", name_ + ": " + rel);
      if (::fchownat(f.get(), "", uid, gid, AT_EMPTY_PATH) < 0) throw_sys("chown in layer", name_ + ": " + rel);
      // Through the node's own fd: the name may have been swapped for a
      // symlink meanwhile (docker cp into a running container).
      if (::chmod(("/proc/self/fd/" + std::to_string(f.get())).c_str(), perm) < 0)
        throw_sys("chmod in layer", name_ + ": " + rel);
      (void)::utimensat(pfd, leaf.c_str(), times, AT_SYMLINK_NOFOLLOW);
      return;
    }
    case AE_IFCHR:
      if (archive_entry_rdev(e) == 0 && opt_.whiteouts) {  // an overlayfs whiteout as such
        clear_leaf(pfd, leaf, false, rel);
        if (::mknodat(pfd, leaf.c_str(), S_IFCHR | 0, 0) < 0)
          throw_sys("create whiteout in layer", name_ + ": " + rel);
        return;
      }
      ++dropped_devices_;  // other device nodes: skipped (containers get /dev from a tmpfs)
      return;
    case AE_IFBLK:
      ++dropped_devices_;
      return;
    default:
      return;  // sockets: skipped
  }
}

void TarExtractor::Impl::finish() {
  // Directory times last: creating entries inside changed them.
  for (auto it = dir_times_.rbegin(); it != dir_times_.rend(); ++it) {
    UniqueFd d = open_in_root(root_, it->rel, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
    if (d) (void)::futimens(d.get(), it->ts);
  }
}

UniqueFd open_in_root(int dirfd, const std::string& rel, int flags) {
  return UniqueFd(openat2_fd(dirfd, rel.c_str(), flags, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS));
}

TarExtractor::TarExtractor(int root, std::string name, const ExtractOptions& opt)
    : impl_(std::make_unique<Impl>(root, std::move(name), opt)) {}
TarExtractor::~TarExtractor() = default;
void TarExtractor::entry(archive* a, archive_entry* e) { impl_->entry(a, e); }
void TarExtractor::finish() { impl_->finish(); }
uint64_t TarExtractor::size() const { return impl_->size(); }
uint64_t TarExtractor::dropped_devices() const { return impl_->dropped_devices(); }

namespace {

struct FdSource {
  int fd;
  char buf[1 << 16];
  int err = 0;
};

la_ssize_t fd_read(archive*, void* client, const void** out) {
  auto* s = static_cast<FdSource*>(client);
  for (;;) {
    ssize_t n = ::read(s->fd, s->buf, sizeof s->buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      s->err = errno;
      return -1;
    }
    *out = s->buf;
    return n;
  }
}

}  // namespace

uint64_t extract_plain_tar(int src_fd, const std::string& name, int dest_dirfd, const ExtractOptions& opt) {
  auto src = std::make_unique<FdSource>();
  src->fd = src_fd;
  ReadArchive tar(archive_read_new());
  if (!tar) throw Error("libarchive: out of memory");
  archive_read_support_format_tar(tar.get());
  if (archive_read_open(tar.get(), src.get(), nullptr, fd_read, nullptr) != ARCHIVE_OK)
    throw Error(name + ": not a tar archive (" + arch_err(tar.get()) + ")");
  TarExtractor x(dest_dirfd, name, opt);
  size_t entries = 0;
  for (;;) {
    archive_entry* e;
    const int r = archive_read_next_header(tar.get(), &e);
    if (r == ARCHIVE_EOF) break;
    if (r < ARCHIVE_WARN) {
      if (src->err) throw Error(name + ": read: " + std::strerror(src->err));
      throw Error(name + ": " + (entries == 0 ? "not a tar archive (" + arch_err(tar.get()) + ")" : arch_err(tar.get())));
    }
    ++entries;
    x.entry(tar.get(), e);
  }
  x.finish();
  return x.size();
}

}  // namespace hvrun::image
