#include "vmm/p9_server.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <new>
#include <string_view>

#include "util/error.hpp"
#include "util/fd.hpp"
#include "vmm/p9_server_impl.hpp"
#include "vmm/state_codec.hpp"

namespace hvrun::vmm {

using namespace p9_ops;


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
  return qid_reply(kTattach, tag, st);
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

namespace {
constexpr char kSessionTag[4] = {'P', '9', 'S', 'N'};
}

std::string P9Server::save_state() const {
  StateOut o(kSessionTag, 1);
  o.u8(impl_->versioned ? 1 : 0);
  o.u32(impl_->msize);
  o.str(impl_->fids.save());
  return o.take();
}

std::vector<std::string> P9Server::restore_state(std::string_view blob) {
  StateIn in(blob, kSessionTag, 1, "9p session");
  const bool versioned = in.flag("versioned");
  const uint32_t msize = in.u32("msize");
  const std::string fids = in.str("fids", blob.size());
  in.end();
  if (msize < kMinMsize || msize > kMaxMsize) in.fail("msize " + std::to_string(msize));
  reset();
  std::vector<std::string> lost = impl_->fids.restore(fids);
  impl_->versioned = versioned;
  impl_->msize = msize;
  return lost;
}
size_t P9Server::fid_count() const { return impl_->fids.size(); }

}  // namespace hvrun::vmm
