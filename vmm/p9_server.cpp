#include "vmm/p9_server.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <limits>
#include <new>
#include <string_view>
#include <unordered_map>

#include "util/error.hpp"
#include "util/fd.hpp"
#include "vmm/p9_fids.hpp"
#include "vmm/p9_wire.hpp"

namespace hvrun::vmm {

namespace {

using namespace p9;

constexpr uint32_t kNoUid = 0xffffffff;
constexpr uint32_t kNobody = 65534;
constexpr uint64_t kGetattrBasic = 0x7ff;
constexpr uint32_t kDotlAtRemovedir = 0x200;
constexpr size_t kMaxWalk = 16;     // names in one Twalk

struct stat stat_fd(int fd) {
  struct stat st{};
  check(::fstatat(fd, "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW));
  return st;
}

bool same_inode(const struct stat& a, const struct stat& b) { return a.st_dev == b.st_dev && a.st_ino == b.st_ino; }

// Sets a new file's owner. Running as root (passthrough) that always works;
// a VMM running unprivileged keeps its own ownership instead of failing.
void own(int rc) {
  if (rc < 0 && !(errno == EPERM && ::geteuid() != 0)) fail_errno();
}

std::string proc_fd(int fd) { return "/proc/self/fd/" + std::to_string(fd); }

// One path component from the client: not empty, no '/', no NUL. `dots`:
// "." and ".." are refused too (every use except Twalk).
std::string component(std::string_view s, bool dots = true) {
  if (s.empty() || s.find('/') != s.npos || s.find('\0') != s.npos) fail(EINVAL);
  if (s.size() > NAME_MAX) fail(ENAMETOOLONG);
  if (dots && (s == "." || s == "..")) fail(EINVAL);
  return std::string(s);
}

// Linux encodes rdev for the client like the kernel's new_encode_dev.
uint64_t encode_dev(dev_t d) {
  uint64_t ma = major(d), mi = minor(d);
  return (mi & 0xff) | (ma << 8) | ((mi & ~uint64_t{0xff}) << 12);
}

// 9P2000.L open flags (P9_DOTL_*) to host open flags, dropping the ones a
// server must not honour (O_CREAT/O_EXCL on Tlopen, O_NOCTTY, O_NONBLOCK,
// O_DIRECT, FASYNC, O_CLOEXEC/O_NOFOLLOW: we add our own).
int host_open_flags(uint32_t p9) {
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
constexpr uint32_t kDotlExcl = 0200;

bool writes(int host_flags) { return (host_flags & O_ACCMODE) != O_RDONLY || (host_flags & O_TRUNC); }

}  // namespace

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
    if (readonly()) fail(EROFS);
  }

  // A file `name` just made in directory fid `dir`: owner (fid
  // uid, gid) and exactly `mode`; removed again when that fails.
  struct stat finish_new(Fid& dir, const std::string& name, uint32_t gid, uint32_t mode, bool is_dir) {
    try {
      UniqueFd p(check(::openat(dir.path.get(), name.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC)));
      own(::fchownat(p.get(), "", dir.uid, gid, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW));
      struct stat st = stat_fd(p.get());
      if (!S_ISLNK(st.st_mode)) {
        check(::chmod(proc_fd(p.get()).c_str(), mode & 07777));
        st = stat_fd(p.get());
      }
      return st;
    } catch (const P9Errno&) {
      ::unlinkat(dir.path.get(), name.c_str(), is_dir ? AT_REMOVEDIR : 0);
      throw;
    }
  }

  std::vector<uint8_t> dispatch(uint8_t type, uint16_t tag, Reader& r);
  std::vector<uint8_t> version(uint16_t tag, Reader& r);
  std::vector<uint8_t> attach(uint16_t tag, Reader& r);
  std::vector<uint8_t> walk(uint16_t tag, Reader& r);
  std::vector<uint8_t> lopen(uint16_t tag, Reader& r);
  std::vector<uint8_t> lcreate(uint16_t tag, Reader& r);
  std::vector<uint8_t> read(uint16_t tag, Reader& r);
  std::vector<uint8_t> write(uint16_t tag, Reader& r);
  std::vector<uint8_t> remove(uint16_t tag, Reader& r);
  std::vector<uint8_t> getattr(uint16_t tag, Reader& r);
  std::vector<uint8_t> setattr(uint16_t tag, Reader& r);
  std::vector<uint8_t> readdir(uint16_t tag, Reader& r);
  std::vector<uint8_t> mkdir(uint16_t tag, Reader& r);
  std::vector<uint8_t> symlink(uint16_t tag, Reader& r);
  std::vector<uint8_t> readlink(uint16_t tag, Reader& r);
  std::vector<uint8_t> mknod(uint16_t tag, Reader& r);
  std::vector<uint8_t> rename(uint16_t tag, Reader& r);
  std::vector<uint8_t> renameat(uint16_t tag, Reader& r);
  std::vector<uint8_t> unlinkat(uint16_t tag, Reader& r);
  std::vector<uint8_t> link(uint16_t tag, Reader& r);
  std::vector<uint8_t> statfs(uint16_t tag, Reader& r);
  std::vector<uint8_t> fsync(uint16_t tag, Reader& r);
  std::vector<uint8_t> xattrwalk(uint16_t tag, Reader& r);
  std::vector<uint8_t> lock(uint16_t tag, Reader& r);
  std::vector<uint8_t> getlock(uint16_t tag, Reader& r);
};

std::vector<uint8_t> P9Server::Impl::dispatch(uint8_t type, uint16_t tag, Reader& r) {
  if (type == kTversion) return version(tag, r);
  if (!versioned) fail(EPROTO);
  switch (type) {
    case kTattach: return attach(tag, r);
    case kTwalk: return walk(tag, r);
    case kTlopen: return lopen(tag, r);
    case kTlcreate: return lcreate(tag, r);
    case kTread: return read(tag, r);
    case kTwrite: return write(tag, r);
    case kTclunk: {
      uint32_t id = r.u32();
      if (!fids.drop(id)) fail(EBADF);
      return Writer(kTclunk + 1, tag).finish();
    }
    case kTremove: return remove(tag, r);
    case kTgetattr: return getattr(tag, r);
    case kTsetattr: return setattr(tag, r);
    case kTreaddir: return readdir(tag, r);
    case kTmkdir: return mkdir(tag, r);
    case kTsymlink: return symlink(tag, r);
    case kTreadlink: return readlink(tag, r);
    case kTmknod: return mknod(tag, r);
    case kTrename: return rename(tag, r);
    case kTrenameat: return renameat(tag, r);
    case kTunlinkat: return unlinkat(tag, r);
    case kTlink: return link(tag, r);
    case kTstatfs: return statfs(tag, r);
    case kTfsync: return fsync(tag, r);
    case kTflush:
      r.u16();  // oldtag: already answered (virtio_9p.cpp sends every earlier reply before this one)
      return Writer(kTflush + 1, tag).finish();
    case kTxattrwalk: return xattrwalk(tag, r);
    case kTxattrcreate: fid(r.u32()); fail(EOPNOTSUPP);
    case kTlock: return lock(tag, r);
    case kTgetlock: return getlock(tag, r);
    default: fail(EOPNOTSUPP);
  }
}

// Tversion msize[4] version[s] -> Rversion msize[4] version[s]. Starts a new
// session: every fid is dropped.
std::vector<uint8_t> P9Server::Impl::version(uint16_t tag, Reader& r) {
  uint32_t want = r.u32();
  std::string_view ver = r.str();
  fids.clear();
  versioned = false;
  msize = kMaxMsize;
  Writer w(kTversion + 1, tag);
  if (ver != "9P2000.L") {
    w.u32(std::min(want, kMaxMsize));
    w.str("unknown");
    return w.finish();
  }
  if (want < kMinMsize) fail(EINVAL);
  msize = std::min(want, kMaxMsize);
  versioned = true;
  w.u32(msize);
  w.str("9P2000.L");
  return w.finish();
}

// Tattach fid[4] afid[4] uname[s] aname[s] n_uname[4] -> qid. aname is
// ignored: the one share is the only tree.
std::vector<uint8_t> P9Server::Impl::attach(uint16_t tag, Reader& r) {
  uint32_t id = r.u32(), afid = r.u32();
  r.str();
  r.str();
  uint32_t uid = r.u32();
  if (afid != kNoFid) fail(EBADF);  // no Tauth, so no auth fid
  fids.check_new(id);
  Fid f;
  f.path.reset(check(::fcntl(root(), F_DUPFD_CLOEXEC, 0)));
  f.uid = uid == kNoUid ? kNobody : uid;
  struct stat st = stat_fd(f.path.get());
  fids.bind(id, std::move(f));
  Writer w(kTattach + 1, tag);
  w.qid(st);
  return w.finish();
}

// Twalk fid[4] newfid[4] nwname[2] nwname*wname[s] -> nwqid[2] nwqid*qid.
// The first name failing is an error; a later one ends the walk early
// (fewer qids, newfid not bound). No names: newfid is a clone of fid.
std::vector<uint8_t> P9Server::Impl::walk(uint16_t tag, Reader& r) {
  uint32_t id = r.u32(), newid = r.u32();
  uint16_t n = r.u16();
  if (n > kMaxWalk) fail(EINVAL);
  std::vector<std::string_view> names(n);
  for (auto& s : names) s = r.str();
  Fid& from = fid(id);
  if (newid != id) fids.check_new(newid);

  UniqueFd cur(check(::fcntl(from.path.get(), F_DUPFD_CLOEXEC, 0)));
  std::string rel = from.rel;
  Writer w(kTwalk + 1, tag);
  w.u16(0);  // nwqid, patched below
  uint16_t done = 0;
  for (std::string_view raw : names) {
    try {
      UniqueFd next;
      std::string next_rel;
      if (raw == "." || raw == "..") {
        if (!S_ISDIR(stat_fd(cur.get()).st_mode)) fail(ENOTDIR);
        if (raw == "." || rel.empty()) {
          next.reset(check(::fcntl(cur.get(), F_DUPFD_CLOEXEC, 0)));
          next_rel = rel;
        } else {
          size_t slash = rel.rfind('/');
          next_rel = slash == std::string::npos ? "" : rel.substr(0, slash);
          next = fids.beneath(next_rel, O_PATH | O_DIRECTORY);
        }
      } else {
        std::string name = component(raw, false);
        next.reset(check(::openat(cur.get(), name.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC)));
        next_rel = p9_join(rel, name);
      }
      w.qid(stat_fd(next.get()));
      cur = std::move(next);
      rel = std::move(next_rel);
      ++done;
    } catch (const P9Errno&) {
      if (done == 0) throw;
      break;
    }
  }
  if (done == n) {
    Fid f;
    f.path = std::move(cur);
    f.rel = std::move(rel);
    f.uid = from.uid;
    fids.bind(newid, std::move(f));  // newid == id: replaces it
  }
  std::vector<uint8_t>& b = w.buf();
  b[kHeader] = static_cast<uint8_t>(done);
  b[kHeader + 1] = static_cast<uint8_t>(done >> 8);
  return w.finish();
}

// Tlopen fid[4] flags[4] -> qid iounit[4]
std::vector<uint8_t> P9Server::Impl::lopen(uint16_t tag, Reader& r) {
  Fid& f = fid(r.u32());
  uint32_t p9flags = r.u32();
  if (f.open || f.xattr) fail(EINVAL);
  int flags = host_open_flags(p9flags);
  if (readonly() && writes(flags)) fail(EROFS);
  struct stat st = stat_fd(f.path.get());
  if (S_ISLNK(st.st_mode)) fail(ELOOP);  // the client resolves links, never the server
  if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) fail(EPERM);
  if (S_ISFIFO(st.st_mode)) flags |= O_NONBLOCK;  // an open must not wait for a peer
  f.open = fids.reopen(f.path.get(), st, flags);
  Writer w(kTlopen + 1, tag);
  w.qid(st);
  w.u32(0);
  return w.finish();
}

// Tlcreate fid[4] name[s] flags[4] mode[4] gid[4] -> qid iounit[4]. The fid
// (a directory) becomes the new, open file.
std::vector<uint8_t> P9Server::Impl::lcreate(uint16_t tag, Reader& r) {
  Fid& dir = fid(r.u32());
  std::string_view raw = r.str();
  uint32_t p9flags = r.u32(), mode = r.u32(), gid = r.u32();
  modifying();
  std::string name = component(raw);
  if (dir.open || dir.xattr) fail(EINVAL);
  std::string rel = p9_join(dir.rel, name);  // before anything is made: it may fail
  fids.check_growth(dir.rel.size(), rel.size());
  int flags = host_open_flags(p9flags) & ~O_DIRECTORY;
  int fd;
  do fd = ::openat(dir.path.get(), name.c_str(), flags | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode & 07777);
  while (fd < 0 && errno == EINTR);
  bool created = fd >= 0;
  if (!created && errno == EEXIST && !(p9flags & kDotlExcl)) {
    // Without O_EXCL an existing regular file is opened as it is: the
    // inode checked is the inode opened (a FIFO or device node renamed in
    // between must never be opened: it could block or reach a device).
    UniqueFd existing(check(::openat(dir.path.get(), name.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC)));
    struct stat st = stat_fd(existing.get());
    if (!S_ISREG(st.st_mode)) fail(S_ISLNK(st.st_mode) ? ELOOP : EEXIST);
    fd = fids.reopen(existing.get(), st, flags).release();
  }
  UniqueFd file(check(fd));
  UniqueFd path;
  struct stat st{};
  try {
    path.reset(check(::openat(dir.path.get(), name.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC)));
    if (created) {
      own(::fchown(file.get(), dir.uid, gid));
      check(::fchmod(file.get(), mode & 07777));
    }
    st = stat_fd(file.get());
    if (!same_inode(st, stat_fd(path.get()))) fail(ESTALE);
  } catch (const P9Errno&) {
    if (created) ::unlinkat(dir.path.get(), name.c_str(), 0);
    throw;
  }
  fids.set_rel(dir, std::move(rel));
  dir.path = std::move(path);
  dir.open = std::move(file);
  Writer w(kTlcreate + 1, tag);
  w.qid(st);
  w.u32(0);
  return w.finish();
}

// Tread fid[4] offset[8] count[4] -> count[4] data
std::vector<uint8_t> P9Server::Impl::read(uint16_t tag, Reader& r) {
  Fid& f = fid(r.u32());
  uint64_t off = r.u64();
  uint32_t count = r.u32();
  if (f.xattr) {  // the (empty) xattr list
    Writer w(kTread + 1, tag);
    w.u32(0);
    return w.finish();
  }
  if (!f.open) fail(EBADF);
  if (off > uint64_t{INT64_MAX}) fail(EINVAL);
  count = std::min<uint32_t>(count, msize - kIoHeader);
  Writer w(kTread + 1, tag);
  w.u32(0);
  std::vector<uint8_t>& b = w.buf();
  b.resize(kIoHeader + count);
  ssize_t n;
  do n = ::pread(f.open.get(), b.data() + kIoHeader, count, static_cast<off_t>(off));
  while (n < 0 && errno == EINTR);
  check(n);
  b.resize(kIoHeader + static_cast<size_t>(n));
  for (int i = 0; i < 4; ++i) b[kHeader + i] = static_cast<uint8_t>(static_cast<uint32_t>(n) >> (8 * i));
  return w.finish();
}

// Twrite fid[4] offset[8] count[4] data[count] -> count[4]
std::vector<uint8_t> P9Server::Impl::write(uint16_t tag, Reader& r) {
  Fid& f = fid(r.u32());
  uint64_t off = r.u64();
  uint32_t count = r.u32();
  std::span<const uint8_t> data = r.bytes(count);
  modifying();
  if (!f.open) fail(EBADF);
  if (off > uint64_t{INT64_MAX}) fail(EINVAL);
  ssize_t n;
  do n = ::pwrite(f.open.get(), data.data(), data.size(), static_cast<off_t>(off));
  while (n < 0 && errno == EINTR);
  check(n);
  Writer w(kTwrite + 1, tag);
  w.u32(static_cast<uint32_t>(n));
  return w.finish();
}

// Tremove fid[4]: unlinks the fid's file; the fid is clunked either way.
std::vector<uint8_t> P9Server::Impl::remove(uint16_t tag, Reader& r) {
  uint32_t id = r.u32();
  Fid f = std::move(fid(id));
  fids.drop(id);
  modifying();
  std::string name;
  UniqueFd parent = fids.parent_of(f, name);
  bool is_dir = S_ISDIR(stat_fd(f.path.get()).st_mode);
  check(::unlinkat(parent.get(), name.c_str(), is_dir ? AT_REMOVEDIR : 0));
  return Writer(kTremove + 1, tag).finish();
}

// Tgetattr fid[4] request_mask[8] -> valid[8] qid mode[4] uid[4] gid[4]
// nlink[8] rdev[8] size[8] blksize[8] blocks[8] atime mtime ctime btime
// (sec[8] nsec[8] each) gen[8] data_version[8]
std::vector<uint8_t> P9Server::Impl::getattr(uint16_t tag, Reader& r) {
  Fid& f = fid(r.u32());
  r.u64();
  struct stat st = stat_fd(f.open ? f.open.get() : f.path.get());
  Writer w(kTgetattr + 1, tag);
  w.u64(kGetattrBasic);
  w.qid(st);
  w.u32(st.st_mode);
  w.u32(st.st_uid);
  w.u32(st.st_gid);
  w.u64(st.st_nlink);
  w.u64(encode_dev(st.st_rdev));
  w.u64(static_cast<uint64_t>(st.st_size));
  w.u64(static_cast<uint64_t>(st.st_blksize));
  w.u64(static_cast<uint64_t>(st.st_blocks));
  for (const struct timespec& t : {st.st_atim, st.st_mtim, st.st_ctim}) {
    w.u64(static_cast<uint64_t>(t.tv_sec));
    w.u64(static_cast<uint64_t>(t.tv_nsec));
  }
  for (int i = 0; i < 4; ++i) w.u64(0);  // btime sec/nsec, gen, data_version
  return w.finish();
}

// Tsetattr fid[4] valid[4] mode[4] uid[4] gid[4] size[8] atime_sec[8]
// atime_nsec[8] mtime_sec[8] mtime_nsec[8]. Order: owner, mode (so a chown
// does not clear a setuid bit just set), size, then times (so a truncate
// does not overwrite times just set). On a symlink nothing follows it.
std::vector<uint8_t> P9Server::Impl::setattr(uint16_t tag, Reader& r) {
  Fid& f = fid(r.u32());
  uint32_t valid = r.u32(), mode = r.u32(), uid = r.u32(), gid = r.u32();
  uint64_t size = r.u64(), asec = r.u64(), ansec = r.u64(), msec = r.u64(), mnsec = r.u64();
  modifying();
  int pfd = f.path.get();
  struct stat st = stat_fd(pfd);
  if (valid & (kSetUid | kSetGid)) {
    check(::fchownat(pfd, "", (valid & kSetUid) ? uid : static_cast<uid_t>(-1), (valid & kSetGid) ? gid : static_cast<gid_t>(-1),
                     AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW));
  }
  if (valid & kSetMode) {
    if (S_ISLNK(st.st_mode)) fail(EOPNOTSUPP);  // like fchmodat(AT_SYMLINK_NOFOLLOW)
    check(::chmod(proc_fd(pfd).c_str(), mode & 07777));
  }
  if (valid & kSetSize) {
    if (S_ISDIR(st.st_mode)) fail(EISDIR);
    if (!S_ISREG(st.st_mode)) fail(EINVAL);
    if (size > uint64_t{INT64_MAX}) fail(EFBIG);
    check(::truncate(proc_fd(pfd).c_str(), static_cast<off_t>(size)));
  }
  if (valid & (kSetAtime | kSetMtime)) {
    struct timespec ts[2];
    ts[0].tv_sec = 0;
    ts[0].tv_nsec = !(valid & kSetAtime) ? UTIME_OMIT : (valid & kSetAtimeSet) ? 0 : UTIME_NOW;
    ts[1].tv_sec = 0;
    ts[1].tv_nsec = !(valid & kSetMtime) ? UTIME_OMIT : (valid & kSetMtimeSet) ? 0 : UTIME_NOW;
    if ((valid & kSetAtime) && (valid & kSetAtimeSet)) {
      if (ansec >= 1000000000) fail(EINVAL);
      ts[0].tv_sec = static_cast<time_t>(asec);
      ts[0].tv_nsec = static_cast<long>(ansec);
    }
    if ((valid & kSetMtime) && (valid & kSetMtimeSet)) {
      if (mnsec >= 1000000000) fail(EINVAL);
      ts[1].tv_sec = static_cast<time_t>(msec);
      ts[1].tv_nsec = static_cast<long>(mnsec);
    }
    check(::utimensat(pfd, "", ts, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW));
  }
  return Writer(kTsetattr + 1, tag).finish();
}

// Treaddir fid[4] offset[8] count[4] -> count[4] { qid offset[8] type[1]
// name[s] }*. Offsets are the directory's own cookies (getdents64 d_off),
// so they stay valid across calls.
std::vector<uint8_t> P9Server::Impl::readdir(uint16_t tag, Reader& r) {
  Fid& f = fid(r.u32());
  uint64_t off = r.u64();
  uint32_t count = r.u32();
  if (!f.open) fail(EBADF);
  count = std::min<uint32_t>(count, msize - kIoHeader);
  if (off > uint64_t{INT64_MAX}) fail(EINVAL);
  int fd = f.open.get();
  check(::lseek(fd, static_cast<off_t>(off), SEEK_SET));
  Writer w(kTreaddir + 1, tag);
  w.u32(0);
  std::vector<uint8_t>& b = w.buf();
  std::vector<uint8_t> ents(std::min<size_t>(count + 1024, 64 * 1024));
  bool full = false, any = false, saw = false;
  while (!full) {
    ssize_t n = ::getdents64(fd, ents.data(), ents.size());
    check(n);
    if (n == 0) break;
    for (size_t p = 0; p < static_cast<size_t>(n);) {
      uint64_t ino, doff;
      uint16_t reclen;
      uint8_t dtype;
      std::memcpy(&ino, &ents[p], 8);
      std::memcpy(&doff, &ents[p + 8], 8);
      std::memcpy(&reclen, &ents[p + 16], 2);
      std::memcpy(&dtype, &ents[p + 18], 1);
      const char* name = reinterpret_cast<const char*>(&ents[p + 19]);
      size_t len = strnlen(name, reclen - 19);
      p += reclen;
      saw = true;
      size_t need = 13 + 8 + 1 + 2 + len;
      if (b.size() - kIoHeader + need > count) {
        full = true;
        break;
      }
      // The qid from a stat of the entry, as Tgetattr will report it (d_ino
      // differs from st_ino on overlayfs; d_type may be DT_UNKNOWN). ".."
      // of the share root is the root itself.
      std::string_view nm(name, len);
      struct stat est{};
      int rc = (nm == ".." && f.rel.empty()) ? ::fstatat(root(), "", &est, AT_EMPTY_PATH)
                                             : ::fstatat(fd, std::string(nm).c_str(), &est, AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT);
      if (rc == 0) {
        w.qid(est);
        dtype = static_cast<uint8_t>(IFTODT(est.st_mode));
      } else {  // gone meanwhile: what getdents said
        w.u8(dtype == DT_DIR ? kQtDir : dtype == DT_LNK ? kQtSymlink : kQtFile);
        w.u32(0);
        w.u64(ino);
      }
      w.u64(doff);
      w.u8(dtype);
      w.str(nm);
      any = true;
    }
  }
  if (saw && !any) fail(EINVAL);  // count too small for even one entry
  uint32_t n = static_cast<uint32_t>(b.size() - kIoHeader);
  for (int i = 0; i < 4; ++i) b[kHeader + i] = static_cast<uint8_t>(n >> (8 * i));
  return w.finish();
}

// Tmkdir dfid[4] name[s] mode[4] gid[4] -> qid
std::vector<uint8_t> P9Server::Impl::mkdir(uint16_t tag, Reader& r) {
  Fid& dir = fid(r.u32());
  std::string_view raw = r.str();
  uint32_t mode = r.u32(), gid = r.u32();
  modifying();
  std::string name = component(raw);
  check(::mkdirat(dir.path.get(), name.c_str(), mode & 07777));
  struct stat st = finish_new(dir, name, gid, mode, true);
  Writer w(kTmkdir + 1, tag);
  w.qid(st);
  return w.finish();
}

// Tsymlink fid[4] name[s] symtgt[s] gid[4] -> qid. The target is only
// stored, never resolved here.
std::vector<uint8_t> P9Server::Impl::symlink(uint16_t tag, Reader& r) {
  Fid& dir = fid(r.u32());
  std::string_view raw = r.str(), target = r.str();
  uint32_t gid = r.u32();
  modifying();
  std::string name = component(raw);
  if (target.empty()) fail(ENOENT);
  if (target.find('\0') != target.npos) fail(EINVAL);
  check(::symlinkat(std::string(target).c_str(), dir.path.get(), name.c_str()));
  struct stat st = finish_new(dir, name, gid, 0777, false);
  Writer w(kTsymlink + 1, tag);
  w.qid(st);
  return w.finish();
}

// Treadlink fid[4] -> target[s]
std::vector<uint8_t> P9Server::Impl::readlink(uint16_t tag, Reader& r) {
  Fid& f = fid(r.u32());
  char buf[PATH_MAX];
  ssize_t n = check(::readlinkat(f.path.get(), "", buf, sizeof buf));
  if (static_cast<size_t>(n) >= sizeof buf) fail(ENAMETOOLONG);
  if (kHeader + 2 + static_cast<size_t>(n) > msize) fail(ENAMETOOLONG);  // the reply must fit msize
  Writer w(kTreadlink + 1, tag);
  w.str(std::string_view(buf, static_cast<size_t>(n)));
  return w.finish();
}

// Tmknod dfid[4] name[s] mode[4] major[4] minor[4] gid[4] -> qid. Fifos,
// sockets and regular files only: device nodes would hand the guest host
// devices.
std::vector<uint8_t> P9Server::Impl::mknod(uint16_t tag, Reader& r) {
  Fid& dir = fid(r.u32());
  std::string_view raw = r.str();
  uint32_t mode = r.u32();
  r.u32();
  r.u32();
  uint32_t gid = r.u32();
  modifying();
  std::string name = component(raw);
  mode_t type = mode & S_IFMT;
  if (type == S_IFCHR || type == S_IFBLK) fail(EPERM);
  if (type == 0) type = S_IFREG;
  if (type != S_IFIFO && type != S_IFSOCK && type != S_IFREG) fail(EINVAL);
  check(::mknodat(dir.path.get(), name.c_str(), type | (mode & 07777), 0));
  struct stat st = finish_new(dir, name, gid, mode, false);
  Writer w(kTmknod + 1, tag);
  w.qid(st);
  return w.finish();
}

// Trename fid[4] dfid[4] name[s]: moves the fid's file into dfid as name.
std::vector<uint8_t> P9Server::Impl::rename(uint16_t tag, Reader& r) {
  Fid& f = fid(r.u32());
  Fid& dir = fid(r.u32());
  std::string_view raw = r.str();
  modifying();
  std::string name = component(raw);
  std::string old_name;
  UniqueFd parent = fids.parent_of(f, old_name);
  const std::string to_rel = p9_join(dir.rel, name);  // every check before the rename
  fids.check_move(f.rel, to_rel);
  check(::renameat(parent.get(), old_name.c_str(), dir.path.get(), name.c_str()));
  fids.moved(f.rel, to_rel);
  return Writer(kTrename + 1, tag).finish();
}

// Trenameat olddirfid[4] oldname[s] newdirfid[4] newname[s]
std::vector<uint8_t> P9Server::Impl::renameat(uint16_t tag, Reader& r) {
  Fid& from = fid(r.u32());
  std::string_view raw_old = r.str();
  Fid& to = fid(r.u32());
  std::string_view raw_new = r.str();
  modifying();
  std::string old_name = component(raw_old), new_name = component(raw_new);
  const std::string from_rel = p9_join(from.rel, old_name), to_rel = p9_join(to.rel, new_name);  // before the rename
  fids.check_move(from_rel, to_rel);
  check(::renameat(from.path.get(), old_name.c_str(), to.path.get(), new_name.c_str()));
  fids.moved(from_rel, to_rel);
  return Writer(kTrenameat + 1, tag).finish();
}

// Tunlinkat dirfd[4] name[s] flags[4]
std::vector<uint8_t> P9Server::Impl::unlinkat(uint16_t tag, Reader& r) {
  Fid& dir = fid(r.u32());
  std::string_view raw = r.str();
  uint32_t flags = r.u32();
  modifying();
  std::string name = component(raw);
  check(::unlinkat(dir.path.get(), name.c_str(), (flags & kDotlAtRemovedir) ? AT_REMOVEDIR : 0));
  return Writer(kTunlinkat + 1, tag).finish();
}

// Tlink dfid[4] fid[4] name[s]: a hard link to the fid's inode itself (a
// symlink fid links the symlink, never its target).
std::vector<uint8_t> P9Server::Impl::link(uint16_t tag, Reader& r) {
  Fid& dir = fid(r.u32());
  Fid& f = fid(r.u32());
  std::string_view raw = r.str();
  modifying();
  std::string name = component(raw);
  check(::linkat(f.path.get(), "", dir.path.get(), name.c_str(), AT_EMPTY_PATH));
  return Writer(kTlink + 1, tag).finish();
}

// Tstatfs fid[4] -> type[4] bsize[4] blocks[8] bfree[8] bavail[8] files[8]
// ffree[8] fsid[8] namelen[4]
std::vector<uint8_t> P9Server::Impl::statfs(uint16_t tag, Reader& r) {
  Fid& f = fid(r.u32());
  struct statfs s{};
  check(::fstatfs(f.path.get(), &s));
  uint64_t fsid;
  std::memcpy(&fsid, &s.f_fsid, sizeof fsid);
  Writer w(kTstatfs + 1, tag);
  w.u32(static_cast<uint32_t>(s.f_type));
  w.u32(static_cast<uint32_t>(s.f_bsize));
  w.u64(s.f_blocks);
  w.u64(s.f_bfree);
  w.u64(s.f_bavail);
  w.u64(s.f_files);
  w.u64(s.f_ffree);
  w.u64(fsid);
  w.u32(static_cast<uint32_t>(s.f_namelen));
  return w.finish();
}

// Tfsync fid[4] datasync[4]
std::vector<uint8_t> P9Server::Impl::fsync(uint16_t tag, Reader& r) {
  Fid& f = fid(r.u32());
  uint32_t datasync = r.u32();
  if (!f.open) fail(EBADF);
  check(datasync ? ::fdatasync(f.open.get()) : ::fsync(f.open.get()));
  return Writer(kTfsync + 1, tag).finish();
}

// Txattrwalk fid[4] newfid[4] name[s] -> size[8]. No extended attributes
// are exported: the list (name "") is empty, any one name is ENODATA.
std::vector<uint8_t> P9Server::Impl::xattrwalk(uint16_t tag, Reader& r) {
  uint32_t id = r.u32(), newid = r.u32();
  std::string_view name = r.str();
  Fid& f = fid(id);
  if (!name.empty()) fail(ENODATA);
  if (newid != id) fids.check_new(newid);
  Fid x;
  x.path.reset(check(::fcntl(f.path.get(), F_DUPFD_CLOEXEC, 0)));
  x.rel = f.rel;
  x.uid = f.uid;
  x.xattr = true;
  fids.bind(newid, std::move(x));
  Writer w(kTxattrwalk + 1, tag);
  w.u64(0);
  return w.finish();
}

// Byte-range locks are open-file-description (OFD) locks on the host file,
// so they conflict with locks of host processes and of other VMs on the
// same file, as a bind mount's would. A guest's POSIX locks belong to its
// processes, not to its open files: each (fid, proc_id) gets an open file
// description of its own, so one guest process's lock is not dropped when
// another process sharing the file (a forked child) closes it, and is
// released when its owner unlocks the whole file (what a close sends) or
// the fid is clunked. The guest kernel keeps its own processes apart first
// and retries a BLOCKED blocking request.
namespace {
constexpr uint8_t kLockRd = 0, kLockWr = 1, kLockUn = 2;                 // P9_LOCK_TYPE_*
constexpr uint8_t kLockSuccess = 0, kLockBlocked = 1, kLockError = 2;   // P9_LOCK_*
constexpr size_t kMaxLockOwners = 64;  // per fid: each holds an fd

// The flock for a 9P range; false when it cannot be one (bad type, range past off_t).
bool to_flock(uint8_t type, uint64_t start, uint64_t length, struct flock& fl) {
  fl = {};
  switch (type) {
    case kLockRd: fl.l_type = F_RDLCK; break;
    case kLockWr: fl.l_type = F_WRLCK; break;
    case kLockUn: fl.l_type = F_UNLCK; break;
    default: return false;
  }
  constexpr uint64_t kMax = static_cast<uint64_t>(std::numeric_limits<off_t>::max());
  if (start > kMax || length > kMax || (length != 0 && length - 1 > kMax - start)) return false;
  fl.l_whence = SEEK_SET;
  fl.l_start = static_cast<off_t>(start);
  fl.l_len = static_cast<off_t>(length);  // 0: to the end of the file, and beyond
  return true;
}
}  // namespace

// Tlock fid[4] type[1] flags[4] start[8] length[8] proc_id[4] client_id[s]
// -> status[1]
std::vector<uint8_t> P9Server::Impl::lock(uint16_t tag, Reader& r) {
  Fid& f = fid(r.u32());
  uint8_t type = r.u8();
  r.u32();  // flags (BLOCK, RECLAIM): the client retries a blocked request itself
  uint64_t start = r.u64(), length = r.u64();
  const uint32_t proc = r.u32();
  r.str();
  if (!f.open) fail(EBADF);
  struct flock fl{};
  uint8_t status = kLockError;
  if (to_flock(type, start, length, fl)) {
    auto it = f.lock_fds.find(proc);
    if (fl.l_type == F_UNLCK) {
      if (it == f.lock_fds.end()) {
        status = kLockSuccess;  // nothing held
      } else if (::fcntl(it->second.get(), F_OFD_SETLK, &fl) == 0) {
        status = kLockSuccess;
        if (start == 0 && length == 0) f.lock_fds.erase(it);  // holds nothing now
      }
    } else {
      int fd = it == f.lock_fds.end() ? -1 : it->second.get();
      if (fd < 0) {
        struct stat st = stat_fd(f.open.get());
        if (!S_ISREG(st.st_mode)) fail(EINVAL);
        if (f.lock_fds.size() >= kMaxLockOwners) fail(ENOLCK);
        int acc = ::fcntl(f.open.get(), F_GETFL) & O_ACCMODE;
        fd = (f.lock_fds[proc] = fids.reopen(f.path.get(), st, acc)).get();
      }
      if (::fcntl(fd, F_OFD_SETLK, &fl) == 0)
        status = kLockSuccess;
      else if (errno == EAGAIN || errno == EACCES)
        status = kLockBlocked;
    }
  }
  Writer w(kTlock + 1, tag);
  w.u8(status);
  return w.finish();
}

// Tgetlock fid[4] type[1] start[8] length[8] proc_id[4] client_id[s] ->
// type[1] start[8] length[8] proc_id[4] client_id[s]: the first lock that
// would conflict, or the request with type UNLCK when none would.
std::vector<uint8_t> P9Server::Impl::getlock(uint16_t tag, Reader& r) {
  Fid& f = fid(r.u32());
  uint8_t type = r.u8();
  uint64_t start = r.u64(), length = r.u64();
  uint32_t proc = r.u32();
  std::string_view client = r.str();
  if (!f.open) fail(EBADF);
  struct flock fl{};
  if (type == kLockUn || !to_flock(type, start, length, fl)) fail(EINVAL);
  // Through the owner's own description, so that its own locks do not
  // show as conflicts.
  auto it = f.lock_fds.find(proc);
  check(::fcntl(it != f.lock_fds.end() ? it->second.get() : f.open.get(), F_OFD_GETLK, &fl));
  Writer w(kTgetlock + 1, tag);
  if (fl.l_type == F_UNLCK) {
    w.u8(kLockUn);
    w.u64(start);
    w.u64(length);
    w.u32(proc);
  } else {
    w.u8(fl.l_type == F_WRLCK ? kLockWr : kLockRd);
    w.u64(static_cast<uint64_t>(fl.l_start));
    w.u64(static_cast<uint64_t>(fl.l_len));
    w.u32(fl.l_pid > 0 ? static_cast<uint32_t>(fl.l_pid) : 0);  // an OFD lock has no pid
  }
  w.str(client);
  return w.finish();
}

P9Server::P9Server(const std::string& root, bool readonly, size_t max_fids, size_t max_path_bytes) {
  UniqueFd root_fd(::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root_fd) {
    if (errno == ENOTDIR) throw Error("9p share " + root + " is not a directory", ENOTDIR);
    throw_sys("open 9p share", root);
  }
  impl_ = std::make_unique<Impl>(P9FidTable(std::move(root_fd), readonly, max_fids, max_path_bytes));
  // Opening a fid's inode for I/O goes through /proc/self/fd.
  if (::access("/proc/self/fd", X_OK) != 0) throw_sys("9p share " + root + " needs /proc mounted: access", "/proc/self/fd");
}

P9Server::~P9Server() = default;

std::vector<uint8_t> P9Server::handle(std::span<const uint8_t> request) {
  uint16_t tag = kNoTag;
  try {
    if (request.size() < kHeader) return lerror(kNoTag, EPROTO);
    Reader r(request);
    uint32_t size = r.u32();
    uint8_t type = r.u8();
    tag = r.u16();
    if (size != request.size()) return lerror(tag, EPROTO);
    if (size > impl_->msize) return lerror(tag, EMSGSIZE);
    return impl_->dispatch(type, tag, r);
  } catch (const P9Errno& e) {
    return lerror(tag, e.err);
  } catch (const std::bad_alloc&) {
    return lerror(tag, ENOMEM);
  } catch (...) {
    return lerror(tag, EIO);
  }
}

void P9Server::reset() {
  impl_->fids.clear();
  impl_->msize = kMaxMsize;
  impl_->versioned = false;
}

uint32_t P9Server::msize() const { return impl_->msize; }
size_t P9Server::fid_count() const { return impl_->fids.size(); }

}  // namespace hvrun::vmm
