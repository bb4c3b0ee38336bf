// Packing: a directory (or one entry of one) as a tar, and spooling an
// archive to a file (image/layer.hpp says what each writes).
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <ctime>
#include <map>
#include <set>
#include <vector>

#include "image/layer.hpp"
#include "image/layer_shared.hpp"
#include "util/error.hpp"
#include "util/fd.hpp"
#include "util/fs.hpp"

namespace hvrun::image {

using namespace layer_detail;

namespace {

struct DirTarWriter {
  archive* w;
  std::string root;
  uint64_t max_size;
  FreeSpaceGuard space;
  uint64_t total = 0;
  uint64_t dropped_devices = 0;
  std::map<std::pair<dev_t, ino_t>, std::string> links;
  // write_layer_tar: whiteouts and opaque directories as OCI entries, and
  // paths left out.
  bool oci_whiteouts = false;
  const std::set<std::string>* exclude = nullptr;
  uint32_t id_base = 0, id_count = 0;  // LayerTarOptions' owner shift
  int64_t owner(uint32_t id) const { return id_count && id >= id_base && id - id_base < id_count ? id - id_base : id; }
  // write_entry_tar: the top entry `top` is written as `top_as`.
  std::string top, top_as;

  std::string entry_name(const std::string& rel) const {
    if (top_as.empty() || rel.compare(0, top.size(), top) != 0) return rel;
    return top_as + rel.substr(top.size());
  }

  // An empty regular file entry (the OCI whiteout markers).
  void add_marker(const std::string& rel, const struct stat& like) {
    Entry e(archive_entry_new());
    archive_entry_set_pathname(e.get(), rel.c_str());
    archive_entry_set_filetype(e.get(), AE_IFREG);
    archive_entry_set_perm(e.get(), 0);
    archive_entry_set_uid(e.get(), 0);
    archive_entry_set_gid(e.get(), 0);
    archive_entry_set_mtime(e.get(), like.st_mtim.tv_sec, 0);
    archive_entry_set_size(e.get(), 0);
    if (archive_write_header(w, e.get()) < ARCHIVE_WARN) fail(rel);
  }

  static bool opaque(const std::string& full) {
    char v[2];
    return ::lgetxattr(full.c_str(), "trusted.overlay.opaque", v, sizeof v) == 1 && v[0] == 'y';
  }

  void fail(const std::string& what) { throw Error("write tar of " + root + ": " + what + ": " + arch_err(w)); }

  void add(const std::string& rel) {
    std::string full = root + "/" + rel;
    if (exclude && exclude->count(rel)) return;
    struct stat st;
    if (::lstat(full.c_str(), &st) < 0) throw_sys("lstat", full);
    const bool chr0 = S_ISCHR(st.st_mode) && st.st_rdev == 0;
    if (S_ISSOCK(st.st_mode)) return;
    if (chr0 && oci_whiteouts) {
      const size_t slash = rel.rfind('/');
      const std::string dir = slash == std::string::npos ? "" : rel.substr(0, slash + 1);
      add_marker(dir + ".wh." + rel.substr(slash == std::string::npos ? 0 : slash + 1), st);
      return;
    }
    if (S_ISBLK(st.st_mode) || (S_ISCHR(st.st_mode) && !chr0)) {
      ++dropped_devices;
      return;
    }
    space.need(kEntryOverhead + (S_ISREG(st.st_mode) ? uint64_t(st.st_size) : 0), rel);
    Entry e(archive_entry_new());
    archive_entry_set_pathname(e.get(), entry_name(rel).c_str());
    archive_entry_set_mode(e.get(), st.st_mode);
    archive_entry_set_uid(e.get(), owner(st.st_uid));
    archive_entry_set_gid(e.get(), owner(st.st_gid));
    archive_entry_set_mtime(e.get(), st.st_mtim.tv_sec, 0);
    if (chr0) archive_entry_set_rdev(e.get(), 0);
    if (S_ISLNK(st.st_mode)) {
      std::string target(static_cast<size_t>(st.st_size) + 1, '\0');
      ssize_t n = ::readlink(full.c_str(), target.data(), target.size());
      if (n < 0) throw_sys("readlink", full);
      target.resize(static_cast<size_t>(n));
      archive_entry_set_symlink(e.get(), target.c_str());
    } else {
      add_xattrs(e.get(), full);
    }
    if (S_ISREG(st.st_mode) && st.st_nlink > 1) {
      auto [it, fresh] = links.emplace(std::make_pair(st.st_dev, st.st_ino), entry_name(rel));
      if (!fresh) {
        archive_entry_set_hardlink(e.get(), it->second.c_str());
        archive_entry_set_size(e.get(), 0);
        if (archive_write_header(w, e.get()) < ARCHIVE_WARN) fail(rel);
        return;
      }
    }
    UniqueFd fd;
    if (S_ISREG(st.st_mode)) {
      total += static_cast<uint64_t>(st.st_size);
      if (total > max_size)
        throw Error(root + ": layer too large: contents exceed the limit of " + std::to_string(max_size) +
                    " bytes (set HVRUN_MAX_LAYER_SIZE to change it)");
      archive_entry_set_size(e.get(), st.st_size);
      fd.reset(::open(full.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
      if (!fd) throw_sys("open", full);
    } else {
      archive_entry_set_size(e.get(), 0);
    }
    if (archive_write_header(w, e.get()) < ARCHIVE_WARN) fail(rel);
    if (fd) {
      char buf[1 << 16];
      int64_t left = st.st_size;
      while (left > 0) {
        ssize_t n = ::read(fd.get(), buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) throw_sys("read", full);
        if (n == 0) throw Error(full + ": file shrank while being imported");
        if (n > left) n = static_cast<ssize_t>(left);
        if (archive_write_data(w, buf, static_cast<size_t>(n)) < 0) fail(rel);
        left -= n;
      }
    }
    if (S_ISDIR(st.st_mode)) {
      if (oci_whiteouts && opaque(full)) add_marker(rel + "/.wh..wh..opq", st);
      walk(rel);
    }
  }

  void add_xattrs(archive_entry* e, const std::string& full) {
    ssize_t n = ::llistxattr(full.c_str(), nullptr, 0);
    if (n <= 0) return;
    std::string list(static_cast<size_t>(n), '\0');
    n = ::llistxattr(full.c_str(), list.data(), list.size());
    if (n <= 0) return;
    std::vector<std::string> names;
    for (size_t i = 0; i < static_cast<size_t>(n);) {
      std::string x(list.c_str() + i);
      i += x.size() + 1;
      if (!x.empty() && x.rfind("trusted.overlay.", 0) != 0) names.push_back(x);
    }
    std::sort(names.begin(), names.end());
    for (auto& x : names) {
      ssize_t vn = ::lgetxattr(full.c_str(), x.c_str(), nullptr, 0);
      if (vn < 0) continue;
      std::string v(static_cast<size_t>(vn), '\0');
      vn = ::lgetxattr(full.c_str(), x.c_str(), v.data(), v.size());
      if (vn < 0) continue;
      archive_entry_xattr_add_entry(e, x.c_str(), v.data(), static_cast<size_t>(vn));
    }
  }

  void walk(const std::string& rel) {
    std::string full = rel.empty() ? root : root + "/" + rel;
    std::vector<std::string> names = list_dir(full);
    std::sort(names.begin(), names.end());
    for (auto& n : names) add(rel.empty() ? n : rel + "/" + n);
  }
};

}  // namespace

uint64_t spool(int in_fd, int out_fd, const std::string& what, uint64_t max_bytes, uint64_t min_free_space) {
  FreeSpaceGuard space(out_fd, min_free_space, what);
  std::vector<char> buf(1 << 20);
  uint64_t total = 0;
  for (;;) {
    ssize_t n = ::read(in_fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw_sys("read", what);
    if (n == 0) return total;
    total += static_cast<uint64_t>(n);
    if (total > max_bytes)
      throw Error(what + ": larger than " + std::to_string(max_bytes) + " bytes (set HVRUN_MAX_IMAGE_SIZE to change it)");
    space.need(static_cast<uint64_t>(n), what);
    if (!write_all(out_fd, buf.data(), static_cast<size_t>(n))) throw_sys("write", what);
  }
}

uint64_t write_dir_tar(const std::string& dir, int out_fd, uint64_t max_size, uint64_t min_free_space) {
  LayerTarOptions opt;
  opt.oci_whiteouts = false;
  opt.max_size = max_size;
  opt.min_free_space = min_free_space;
  return write_layer_tar(dir, out_fd, opt);
}

void write_entry_tar(int parent_dirfd, const std::string& base, int out_fd, const std::string& as,
                     uint64_t min_free_space, uint32_t id_base, uint32_t id_count) {
  if (base.empty()) throw Error("write tar: an entry name is required");
  for (const std::string& n : {base, as})
    if (n.find('/') != std::string::npos || n == "..") throw Error("write tar: invalid entry name \"" + n + "\"");
  WriteArchive w(archive_write_new());
  if (!w) throw Error("libarchive: out of memory");
  archive_write_set_format_pax_restricted(w.get());
  archive_write_set_bytes_in_last_block(w.get(), 1);
  if (archive_write_open_fd(w.get(), out_fd) != ARCHIVE_OK) throw Error("write tar: " + arch_err(w.get()));
  DirTarWriter t{w.get(), "/proc/self/fd/" + std::to_string(parent_dirfd), UINT64_MAX,
                 FreeSpaceGuard(out_fd, min_free_space, "the copy of " + base)};
  t.top = base;
  t.top_as = as;
  t.id_base = id_base;
  t.id_count = id_count;
  t.add(base);
  if (archive_write_close(w.get()) != ARCHIVE_OK) throw Error("write tar: " + arch_err(w.get()));
}

void write_file_tar(const std::string& name, const std::string& data, unsigned mode, int out_fd) {
  if (name.empty() || name.find('/') != std::string::npos || name == "." || name == "..")
    throw Error("write tar: invalid entry name \"" + name + "\"");
  WriteArchive w(archive_write_new());
  if (!w) throw Error("libarchive: out of memory");
  archive_write_set_format_pax_restricted(w.get());
  archive_write_set_bytes_in_last_block(w.get(), 1);
  if (archive_write_open_fd(w.get(), out_fd) != ARCHIVE_OK) throw Error("write tar: " + arch_err(w.get()));
  Entry e(archive_entry_new());
  if (!e) throw Error("libarchive: out of memory");
  archive_entry_set_pathname(e.get(), name.c_str());
  archive_entry_set_filetype(e.get(), AE_IFREG);
  archive_entry_set_perm(e.get(), mode & 07777);
  archive_entry_set_size(e.get(), static_cast<la_int64_t>(data.size()));
  archive_entry_set_mtime(e.get(), std::time(nullptr), 0);
  if (archive_write_header(w.get(), e.get()) != ARCHIVE_OK ||
      (!data.empty() && archive_write_data(w.get(), data.data(), data.size()) != static_cast<la_ssize_t>(data.size())) ||
      archive_write_close(w.get()) != ARCHIVE_OK)
    throw Error("write tar: " + arch_err(w.get()));
}

uint64_t write_layer_tar(const std::string& dir, int out_fd, const LayerTarOptions& opt) {
  const uint64_t max_size = opt.max_size;
  const uint64_t min_free_space = opt.min_free_space;
  WriteArchive w(archive_write_new());
  if (!w) throw Error("libarchive: out of memory");
  archive_write_set_format_pax_restricted(w.get());
  archive_write_set_bytes_in_last_block(w.get(), 1);
  if (archive_write_open_fd(w.get(), out_fd) != ARCHIVE_OK) throw Error("write tar: " + arch_err(w.get()));
  DirTarWriter t{w.get(), dir, max_size, FreeSpaceGuard(out_fd, min_free_space, dir)};
  t.oci_whiteouts = opt.oci_whiteouts;
  t.exclude = &opt.exclude;
  t.id_base = opt.id_base;
  t.id_count = opt.id_count;
  struct stat st;
  if (::stat(dir.c_str(), &st) < 0) throw_sys("stat", dir);
  Entry root(archive_entry_new());  // "./": the root's owner and mode
  archive_entry_set_pathname(root.get(), "./");
  archive_entry_set_mode(root.get(), st.st_mode);
  archive_entry_set_uid(root.get(), t.owner(st.st_uid));
  archive_entry_set_gid(root.get(), t.owner(st.st_gid));
  archive_entry_set_mtime(root.get(), st.st_mtim.tv_sec, 0);
  if (archive_write_header(w.get(), root.get()) < ARCHIVE_WARN) throw Error("write tar: " + arch_err(w.get()));
  t.walk("");
  if (archive_write_close(w.get()) != ARCHIVE_OK) throw Error("write tar: " + arch_err(w.get()));
  return t.dropped_devices;
}

}  // namespace hvrun::image
