// Helpers for image unit tests: temp dirs and a libarchive tar builder.
#pragma once
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

#include "util/fs.hpp"

namespace hvrun::image::testing {

class Tmp {
 public:
  Tmp() {
    char t[] = "/tmp/hvrun-imgtest-XXXXXX";
    if (!mkdtemp(t)) throw std::runtime_error("mkdtemp");
    path = t;
  }
  ~Tmp() { (void)std::system(("rm -rf --one-file-system " + path).c_str()); }
  std::string path;
};

struct TarEntry {
  std::string name;
  mode_t type = AE_IFREG;
  mode_t perm = 0644;
  std::string data;      // regular file content
  std::string link;      // symlink target
  std::string hardlink;  // hard link target
  dev_t rdev = 0;
  std::vector<std::pair<std::string, std::string>> xattrs;
};

// filter: "none", "gzip", "zstd", "xz"
inline void write_tar(const std::string& path, const std::vector<TarEntry>& entries, const std::string& filter = "none") {
  archive* a = archive_write_new();
  archive_write_set_format_pax_restricted(a);
  if (filter == "gzip") archive_write_add_filter_gzip(a);
  else if (filter == "zstd") archive_write_add_filter_zstd(a);
  else if (filter == "xz") archive_write_add_filter_xz(a);
  if (archive_write_open_filename(a, path.c_str()) != ARCHIVE_OK) throw std::runtime_error(archive_error_string(a));
  for (auto& t : entries) {
    archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, t.name.c_str());
    archive_entry_set_filetype(e, t.type);
    archive_entry_set_perm(e, t.perm);
    archive_entry_set_mtime(e, 1700000000, 0);
    if (!t.hardlink.empty()) archive_entry_set_hardlink(e, t.hardlink.c_str());
    if (t.type == AE_IFLNK) archive_entry_set_symlink(e, t.link.c_str());
    if (t.type == AE_IFCHR || t.type == AE_IFBLK) archive_entry_set_rdev(e, t.rdev);
    for (auto& [k, v] : t.xattrs) archive_entry_xattr_add_entry(e, k.c_str(), v.data(), v.size());
    archive_entry_set_size(e, t.type == AE_IFREG && t.hardlink.empty() ? static_cast<la_int64_t>(t.data.size()) : 0);
    if (archive_write_header(a, e) != ARCHIVE_OK) throw std::runtime_error(archive_error_string(a));
    if (!t.data.empty()) archive_write_data(a, t.data.data(), t.data.size());
    archive_entry_free(e);
  }
  archive_write_close(a);
  archive_write_free(a);
}

inline bool exists(const std::string& p) {
  struct stat st;
  return ::lstat(p.c_str(), &st) == 0;
}

inline int sh(const std::string& cmd) { return std::system(cmd.c_str()); }

}  // namespace hvrun::image::testing
