// The 9p server's fid table: where a share's confinement rules live, apart
// from the protocol (p9_server.cpp) so that they can be read and tested alone.
//
//  - every fid holds an O_PATH | O_NOFOLLOW fd (never a followed symlink)
//    and its path relative to the share root ("" = the root);
//  - a path is opened from the root fd with openat2 RESOLVE_BENEATH |
//    RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS: never outside the root,
//    never through a symlink, whatever was renamed on the host meanwhile;
//  - a fid's parent is re-resolved that way and must still hold the fid's
//    inode (a rename may have left the path stale: ENOENT);
//  - a fid's inode is opened for I/O through /proc/self/fd and must be the
//    same inode (ESTALE); a read-only share opens with O_NOATIME;
//  - bounded: fids held at once (EMFILE), the bytes of all paths together
//    (ENFILE), each path below PATH_MAX (ENAMETOOLONG), checked before
//    anything changes;
//  - a rename by the client moves every fid at or below the renamed path.
// Failures throw p9::P9Errno (p9_wire.hpp) carrying the Linux errno.
#pragma once
#include <sys/stat.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "util/fd.hpp"

namespace hvrun::vmm {

class P9FidTable {
 public:
  struct Fid {
    UniqueFd path;       // O_PATH | O_NOFOLLOW: never a followed symlink
    std::string rel;     // path below the share root ("" = the root)
    uint32_t uid = 0;    // the Tattach n_uname this fid acts as
    UniqueFd open;       // after Tlopen / Tlcreate
    int open_flags = 0;  // the host flags `open` was opened with
    bool xattr = false;  // a Txattrwalk list fid: reads as an empty list
    // Byte-range locks, one open file description per lock owner (the
    // guest process, Tlock's proc_id).
    std::unordered_map<uint32_t, UniqueFd> lock_fds;
  };

  // `root`: an O_PATH directory fd of the share.
  P9FidTable(UniqueFd root, bool readonly, size_t max_fids, size_t max_path_bytes);

  int root() const { return root_.get(); }
  bool readonly() const { return readonly_; }
  size_t size() const { return fids_.size(); }
  size_t path_bytes() const { return path_bytes_; }

  // The fid `id` (EBADF when it is not bound).
  Fid& get(uint32_t id);
  // Fails unless the client may bind `id` now: EBADF for NOFID or a bound
  // id, EMFILE when the table is full.
  void check_new(uint32_t id) const;
  // Binds (or replaces) `id`; ENFILE past the path budget, before anything changes.
  void bind(uint32_t id, Fid f);
  // Gives fid `f` (bound in this table) the path `rel`, within the budget.
  void set_rel(Fid& f, std::string rel);
  // False when `id` was not bound.
  bool drop(uint32_t id);
  void clear();

  // Fails (ENFILE) when a path growing from old_len to new_len bytes would
  // pass the budget.
  void check_growth(size_t old_len, size_t new_len) const;

  // Opens `rel` below the root (flags | O_NOFOLLOW), never leaving it and
  // never following a symlink.
  UniqueFd beneath(const std::string& rel, int flags) const;
  // The fid's parent directory and its name there, checked to still hold
  // the fid's inode: ENOENT when a rename made `rel` stale, EBUSY for the root.
  UniqueFd parent_of(const Fid& f, std::string& name) const;
  // A real fd (flags) for the inode behind `path_fd` (an O_PATH fd whose
  // stat is `st`, never a symlink), checked to be that inode (ESTALE).
  UniqueFd reopen(int path_fd, const struct stat& st, int flags) const;

  // Snapshots (virtio_9p.cpp): save() gives every fid by its path below
  // the root, its uid and how it was opened. restore() (into an empty
  // table) binds each again by that path, as a walk would, and reopens the
  // open ones, under the same rules as a client's requests (beneath the
  // root, no symlink, no device node, nothing written on a read-only
  // share, the fid and path budgets). A fid whose path is gone or no longer
  // opens stays unbound (the guest gets EBADF for it): the returned lines
  // say which, and how many byte-range locks were let go.
  std::string save() const;
  std::vector<std::string> restore(std::string_view blob);

  // Before a rename of `from` to `to`: fails (ENAMETOOLONG, ENFILE) when a
  // fid at or below `from` could not follow it, before anything moves.
  void check_move(const std::string& from, const std::string& to) const;
  // Fids at or below `from` now live at `to`.
  void moved(const std::string& from, const std::string& to);

 private:
  UniqueFd root_;
  bool readonly_ = false;
  size_t max_fids_;
  size_t max_path_bytes_;
  size_t path_bytes_ = 0;
  std::unordered_map<uint32_t, Fid> fids_;
};

// A fid's path below the root: rel + "/" + name, bounded by PATH_MAX
// (ENAMETOOLONG): without a bound a guest could make every fid hold a path
// as deep as its disk allows.
std::string p9_join(const std::string& rel, const std::string& name);

}  // namespace hvrun::vmm
