#include "engine/vm_changes.hpp"

#include <ext2fs/ext2fs.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cstring>
#include <map>
#include <vector>

#include "util/error.hpp"
#include "util/fd.hpp"
#include "util/fs.hpp"

namespace hvrun::engine {

namespace {

std::string ext2_err(errcode_t e) {
  const char* m = error_message(e);
  return m ? m : ("ext2fs error " + std::to_string(e));
}

struct Ext2 {
  ext2_filsys fs = nullptr;
  std::string disk;
  ~Ext2() {
    if (fs) ext2fs_close_free(&fs);
  }
  void check(errcode_t e, const std::string& what) const {
    if (e) throw Error(disk + ": " + what + ": " + ext2_err(e));
  }
};

struct DirEntry {
  std::string name;
  ext2_ino_t ino;
};

int collect(ext2_ino_t, int, struct ext2_dir_entry* d, int, int, char*, void* priv) {
  auto* out = static_cast<std::vector<DirEntry>*>(priv);
  std::string name(d->name, size_t(ext2fs_dirent_name_len(d)));
  if (name != "." && name != ".." && d->inode) out->push_back({name, d->inode});
  return 0;
}

struct XattrSink {
  int fd;
  const std::string* path;
};

int put_xattr(char* name, char* value, size_t len, void* data) {
  auto* s = static_cast<XattrSink*>(data);
  if (std::strncmp(name, "system.", 7) == 0) return 0;  // ACLs: stored in ext4's own format
  (void)::lsetxattr(s->path->c_str(), name, value, len, 0);  // as far as the host fs allows
  (void)s->fd;
  return 0;
}

class Copier {
 public:
  Copier(Ext2& e, bool with_data) : e_(e), with_data_(with_data) {}

  void dir(ext2_ino_t ino, const std::string& to, const std::string& rel) {
    std::vector<DirEntry> entries;
    e_.check(ext2fs_dir_iterate2(e_.fs, ino, 0, nullptr, collect, &entries), "read directory /" + rel);
    for (auto& d : entries) entry(d.ino, to + "/" + d.name, rel.empty() ? d.name : rel + "/" + d.name);
    finish(ino, to, rel);
  }

 private:
  void read_inode(ext2_ino_t ino, ext2_inode_large& in, const std::string& rel) {
    std::memset(&in, 0, sizeof in);
    e_.check(ext2fs_read_inode_full(e_.fs, ino, reinterpret_cast<ext2_inode*>(&in), sizeof in), "read inode of /" + rel);
  }

  // Owner, mode, xattrs, times: after the contents.
  void finish(ext2_ino_t ino, const std::string& path, const std::string& rel) {
    ext2_inode_large in;
    read_inode(ino, in, rel);
    const bool link = LINUX_S_ISLNK(in.i_mode);
    if (::lchown(path.c_str(), inode_uid(in), inode_gid(in)) < 0) throw_sys("chown", path);
    if (!link && ::chmod(path.c_str(), in.i_mode & 07777) < 0) throw_sys("chmod", path);
    if (!link) {
      ext2_xattr_handle* h = nullptr;
      if (ext2fs_xattrs_open(e_.fs, ino, &h) == 0) {
        if (ext2fs_xattrs_read(h) == 0) {
          XattrSink sink{-1, &path};
          ext2fs_xattrs_iterate(h, put_xattr, &sink);
        }
        ext2fs_xattrs_close(&h);
      }
    }
    struct timespec ts[2];
    const bool extra = in.i_extra_isize >= 24;  // i_mtime_extra present
    ts[1].tv_sec = in.i_mtime;
    ts[1].tv_nsec = extra ? long(in.i_mtime_extra >> 2) : 0;
    ts[0] = ts[1];
    (void)::utimensat(AT_FDCWD, path.c_str(), ts, AT_SYMLINK_NOFOLLOW);
  }

  std::string symlink_target(ext2_ino_t ino, ext2_inode_large& in, const std::string& rel) {
    const size_t size = EXT2_I_SIZE(&in);
    if (size > 4096) throw Error(e_.disk + ": symlink /" + rel + " is longer than 4096 bytes");
    if (in.i_flags & EXT4_INLINE_DATA_FL) {
      std::string buf(size + 64, '\0');
      size_t got = buf.size();
      e_.check(ext2fs_inline_data_get(e_.fs, ino, reinterpret_cast<ext2_inode*>(&in), buf.data(), &got),
               "read symlink /" + rel);
      buf.resize(std::min(got, size));
      return buf;
    }
    if (ext2fs_is_fast_symlink(reinterpret_cast<ext2_inode*>(&in)))
      return std::string(reinterpret_cast<const char*>(in.i_block), size);
    return read_all(ino, size, rel);
  }

  std::string read_all(ext2_ino_t ino, size_t size, const std::string& rel) {
    ext2_file_t f;
    e_.check(ext2fs_file_open(e_.fs, ino, 0, &f), "open /" + rel);
    std::string buf(size, '\0');
    unsigned int got = 0;
    errcode_t err = ext2fs_file_read(f, buf.data(), unsigned(size), &got);
    ext2fs_file_close(f);
    e_.check(err, "read /" + rel);
    buf.resize(got);
    return buf;
  }

  void copy_data(ext2_ino_t ino, uint64_t size, int fd, const std::string& rel, const std::string& path) {
    ext2_file_t f;
    e_.check(ext2fs_file_open(e_.fs, ino, 0, &f), "open /" + rel);
    std::vector<char> buf(1 << 20);
    uint64_t off = 0;
    errcode_t err = 0;
    while (off < size) {
      unsigned int got = 0;
      err = ext2fs_file_read(f, buf.data(), unsigned(std::min<uint64_t>(buf.size(), size - off)), &got);
      if (err || got == 0) break;
      if (!write_all(fd, buf.data(), got)) {
        ext2fs_file_close(f);
        throw_sys("write", path);
      }
      off += got;
    }
    ext2fs_file_close(f);
    e_.check(err, "read /" + rel);
  }

  void entry(ext2_ino_t ino, const std::string& path, const std::string& rel) {
    ext2_inode_large in;
    read_inode(ino, in, rel);
    const unsigned mode = in.i_mode;
    if (!LINUX_S_ISDIR(mode) && in.i_links_count > 1) {
      auto [it, fresh] = links_.emplace(ino, path);
      if (!fresh) {
        if (::link(it->second.c_str(), path.c_str()) < 0) throw_sys("link", path);
        return;
      }
    }
    if (LINUX_S_ISDIR(mode)) {
      if (::mkdir(path.c_str(), 0700) < 0) throw_sys("mkdir", path);
      dir(ino, path, rel);
      return;
    }
    if (LINUX_S_ISREG(mode)) {
      UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
      if (!fd) throw_sys("create", path);
      const uint64_t size = EXT2_I_SIZE(&in);
      if (with_data_) copy_data(ino, size, fd.get(), rel, path);
      if (::ftruncate(fd.get(), off_t(size)) < 0) throw_sys("truncate", path);  // holes stay holes
    } else if (LINUX_S_ISLNK(mode)) {
      if (::symlink(symlink_target(ino, in, rel).c_str(), path.c_str()) < 0) throw_sys("symlink", path);
    } else if (LINUX_S_ISCHR(mode) || LINUX_S_ISBLK(mode)) {
      unsigned major, minor;
      if (in.i_block[0]) {
        major = (in.i_block[0] >> 8) & 255;
        minor = in.i_block[0] & 255;
      } else {
        major = (in.i_block[1] & 0xfff00) >> 8;
        minor = (in.i_block[1] & 0xff) | ((in.i_block[1] >> 12) & 0xfff00);
      }
      if (::mknod(path.c_str(), (LINUX_S_ISCHR(mode) ? S_IFCHR : S_IFBLK) | 0600, ::makedev(major, minor)) < 0)
        throw_sys("mknod", path);
    } else if (LINUX_S_ISFIFO(mode)) {
      if (::mkfifo(path.c_str(), 0600) < 0) throw_sys("mkfifo", path);
    } else {
      return;  // sockets: nothing to keep
    }
    finish(ino, path, rel);
  }

  Ext2& e_;
  bool with_data_;
  std::map<ext2_ino_t, std::string> links_;
};

}  // namespace

void copy_out_of_ext4(const std::string& disk, const std::string& from, const std::string& to, bool with_data) {
  Ext2 e;
  e.disk = disk;
  if (!path_exists(disk)) throw Error(disk + ": no such disk");
  // Read only, and without replaying anything: the disk is never written.
  e.check(ext2fs_open2(disk.c_str(), nullptr, EXT2_FLAG_64BITS | EXT2_FLAG_IGNORE_CSUM_ERRORS, 0, 0, unix_io_manager,
                       &e.fs),
          "open ext4 file system");
  ext2_ino_t ino = EXT2_ROOT_INO;
  std::string rel = from;
  while (!rel.empty() && rel.front() == '/') rel.erase(0, 1);
  if (::mkdir(to.c_str(), 0755) < 0) throw_sys("mkdir", to);
  if (!rel.empty()) {
    errcode_t err = ext2fs_namei(e.fs, EXT2_ROOT_INO, EXT2_ROOT_INO, rel.c_str(), &ino);
    if (err == EXT2_ET_FILE_NOT_FOUND) return;  // nothing there yet: an empty tree
    e.check(err, "look up " + from);
  }
  Copier(e, with_data).dir(ino, to, rel);
}

VmUpper::VmUpper(const std::string& rw_disk, const std::string& scratch_parent, Content content) {
  if (!path_exists(rw_disk))
    throw Error("the microVM has no writable disk (" + rw_disk + "): it never started, so it changed nothing");
  dir_ = scratch_parent + "/vm-upper." + std::to_string(::getpid());
  if (path_exists(dir_)) remove_all(dir_);
  try {
    copy_out_of_ext4(rw_disk, "/upper", dir_, content == Content::Data);
  } catch (...) {
    try {
      remove_all(dir_);
    } catch (const std::exception&) {
    }
    throw;
  }
}

VmUpper::~VmUpper() {
  try {
    remove_all(dir_);
  } catch (const std::exception&) {
  }
}

}  // namespace hvrun::engine
