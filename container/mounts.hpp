// The container's filesystem, built inside its new mount namespace (nothing
// here is visible on the host, and it all goes away with the namespace):
//   / made MS_PRIVATE|MS_REC first; root = overlay(lowerdirs, upperdir,
//   workdir) mounted on <dirname(upperdir)>/merged, or spec.rootfs bound on
//   itself; fresh /proc; read-only /sys with the cgroup fs (read-only, seen
//   through the container's cgroup namespace) at /sys/fs/cgroup; a tmpfs /dev
//   with bind-mounted host nodes, its own devpts, shm and mqueue; Docker's
//   masked and read-only paths (none, and /sys writable, with
//   spec.privileged); spec.mounts; pivot_root; optional read-only /.
//
// Every target inside the root is resolved with openat2(RESOLVE_IN_ROOT |
// RESOLVE_NO_SYMLINKS) and mounted through the resulting fd with the new
// mount API (open_tree/fsopen + move_mount), so a symlink planted in the
// image cannot redirect a mount onto the host. User bind-mount targets may
// follow symlinks, but only scoped inside the root (RESOLVE_IN_ROOT).
#pragma once
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "container/cgroups.hpp"
#include "container/pty.hpp"
#include "container/spec.hpp"
#include "util/fd.hpp"

namespace hvrun::container {

enum class Create { No, Dir, File };
enum class Symlinks { Refuse, FollowInRoot };

// Opens `path` (absolute or relative, cleaned lexically: ".." cannot climb
// above the root) beneath `rootfd` as an O_PATH fd, creating missing
// directories (and the final file or dir when asked). Throws Error naming
// the path; ENOENT without create gives an empty fd instead.
UniqueFd open_in_root(int rootfd, const std::string& path, Create create, Symlinks symlinks = Symlinks::Refuse);

// Why an overlay upper/work directory cannot live in `dir` (its file system
// is overlayfs or 9p, which overlayfs refuses as an upper layer), or "".
std::string overlay_upper_problem(const std::string& dir);

// The directory the overlay root is mounted on: <dirname(upperdir)>/merged.
std::string overlay_mountpoint(const RunSpec& spec);

// Parent side, before clone: creates the overlay mount point and, for a
// user-namespaced container, hands upperdir/workdir/mount point to the
// container's root (its host uid/gid: userns_root_uid/gid) so copy-up can write.
void prepare_rootfs_dirs(const RunSpec& spec);

// Parent side, for a user-namespaced container (after its id maps are
// written): detached copies of the image layers (spec.lowerdirs, or
// spec.rootfs) idmapped into `userns_fd`, so that files owned by host uid N
// appear as N inside (host root-owned image files belong to the container's
// root). The child attaches them (setup_rootfs's `idmapped_layers`). None
// for a spec.rootfs already owned by the container's mapped root (podman
// --uidmap chowns its copy of the image, as runc expects): idmapped, it
// would show as nobody's.
std::vector<UniqueFd> make_idmapped_layers(const RunSpec& spec, int userns_fd);

// Throws Error naming the target unless mode is octal (up to 4 digits) and
// size a number with k/m/g or a percentage (both may be empty).
void check_tmpfs_options(const TmpfsMount& m);
// One mount option (rw, ro, exec, noexec, suid, nosuid, dev, nodev,
// size=..., mode=...) applied to `m`; false for any other word (the
// caller says what it accepts beside these). Values are checked by
// check_tmpfs_options.
bool apply_tmpfs_option(TmpfsMount& m, const std::string& option);

struct RootfsResult {
  std::optional<PtyPair> pty;  // when spec.tty: made in the container's devpts, slave bound on /dev/console
};

// Child side, in the new mount namespace. On return the process's root and
// cwd are the container's "/". `before_cgroup_view` runs just before the
// cgroup fs is mounted (the caller waits there until it is in its cgroup and
// unshares the cgroup namespace), so the root, /proc and /dev are set up
// while the parent is still moving the process into its cgroup.
RootfsResult setup_rootfs(const RunSpec& spec, CgroupVersion cgroups, const std::function<void()>& before_cgroup_view = {},
                          std::vector<UniqueFd> idmapped_layers = {});

}  // namespace hvrun::container
