#include "engine/vm_changes.hpp"

#include <ext2fs/ext2fs.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cstring>
#include <ctime>
#include <functional>
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

struct Ext2 {
  ext2_filsys fs = nullptr;
  std::string disk;
  ~Ext2() {
    if (fs) ext2fs_close_free(&fs);
  }
  void check(errcode_t e, const std::string& what) const {
    if (e) throw Error(disk + ": " + what + ": " + ext2_err(e));
  }
  // Directory `ino`'s entries but . and .. (`rel`: its path, for errors).
  std::vector<DirEntry> entries(ext2_ino_t ino, const std::string& rel) const {
    std::vector<DirEntry> out;
    check(ext2fs_dir_iterate2(fs, ino, 0, nullptr, collect, &out), "read directory /" + rel);
    return out;
  }
  void read_inode(ext2_ino_t ino, ext2_inode_large& in, const std::string& rel) const {
    std::memset(&in, 0, sizeof in);
    check(ext2fs_read_inode_full(fs, ino, reinterpret_cast<ext2_inode*>(&in), sizeof in), "read inode of /" + rel);
  }
};

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
    for (auto& d : e_.entries(ino, rel)) entry(d.ino, to + "/" + d.name, rel.empty() ? d.name : rel + "/" + d.name);
    finish(ino, to, rel);
  }

 private:
  void read_inode(ext2_ino_t ino, ext2_inode_large& in, const std::string& rel) { e_.read_inode(ino, in, rel); }

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

// Writes a changed copy back (write_back_to_ext4). Every allocation goes
// through libext2fs, which keeps the bitmaps, group counts and checksums.
class Writer {
 public:
  Writer(Ext2& e, const timespec& since) : e_(e), since_(since) {}

  // Makes directory `ino` (at /rel) hold what host directory `path` holds.
  void dir(ext2_ino_t ino, const std::string& path, const std::string& rel) {
    std::map<std::string, ext2_ino_t> on_disk;
    for (auto& d : e_.entries(ino, rel)) on_disk.emplace(d.name, d.ino);
    std::map<std::string, struct stat> on_host;
    for (const auto& name : list_dir(path)) {
      struct stat sb {};
      if (::lstat((path + "/" + name).c_str(), &sb) < 0) throw_sys("lstat", path + "/" + name);
      on_host.emplace(name, sb);
    }
    // Gone from the copy: gone from the disk (a socket never was in the copy).
    for (const auto& [name, child] : on_disk) {
      if (on_host.count(name)) continue;
      ext2_inode_large in;
      read_inode(child, in, rel + "/" + name);
      if (LINUX_S_ISSOCK(in.i_mode)) continue;
      remove(ino, name, child, rel + "/" + name);
    }
    for (const auto& [name, sb] : on_host) {
      const std::string cpath = path + "/" + name, crel = rel.empty() ? name : rel + "/" + name;
      auto it = on_disk.find(name);
      ext2_ino_t child = it == on_disk.end() ? 0 : it->second;
      if (child) {
        ext2_inode_large in;
        read_inode(child, in, crel);
        const bool same_kind = (in.i_mode & LINUX_S_IFMT) == (sb.st_mode & S_IFMT);
        if (same_kind && S_ISDIR(sb.st_mode)) {
          if (changed(sb)) set_metadata(child, cpath, sb, crel);
          dir(child, cpath, crel);
          continue;
        }
        if (same_kind && !changed(sb)) continue;
        remove(ino, name, child, crel);
      }
      create(ino, name, cpath, sb, crel);
    }
  }

 private:
  bool changed(const struct stat& sb) const {
    return sb.st_ctim.tv_sec > since_.tv_sec || (sb.st_ctim.tv_sec == since_.tv_sec && sb.st_ctim.tv_nsec >= since_.tv_nsec);
  }

  void read_inode(ext2_ino_t ino, ext2_inode_large& in, const std::string& rel) { e_.read_inode(ino, in, rel); }
  void write_inode(ext2_ino_t ino, ext2_inode_large& in, const std::string& rel) {
    e_.check(ext2fs_write_inode_full(e_.fs, ino, reinterpret_cast<ext2_inode*>(&in), sizeof in), "write inode of /" + rel);
  }

  // Runs op; a directory out of room grows by a block and op runs again.
  void into_dir(ext2_ino_t dir, const std::string& rel, const std::function<errcode_t()>& op) {
    errcode_t err = op();
    if (err == EXT2_ET_DIR_NO_SPACE) {
      e_.check(ext2fs_expand_dir(e_.fs, dir), "grow the directory of /" + rel);
      err = op();
    }
    e_.check(err, "add /" + rel);
  }

  // An xattr the host copy decides: not an ACL (ext4's own format), not the
  // overlay's bookkeeping (the host's merged view writes its own, which
  // means nothing in the guest) but its opaque mark.
  static bool written_xattr(const std::string& k) {
    if (k.rfind("system.", 0) == 0) return false;
    for (const char* ovl : {"trusted.overlay.", "user.overlay."})
      if (k.rfind(ovl, 0) == 0) return k == std::string(ovl) + "opaque";
    return true;
  }

  static unsigned file_type(mode_t m) {
    if (S_ISREG(m)) return EXT2_FT_REG_FILE;
    if (S_ISDIR(m)) return EXT2_FT_DIR;
    if (S_ISLNK(m)) return EXT2_FT_SYMLINK;
    if (S_ISCHR(m)) return EXT2_FT_CHRDEV;
    if (S_ISBLK(m)) return EXT2_FT_BLKDEV;
    if (S_ISFIFO(m)) return EXT2_FT_FIFO;
    return EXT2_FT_SOCK;
  }

  void create(ext2_ino_t dir_ino, const std::string& name, const std::string& path, const struct stat& sb,
              const std::string& rel) {
    if (S_ISSOCK(sb.st_mode)) return;  // nothing to keep, as the copy out
    if (!S_ISDIR(sb.st_mode) && sb.st_nlink > 1) {
      auto it = links_.find({sb.st_dev, sb.st_ino});
      if (it != links_.end()) {  // one more name of an inode written in this pass
        into_dir(dir_ino, rel, [&] { return ext2fs_link(e_.fs, dir_ino, name.c_str(), it->second, int(file_type(sb.st_mode))); });
        ext2_inode_large in;
        read_inode(it->second, in, rel);
        ++in.i_links_count;
        write_inode(it->second, in, rel);
        return;
      }
    }
    ext2_ino_t ino = 0;
    if (S_ISDIR(sb.st_mode)) {
      into_dir(dir_ino, rel, [&] { return ext2fs_mkdir(e_.fs, dir_ino, 0, name.c_str()); });
      e_.check(ext2fs_lookup(e_.fs, dir_ino, name.c_str(), int(name.size()), nullptr, &ino), "look up /" + rel);
      set_metadata(ino, path, sb, rel);
      dir(ino, path, rel);
      return;
    }
    if (S_ISLNK(sb.st_mode)) {
      std::string target(4096, '\0');
      ssize_t n = ::readlink(path.c_str(), target.data(), target.size());
      if (n < 0) throw_sys("readlink", path);
      target.resize(size_t(n));
      into_dir(dir_ino, rel, [&] { return ext2fs_symlink(e_.fs, dir_ino, 0, name.c_str(), target.c_str()); });
      e_.check(ext2fs_lookup(e_.fs, dir_ino, name.c_str(), int(name.size()), nullptr, &ino), "look up /" + rel);
      set_metadata(ino, path, sb, rel);
      return;
    }
    e_.check(ext2fs_new_inode(e_.fs, dir_ino, LINUX_S_IFREG | 0600, nullptr, &ino), "allocate an inode for /" + rel);
    into_dir(dir_ino, rel, [&] { return ext2fs_link(e_.fs, dir_ino, name.c_str(), ino, int(file_type(sb.st_mode))); });
    ext2fs_inode_alloc_stats2(e_.fs, ino, +1, 0);
    ext2_inode_large in;
    std::memset(&in, 0, sizeof in);
    in.i_mode = static_cast<__u16>((sb.st_mode & 07777) | (sb.st_mode & S_IFMT));
    in.i_links_count = 1;  // (ext2fs_write_new_inode sets the large inode's extra size)
    if (S_ISCHR(sb.st_mode) || S_ISBLK(sb.st_mode)) {
      const unsigned major = ::major(sb.st_rdev), minor = ::minor(sb.st_rdev);
      if (major < 256 && minor < 256)
        in.i_block[0] = major * 256 + minor;
      else
        in.i_block[1] = (minor & 0xff) | (major << 8) | ((minor & ~0xffu) << 12);
    } else if (S_ISREG(sb.st_mode) && ext2fs_has_feature_extents(e_.fs->super)) {
      ext2_extent_handle_t h = nullptr;  // an empty extent tree in i_block
      e_.check(ext2fs_extent_open2(e_.fs, ino, reinterpret_cast<ext2_inode*>(&in), &h), "start the extents of /" + rel);
      ext2fs_extent_free(h);
    }
    e_.check(ext2fs_write_new_inode(e_.fs, ino, reinterpret_cast<ext2_inode*>(&in)), "write inode of /" + rel);
    if (S_ISREG(sb.st_mode)) write_data(ino, path, sb, rel);
    set_metadata(ino, path, sb, rel);
    if (sb.st_nlink > 1) links_[{sb.st_dev, sb.st_ino}] = ino;
  }

  void write_data(ext2_ino_t ino, const std::string& path, const struct stat& sb, const std::string& rel) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd) throw_sys("open", path);
    ext2_file_t f;
    e_.check(ext2fs_file_open(e_.fs, ino, EXT2_FILE_WRITE, &f), "open /" + rel);
    struct Closer {
      ext2_file_t f;
      ~Closer() { ext2fs_file_close(f); }
    } closer{f};
    std::vector<char> buf(1 << 20);
    const std::vector<char> zero(buf.size(), 0);
    uint64_t off = 0;
    for (;;) {
      ssize_t n = ::read(fd.get(), buf.data(), buf.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) throw_sys("read", path);
      if (n == 0) break;
      // A block of zeros stays a hole, as the copy out keeps holes.
      if (std::memcmp(buf.data(), zero.data(), size_t(n)) != 0) {
        e_.check(ext2fs_file_llseek(f, off, EXT2_SEEK_SET, nullptr), "seek in /" + rel);
        unsigned int wrote = 0;
        e_.check(ext2fs_file_write(f, buf.data(), unsigned(n), &wrote), "write /" + rel);
        if (wrote != unsigned(n)) throw Error(e_.disk + ": write /" + rel + ": short write (disk full?)");
      }
      off += uint64_t(n);
    }
    if (off != uint64_t(sb.st_size)) throw Error(path + " changed while it was written into " + e_.disk);
    e_.check(ext2fs_file_set_size2(f, off), "set the size of /" + rel);
    e_.check(ext2fs_file_flush(f), "write /" + rel);
  }

  // Owner, mode, times, xattrs of `path` onto the inode (the overlay's own
  // bookkeeping of the host kept out: only trusted.overlay.opaque goes, the
  // guest's overlay reads no other xattr of ours).
  void set_metadata(ext2_ino_t ino, const std::string& path, const struct stat& sb, const std::string& rel) {
    ext2_inode_large in;
    read_inode(ino, in, rel);
    in.i_mode = static_cast<__u16>((in.i_mode & LINUX_S_IFMT) | (sb.st_mode & 07777));
    in.i_uid = static_cast<__u16>(sb.st_uid & 0xffff);
    in.osd2.linux2.l_i_uid_high = static_cast<__u16>(sb.st_uid >> 16);
    in.i_gid = static_cast<__u16>(sb.st_gid & 0xffff);
    in.osd2.linux2.l_i_gid_high = static_cast<__u16>(sb.st_gid >> 16);
    in.i_atime = static_cast<__u32>(sb.st_atim.tv_sec);
    in.i_mtime = static_cast<__u32>(sb.st_mtim.tv_sec);
    in.i_ctime = static_cast<__u32>(::time(nullptr));
    if (in.i_extra_isize >= 24) {  // the nanoseconds (and epoch bits) of each
      // ext4's encoding: the bits of the seconds above the 32 in i_*time (signed).
      auto extra = [](const timespec& t) {
        const int64_t sec = t.tv_sec;
        return __u32((uint64_t(t.tv_nsec) << 2) | (uint64_t((sec - int64_t(int32_t(sec))) >> 32) & 3));
      };
      in.i_atime_extra = extra(sb.st_atim);
      in.i_mtime_extra = extra(sb.st_mtim);
      in.i_ctime_extra = 0;
    }
    write_inode(ino, in, rel);
    if (S_ISLNK(sb.st_mode)) return;  // as the copy out: a symlink's xattrs are not kept
    ext2_xattr_handle* h = nullptr;
    e_.check(ext2fs_xattrs_open(e_.fs, ino, &h), "open the xattrs of /" + rel);
    struct Closer {
      ext2_xattr_handle** h;
      ~Closer() { ext2fs_xattrs_close(h); }
    } closer{&h};
    e_.check(ext2fs_xattrs_read(h), "read the xattrs of /" + rel);
    // The host's xattrs are the truth for those it can carry; the guest's
    // own overlay bookkeeping (its origin, impure, ...) and ACLs stay.
    std::map<std::string, std::string> host;
    std::string names(65536, '\0');
    ssize_t n = ::llistxattr(path.c_str(), names.data(), names.size());
    if (n < 0 && errno != ENOTSUP) throw_sys("list the xattrs of", path);
    for (size_t i = 0; n > 0 && i < size_t(n); i += std::strlen(names.data() + i) + 1) {
      const std::string k = names.data() + i;
      if (!written_xattr(k)) continue;
      std::string v(65536, '\0');
      ssize_t vn = ::lgetxattr(path.c_str(), k.c_str(), v.data(), v.size());
      if (vn < 0) throw_sys("read xattr " + k + " of", path);
      v.resize(size_t(vn));
      host.emplace(k, std::move(v));
    }
    std::vector<std::string> old;
    ext2fs_xattrs_iterate(
        h,
        [](char* name, char*, size_t, void* data) {
          static_cast<std::vector<std::string>*>(data)->push_back(name);
          return 0;
        },
        &old);
    for (const auto& k : old)
      if (written_xattr(k) && !host.count(k)) e_.check(ext2fs_xattr_remove(h, k.c_str()), "remove xattr " + k + " of /" + rel);
    for (const auto& [k, v] : host)
      e_.check(ext2fs_xattr_set(h, k.c_str(), v.data(), v.size()), "set xattr " + k + " of /" + rel);
    e_.check(ext2fs_xattrs_write(h), "write the xattrs of /" + rel);
  }

  // Takes `name` (inode `ino`) out of directory `dir`, and what is under it.
  void remove(ext2_ino_t dir, const std::string& name, ext2_ino_t ino, const std::string& rel) {
    ext2_inode_large in;
    read_inode(ino, in, rel);
    const bool is_dir = LINUX_S_ISDIR(in.i_mode);
    if (is_dir) {
      for (auto& c : e_.entries(ino, rel)) remove(ino, c.name, c.ino, rel + "/" + c.name);
    }
    e_.check(ext2fs_unlink(e_.fs, dir, name.c_str(), ino, 0), "remove /" + rel);
    if (is_dir) {  // its ".." no longer counts for the parent
      ext2_inode_large p;
      read_inode(dir, p, rel + "/..");
      if (p.i_links_count > 2) --p.i_links_count;
      write_inode(dir, p, rel + "/..");
    }
    read_inode(ino, in, rel);
    if (!is_dir && in.i_links_count > 1) {
      --in.i_links_count;
      write_inode(ino, in, rel);
      return;
    }
    // The last name: its xattr block, its blocks, then the inode itself.
    read_inode(ino, in, rel);
    e_.check(ext2fs_free_ext_attr(e_.fs, ino, &in), "free the xattrs of /" + rel);
    read_inode(ino, in, rel);
    if (ext2fs_inode_has_valid_blocks2(e_.fs, reinterpret_cast<ext2_inode*>(&in)) || (in.i_flags & EXT4_INLINE_DATA_FL))
      e_.check(ext2fs_punch(e_.fs, ino, reinterpret_cast<ext2_inode*>(&in), nullptr, 0, ~0ULL), "free the blocks of /" + rel);
    read_inode(ino, in, rel);
    in.i_links_count = 0;
    in.i_dtime = static_cast<__u32>(::time(nullptr));
    write_inode(ino, in, rel);
    ext2fs_inode_alloc_stats2(e_.fs, ino, -1, is_dir ? 1 : 0);
  }

  Ext2& e_;
  timespec since_;
  std::map<std::pair<dev_t, ino_t>, ext2_ino_t> links_;
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

void write_back_to_ext4(const std::string& disk, const std::string& from, const std::string& to, const timespec& since) {
  Ext2 e;
  e.disk = disk;
  if (!path_exists(disk)) throw Error(disk + ": no such disk");
  e.check(ext2fs_open2(disk.c_str(), nullptr, EXT2_FLAG_RW | EXT2_FLAG_64BITS, 0, 0, unix_io_manager, &e.fs),
          "open ext4 file system for writing");
  e.check(ext2fs_read_bitmaps(e.fs), "read the allocation bitmaps");
  std::string rel = to;
  while (!rel.empty() && rel.front() == '/') rel.erase(0, 1);
  ext2_ino_t ino = EXT2_ROOT_INO;
  if (!rel.empty()) {
    if (rel.find('/') != std::string::npos) throw Error("write_back_to_ext4: " + to + " must be a top-level directory");
    errcode_t err = ext2fs_namei(e.fs, EXT2_ROOT_INO, EXT2_ROOT_INO, rel.c_str(), &ino);
    if (err == EXT2_ET_FILE_NOT_FOUND) {  // a disk the guest never used: its upper directory begins here
      errcode_t m = ext2fs_mkdir(e.fs, EXT2_ROOT_INO, 0, rel.c_str());
      if (m == EXT2_ET_DIR_NO_SPACE) {
        e.check(ext2fs_expand_dir(e.fs, EXT2_ROOT_INO), "grow the root directory");
        m = ext2fs_mkdir(e.fs, EXT2_ROOT_INO, 0, rel.c_str());
      }
      e.check(m, "make " + to);
      err = ext2fs_namei(e.fs, EXT2_ROOT_INO, EXT2_ROOT_INO, rel.c_str(), &ino);
    }
    e.check(err, "look up " + to);
  }
  Writer(e, since).dir(ino, from, rel);
  errcode_t err = ext2fs_close_free(&e.fs);
  if (err) throw Error(disk + ": write the file system's metadata: " + ext2_err(err));
}

namespace {
// This process's scratch directory under `parent`, a leftover of an earlier
// one with its pid removed.
std::string scratch_dir(const std::string& parent) {
  std::string d = parent + "/vm-upper." + std::to_string(::getpid());
  if (path_exists(d)) remove_all(d);
  return d;
}
}  // namespace

VmUpper::VmUpper(const std::string& rw_disk, const std::string& scratch_parent, Content content) {
  if (!path_exists(rw_disk))
    throw Error("the microVM has no writable disk (" + rw_disk + "): it never started, so it changed nothing");
  dir_ = scratch_dir(scratch_parent);
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

VmUpper::VmUpper(const std::string& scratch_parent) {
  dir_ = scratch_dir(scratch_parent);
  if (::mkdir(dir_.c_str(), 0755) < 0) throw_sys("mkdir", dir_);
}

VmUpper::~VmUpper() {
  try {
    remove_all(dir_);
  } catch (const std::exception&) {
  }
}

}  // namespace hvrun::engine
