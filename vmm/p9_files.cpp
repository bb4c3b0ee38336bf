// The 9P server's requests on open files (p9_server.hpp): open and create,
// read and write, attributes, statfs, fsync, the (empty) xattr list and
// byte-range locks.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <limits>
#include <string_view>

#include "util/error.hpp"
#include "util/fd.hpp"
#include "vmm/p9_server_impl.hpp"

namespace hvrun::vmm {

using namespace p9_ops;

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
  f.open_flags = flags;
  return opened_reply(kTlopen, tag, st);
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
  dir.open_flags = flags;
  return opened_reply(kTlcreate, tag, st);
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

}  // namespace hvrun::vmm
