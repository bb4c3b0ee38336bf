// Internal to the 9P server (p9_server.cpp: the session, attach and walk;
// p9_files.cpp: open files, I/O, attributes, locks; p9_dirs.cpp: entries
// made, listed, renamed and removed): P9Server::Impl and the helpers the
// three share. Nothing else includes this.
#pragma once
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "util/fd.hpp"
#include "vmm/p9_fids.hpp"
#include "vmm/p9_server.hpp"
#include "vmm/p9_wire.hpp"

namespace hvrun::vmm {
namespace p9_ops {

using namespace p9;

inline constexpr uint32_t kNoUid = 0xffffffff;
inline constexpr uint32_t kNobody = 65534;
inline constexpr uint64_t kGetattrBasic = 0x7ff;
inline constexpr uint32_t kDotlAtRemovedir = 0x200;
inline constexpr size_t kMaxWalk = 16;     // names in one Twalk

inline struct stat stat_fd(int fd) {
  struct stat st{};
  check(::fstatat(fd, "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW));
  return st;
}

inline bool same_inode(const struct stat& a, const struct stat& b) { return a.st_dev == b.st_dev && a.st_ino == b.st_ino; }

// Sets a new file's owner. Running as root (passthrough) that always works;
// a VMM running unprivileged keeps its own ownership instead of failing.
inline void own(int rc) {
  if (rc < 0 && !(errno == EPERM && ::geteuid() != 0)) fail_errno();
}

inline std::string proc_fd(int fd) { return "/proc/self/fd/" + std::to_string(fd); }

// One path component from the client: not empty, no '/', no NUL. `dots`:
// "." and ".." are refused too (every use except Twalk).
inline std::string component(std::string_view s, bool dots = true) {
  if (s.empty() || s.find('/') != s.npos || s.find('\0') != s.npos) fail(EINVAL);
  if (s.size() > NAME_MAX) fail(ENAMETOOLONG);
  if (dots && (s == "." || s == "..")) fail(EINVAL);
  return std::string(s);
}

// Linux encodes rdev for the client like the kernel's new_encode_dev.
inline uint64_t encode_dev(dev_t d) {
  uint64_t ma = major(d), mi = minor(d);
  return (mi & 0xff) | (ma << 8) | ((mi & ~uint64_t{0xff}) << 12);
}

// 9P2000.L open flags (P9_DOTL_*) to host open flags, dropping the ones a
// server must not honour (O_CREAT/O_EXCL on Tlopen, O_NOCTTY, O_NONBLOCK,
// O_DIRECT, FASYNC, O_CLOEXEC/O_NOFOLLOW: we add our own).
inline int host_open_flags(uint32_t p9) {
  int acc;
  switch (p9 & 3) {
    case 0: acc = O_RDONLY; break;
    case 1: acc = O_WRONLY; break;
    case 2: acc = O_RDWR; break;
    default: fail(EINVAL);
  }
  struct FlagMap {
    uint32_t p9;
    int host;
  };
  static constexpr FlagMap kKeep[] = {
      {kDotlTrunc, O_TRUNC}, {02000, O_APPEND}, {010000, O_DSYNC}, {0100000, O_LARGEFILE},
      {0200000, O_DIRECTORY}, {01000000, O_NOATIME}, {04000000, O_SYNC},
  };
  int f = acc;
  for (const auto& k : kKeep)
    if (p9 & k.p9) f |= k.host;
  return f;
}
inline constexpr uint32_t kDotlExcl = 0200;

inline bool writes(int host_flags) { return (host_flags & O_ACCMODE) != O_RDONLY || (host_flags & O_TRUNC); }

// The reply to `request` that is one qid (Rattach, Rmkdir, Rsymlink,
// Rmknod), or a qid and an iounit of 0 ("up to msize": Rlopen, Rlcreate).
inline std::vector<uint8_t> qid_reply(uint8_t request, uint16_t tag, const struct stat& st) {
  Writer w(uint8_t(request + 1), tag);
  w.qid(st);
  return w.finish();
}
inline std::vector<uint8_t> opened_reply(uint8_t request, uint16_t tag, const struct stat& st) {
  Writer w(uint8_t(request + 1), tag);
  w.qid(st);
  w.u32(0);
  return w.finish();
}

}  // namespace p9_ops

struct P9Server::Impl {
  using Fid = P9FidTable::Fid;
  explicit Impl(P9FidTable t) : fids(std::move(t)) {}

  // Fids and the confinement rules (vmm/p9_fids.hpp).
  P9FidTable fids;
  uint32_t msize = kMaxMsize;
  bool versioned = false;

  Fid& fid(uint32_t id) { return fids.get(id); }
  int root() const { return fids.root(); }
  bool readonly() const { return fids.readonly(); }
  void modifying() {
    if (readonly()) p9::fail(EROFS);
  }

  // A file `name` just made in directory fid `dir`: owner (fid
  // uid, gid) and exactly `mode`; removed again when that fails.
  struct stat finish_new(Fid& dir, const std::string& name, uint32_t gid, uint32_t mode, bool is_dir) {
    try {
      UniqueFd p(p9::check(::openat(dir.path.get(), name.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC)));
      p9_ops::own(::fchownat(p.get(), "", dir.uid, gid, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW));
      struct stat st = p9_ops::stat_fd(p.get());
      if (!S_ISLNK(st.st_mode)) {
        p9::check(::chmod(p9_ops::proc_fd(p.get()).c_str(), mode & 07777));
        st = p9_ops::stat_fd(p.get());
      }
      return st;
    } catch (const p9::P9Errno&) {
      ::unlinkat(dir.path.get(), name.c_str(), is_dir ? AT_REMOVEDIR : 0);
      throw;
    }
  }

  std::vector<uint8_t> dispatch(uint8_t type, uint16_t tag, p9::Reader& r);
  std::vector<uint8_t> version(uint16_t tag, p9::Reader& r);
  std::vector<uint8_t> attach(uint16_t tag, p9::Reader& r);
  std::vector<uint8_t> walk(uint16_t tag, p9::Reader& r);
  std::vector<uint8_t> lopen(uint16_t tag, p9::Reader& r);
  std::vector<uint8_t> lcreate(uint16_t tag, p9::Reader& r);
  std::vector<uint8_t> read(uint16_t tag, p9::Reader& r);
  std::vector<uint8_t> write(uint16_t tag, p9::Reader& r);
  std::vector<uint8_t> remove(uint16_t tag, p9::Reader& r);
  std::vector<uint8_t> getattr(uint16_t tag, p9::Reader& r);
  std::vector<uint8_t> setattr(uint16_t tag, p9::Reader& r);
  std::vector<uint8_t> readdir(uint16_t tag, p9::Reader& r);
  std::vector<uint8_t> mkdir(uint16_t tag, p9::Reader& r);
  std::vector<uint8_t> symlink(uint16_t tag, p9::Reader& r);
  std::vector<uint8_t> readlink(uint16_t tag, p9::Reader& r);
  std::vector<uint8_t> mknod(uint16_t tag, p9::Reader& r);
  std::vector<uint8_t> rename(uint16_t tag, p9::Reader& r);
  std::vector<uint8_t> renameat(uint16_t tag, p9::Reader& r);
  std::vector<uint8_t> unlinkat(uint16_t tag, p9::Reader& r);
  std::vector<uint8_t> link(uint16_t tag, p9::Reader& r);
  std::vector<uint8_t> statfs(uint16_t tag, p9::Reader& r);
  std::vector<uint8_t> fsync(uint16_t tag, p9::Reader& r);
  std::vector<uint8_t> xattrwalk(uint16_t tag, p9::Reader& r);
  std::vector<uint8_t> lock(uint16_t tag, p9::Reader& r);
  std::vector<uint8_t> getlock(uint16_t tag, p9::Reader& r);
};

}  // namespace hvrun::vmm
