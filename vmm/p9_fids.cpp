#include "vmm/p9_fids.hpp"

#include <fcntl.h>
#include <linux/openat2.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <algorithm>
#include <climits>

#include "util/openat2.hpp"
#include "vmm/p9_wire.hpp"
#include "vmm/state_codec.hpp"

namespace hvrun::vmm {

namespace {

using p9::check;
using p9::fail;

struct stat stat_fd(int fd) {
  struct stat st{};
  check(::fstatat(fd, "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW));
  return st;
}

bool same_inode(const struct stat& a, const struct stat& b) { return a.st_dev == b.st_dev && a.st_ino == b.st_ino; }

std::string proc_fd(int fd) { return "/proc/self/fd/" + std::to_string(fd); }

// `rel` is `from` or below it.
bool at_or_below(const std::string& rel, const std::string& from) {
  return rel == from ||
         (rel.size() > from.size() && rel.compare(0, from.size(), from) == 0 && rel[from.size()] == '/');
}

}  // namespace

std::string p9_join(const std::string& rel, const std::string& name) {
  if (rel.size() + 1 + name.size() >= PATH_MAX) fail(ENAMETOOLONG);
  return rel.empty() ? name : rel + "/" + name;
}

P9FidTable::P9FidTable(UniqueFd root, bool readonly, size_t max_fids, size_t max_path_bytes)
    : root_(std::move(root)), readonly_(readonly), max_fids_(max_fids), max_path_bytes_(max_path_bytes) {}

P9FidTable::Fid& P9FidTable::get(uint32_t id) {
  auto it = fids_.find(id);
  if (it == fids_.end()) fail(EBADF);
  return it->second;
}

void P9FidTable::check_new(uint32_t id) const {
  if (id == p9::kNoFid || fids_.count(id)) fail(EBADF);
  if (fids_.size() >= max_fids_) fail(EMFILE);
}

void P9FidTable::check_growth(size_t old_len, size_t new_len) const {
  if (new_len > old_len && path_bytes_ + (new_len - old_len) > max_path_bytes_) fail(ENFILE);
}

void P9FidTable::bind(uint32_t id, Fid f) {
  auto it = fids_.find(id);
  const size_t old_len = it == fids_.end() ? 0 : it->second.rel.size();
  check_growth(old_len, f.rel.size());
  path_bytes_ = path_bytes_ - old_len + f.rel.size();
  fids_.insert_or_assign(id, std::move(f));
}

void P9FidTable::set_rel(Fid& f, std::string rel) {
  check_growth(f.rel.size(), rel.size());
  path_bytes_ = path_bytes_ - f.rel.size() + rel.size();
  f.rel = std::move(rel);
}

bool P9FidTable::drop(uint32_t id) {
  auto it = fids_.find(id);
  if (it == fids_.end()) return false;
  path_bytes_ -= it->second.rel.size();
  fids_.erase(it);
  return true;
}

void P9FidTable::clear() {
  fids_.clear();
  path_bytes_ = 0;
}

UniqueFd P9FidTable::beneath(const std::string& rel, int flags) const {
  const int fd = openat2_fd(root_.get(), rel.empty() ? "." : rel.c_str(), flags | O_NOFOLLOW,
                            RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS);
  check(fd);
  return UniqueFd(fd);
}

UniqueFd P9FidTable::parent_of(const Fid& f, std::string& name) const {
  if (f.rel.empty()) fail(EBUSY);
  size_t slash = f.rel.rfind('/');
  std::string parent = slash == std::string::npos ? "" : f.rel.substr(0, slash);
  name = slash == std::string::npos ? f.rel : f.rel.substr(slash + 1);
  UniqueFd pfd = beneath(parent, O_PATH | O_DIRECTORY);
  struct stat there{};
  check(::fstatat(pfd.get(), name.c_str(), &there, AT_SYMLINK_NOFOLLOW));
  if (!same_inode(there, stat_fd(f.path.get()))) fail(ENOENT);
  return pfd;
}

// A read-only share leaves the host's access times alone too (O_NOATIME
// needs ownership or CAP_FOWNER: without, the open goes on without it).
UniqueFd P9FidTable::reopen(int path_fd, const struct stat& st, int flags) const {
  int fd = -1;
  if (readonly_) {
    do fd = ::open(proc_fd(path_fd).c_str(), flags | O_CLOEXEC | O_NOATIME);
    while (fd < 0 && errno == EINTR);
  }
  if (fd < 0 && (!readonly_ || errno == EPERM)) {
    do fd = ::open(proc_fd(path_fd).c_str(), flags | O_CLOEXEC);
    while (fd < 0 && errno == EINTR);
  }
  UniqueFd out(check(fd));
  if (!same_inode(stat_fd(out.get()), st)) fail(ESTALE);
  return out;
}

namespace {

constexpr char kFidsTag[4] = {'9', 'F', 'I', 'D'};
// What a restored open may ask for: never create, truncate or exclude again.
constexpr int kRestorableFlags = O_ACCMODE | O_APPEND | O_DIRECTORY | O_NONBLOCK | O_DSYNC | O_LARGEFILE | O_SYNC;

// A path as walks make them: names joined by single slashes, none empty,
// "." or "..", no NUL ("" is the root).
bool canonical_rel(const std::string& rel) {
  if (rel.empty()) return true;
  if (rel.find('\0') != std::string::npos) return false;
  size_t at = 0;
  for (;;) {
    const size_t slash = rel.find('/', at);
    const std::string_view name = std::string_view(rel).substr(at, slash == std::string::npos ? std::string::npos : slash - at);
    if (name.empty() || name == "." || name == "..") return false;
    if (slash == std::string::npos) return true;
    at = slash + 1;
  }
}

}  // namespace

std::string P9FidTable::save() const {
  // In fid order, so that one table always saves the same bytes.
  std::vector<uint32_t> ids;
  for (const auto& [id, f] : fids_) ids.push_back(id);
  std::sort(ids.begin(), ids.end());
  StateOut o(kFidsTag, 1);
  o.u32(uint32_t(ids.size()));
  for (uint32_t id : ids) {
    const Fid& f = fids_.at(id);
    o.u32(id);
    o.str(f.rel);
    o.u32(f.uid);
    o.u8(f.xattr ? 1 : 0);
    o.u8(f.open ? 1 : 0);
    o.u32(uint32_t(f.open_flags));
    o.u32(uint32_t(f.lock_fds.size()));
  }
  return o.take();
}

std::vector<std::string> P9FidTable::restore(std::string_view blob) {
  StateIn in(blob, kFidsTag, 1, "9p fid table");
  const uint32_t n = in.u32("fid count");
  if (n > max_fids_) in.fail(std::to_string(n) + " fids (at most " + std::to_string(max_fids_) + ")");
  std::vector<std::string> lost;
  size_t locks = 0;
  try {
  for (uint32_t k = 0; k < n; ++k) {
    const uint32_t id = in.u32("fid");
    std::string rel = in.str("fid path", PATH_MAX - 1);
    Fid f;
    f.uid = in.u32("fid uid");
    f.xattr = in.flag("xattr fid");
    const bool open = in.flag("open fid");
    const int flags = int(in.u32("open flags")) & kRestorableFlags;
    locks += in.u32("lock count");
    if (id == p9::kNoFid || fids_.count(id)) in.fail("fid " + std::to_string(id) + " twice or NOFID");
    if (!canonical_rel(rel)) in.fail("fid " + std::to_string(id) + " has path '" + rel + "'");
    try {
      f.path = beneath(rel, O_PATH | O_CLOEXEC);
      if (open) {
        const struct stat st = stat_fd(f.path.get());
        if (S_ISLNK(st.st_mode)) fail(ELOOP);
        if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) fail(EPERM);
        if (readonly_ && (flags & O_ACCMODE) != O_RDONLY) fail(EROFS);
        f.open_flags = S_ISFIFO(st.st_mode) ? flags | O_NONBLOCK : flags;
        f.open = reopen(f.path.get(), st, f.open_flags);
      }
      f.rel = std::move(rel);
      bind(id, std::move(f));
    } catch (const p9::P9Errno& e) {
      lost.push_back("fid " + std::to_string(id) + " (/" + rel + "): " + std::strerror(e.err));
    }
  }
  in.end();
  } catch (...) {
    clear();  // a corrupt blob binds nothing
    throw;
  }
  if (locks > 0) lost.push_back(std::to_string(locks) + " byte-range lock(s) let go");
  return lost;
}

void P9FidTable::check_move(const std::string& from, const std::string& to) const {
  if (from.empty()) return;
  size_t moving = 0;
  for (const auto& [id, f] : fids_) {
    if (!at_or_below(f.rel, from)) continue;
    if (to.size() + (f.rel.size() - from.size()) >= PATH_MAX) fail(ENAMETOOLONG);
    ++moving;
  }
  if (to.size() > from.size()) check_growth(0, moving * (to.size() - from.size()));
}

void P9FidTable::moved(const std::string& from, const std::string& to) {
  if (from.empty()) return;
  for (auto& [id, f] : fids_) {
    if (!at_or_below(f.rel, from)) continue;
    path_bytes_ = path_bytes_ - from.size() + to.size();
    f.rel = to + f.rel.substr(from.size());
  }
}

}  // namespace hvrun::vmm
