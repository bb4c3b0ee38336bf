// The 9P server's requests on the directory tree (p9_server.hpp): entries
// listed, made (directories, symlinks, device nodes, hard links), renamed
// and removed, each beneath the share (vmm/p9_fids.hpp).
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
  return qid_reply(kTmkdir, tag, st);
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
  return qid_reply(kTsymlink, tag, st);
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
  return qid_reply(kTmknod, tag, st);
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


}  // namespace hvrun::vmm
