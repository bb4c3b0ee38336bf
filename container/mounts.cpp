#include "container/mounts.hpp"
#include "container/net.hpp"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <fstream>
#include <set>
#include <sstream>
#include <vector>

#include "container/namespaces.hpp"
#include "util/error.hpp"
#include "util/openat2.hpp"

namespace hvrun::container {
namespace {

std::vector<std::string> clean_components(const std::string& path) {
  std::vector<std::string> out;
  std::istringstream in(path);
  std::string c;
  while (std::getline(in, c, '/')) {
    if (c.empty() || c == ".") continue;
    if (c == "..") {
      if (!out.empty()) out.pop_back();
      continue;
    }
    out.push_back(c);
  }
  return out;
}

std::string join(const std::vector<std::string>& comps, size_t n) {
  std::string s;
  for (size_t i = 0; i < n; ++i) s += (i ? "/" : "") + comps[i];
  return s.empty() ? "." : s;
}

int openat2_path(int dirfd, const std::string& rel, Symlinks symlinks) {
  uint64_t resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  if (symlinks == Symlinks::Refuse) resolve |= RESOLVE_NO_SYMLINKS;
  return openat2_fd(dirfd, rel.c_str(), O_PATH, resolve);
}

[[noreturn]] void throw_resolve(const std::string& path, int err) {
  if (err == ELOOP || err == EXDEV)
    throw Error("path " + path + " in the container root: a symbolic link is in the way (refusing to follow it)", err);
  throw_sys("open container path", path, err);
}

void mount_fd_onto(int mntfd, int targetfd, const std::string& what) {
  check_sys(::move_mount(mntfd, "", targetfd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH), "move_mount", what);
}

// A new filesystem instance mounted on targetfd.
void mount_new_fs(int targetfd, const char* type, const std::vector<std::pair<const char*, const char*>>& opts,
                  unsigned attrs, const std::string& what) {
  UniqueFd fs(::fsopen(type, FSOPEN_CLOEXEC));
  if (!fs) throw_sys(std::string("fsopen ") + type + " for", what);
  for (auto& [k, v] : opts) {
    int rc = v ? ::fsconfig(fs.get(), FSCONFIG_SET_STRING, k, v, 0) : ::fsconfig(fs.get(), FSCONFIG_SET_FLAG, k, nullptr, 0);
    if (rc < 0) throw_sys(std::string("fsconfig ") + type + " " + k + " for", what);
  }
  check_sys(::fsconfig(fs.get(), FSCONFIG_CMD_CREATE, nullptr, nullptr, 0), std::string("create ") + type + " for", what);
  UniqueFd mnt(::fsmount(fs.get(), FSMOUNT_CLOEXEC, attrs));
  if (!mnt) throw_sys(std::string("fsmount ") + type + " for", what);
  mount_fd_onto(mnt.get(), targetfd, what);
}

void set_readonly(int treefd, bool recursive, const std::string& what) {
  mount_attr a{};
  a.attr_set = MOUNT_ATTR_RDONLY;
  check_sys(::mount_setattr(treefd, "", AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0), &a, sizeof a),
            "mount_setattr(ro)", what);
}

// Bind (a copy of) the tree at srcdir/src onto targetfd.
void bind_onto(int targetfd, int srcdirfd, const char* src, bool recursive, bool readonly, const std::string& what) {
  unsigned flags = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (recursive ? AT_RECURSIVE : 0);
  if (!*src) flags |= AT_EMPTY_PATH;
  UniqueFd tree(::open_tree(srcdirfd, src, flags));
  if (!tree) throw_sys("open_tree", what);
  if (readonly) set_readonly(tree.get(), recursive, what);
  mount_fd_onto(tree.get(), targetfd, what);
}

const unsigned kNoSuidDevExec = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC;

const char* const kMaskedPaths[] = {"/proc/acpi",         "/proc/asound",      "/proc/interrupts", "/proc/kcore",
                                    "/proc/keys",         "/proc/latency_stats", "/proc/sched_debug", "/proc/scsi",
                                    "/proc/timer_list",   "/proc/timer_stats", "/sys/firmware",
                                    "/sys/devices/virtual/powercap"};
const char* const kReadonlyPaths[] = {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"};

// `idmapped`: detached layer trees to use instead of the lowerdir paths.
void mount_root(const RunSpec& spec, std::string& target, std::vector<UniqueFd>& idmapped) {
  if (!spec.lowerdirs.empty()) {
    if (spec.upperdir.empty() || spec.workdir.empty())
      throw Error("overlay rootfs needs upperdir and workdir");
    target = overlay_mountpoint(spec);
    size_t lower_len = 0;
    for (auto& l : spec.lowerdirs) lower_len += l.size() + 1;
    if (idmapped.empty() && lower_len > 2048) {
      // Too long for the mount options page: park clones of the layers under
      // short names, like the idmapped ones.
      for (auto& l : spec.lowerdirs) {
        UniqueFd t(::open_tree(AT_FDCWD, l.c_str(), OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC));
        if (!t) throw_sys("open_tree", l);
        idmapped.push_back(std::move(t));
      }
    }
    std::string lower;
    bool parked = false;
    if (!idmapped.empty()) {
      // Park the idmapped layers on a private tmpfs at the mount point; the
      // overlay then stacks on top of it (it holds the layers by reference).
      check_sys(::mount("hvrun-layers", target.c_str(), "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=700"),
                "mount tmpfs on", target);
      for (size_t i = 0; i < idmapped.size(); ++i) {
        std::string dir = target + "/" + std::to_string(i);
        check_sys(::mkdir(dir.c_str(), 0700), "mkdir", dir);
        check_sys(::move_mount(idmapped[i].get(), "", AT_FDCWD, dir.c_str(), MOVE_MOUNT_F_EMPTY_PATH), "attach layer", dir);
        // Relative to the mount point (the mount below runs there): a few
        // characters a layer, so that 127 layers fit in the options page.
        lower += (lower.empty() ? "" : ":") + std::to_string(i);
      }
      idmapped.clear();
      parked = true;
    } else {
      for (auto& l : spec.lowerdirs) {
        if (l.find_first_of(":,") != std::string::npos) throw Error("overlay lowerdir " + l + ": ':' or ',' in the path");
        lower += (lower.empty() ? "" : ":") + l;
      }
    }
    std::string opts = "lowerdir=" + lower + ",upperdir=" + spec.upperdir + ",workdir=" + spec.workdir;
    if (spec.userns) opts += ",userxattr";
    if (spec.volatile_rootfs) opts += ",volatile";
    // Parked layers are named relative to the mount point: mount from there.
    UniqueFd saved_cwd;
    if (parked) {
      saved_cwd.reset(::open(".", O_PATH | O_DIRECTORY | O_CLOEXEC));
      if (!saved_cwd) throw_sys("open the working directory");
      check_sys(::chdir(target.c_str()), "chdir", target);
    }
    int rc = ::mount("overlay", target.c_str(), "overlay", MS_NODEV, opts.c_str());
    int e = errno;
    if (parked) check_sys(::fchdir(saved_cwd.get()), "return to the working directory");
    if (rc != 0) {
      if (std::string why = overlay_upper_problem(spec.upperdir); e == EINVAL && !why.empty()) throw Error(why);
      throw_sys("mount overlay on", target, e);
    }
  } else if (!spec.rootfs.empty()) {
    target = spec.rootfs;
    if (!idmapped.empty()) {
      check_sys(::move_mount(idmapped[0].get(), "", AT_FDCWD, target.c_str(), MOVE_MOUNT_F_EMPTY_PATH), "attach rootfs", target);
      idmapped.clear();
    } else {
      check_sys(::mount(target.c_str(), target.c_str(), nullptr, MS_BIND | MS_REC, nullptr), "bind rootfs", target);
    }
    mount_attr a{};
    a.attr_set = MOUNT_ATTR_NODEV;
    check_sys(::mount_setattr(AT_FDCWD, target.c_str(), 0, &a, sizeof a), "mount_setattr(nodev)", target);
  } else {
    throw Error("run spec has neither rootfs nor lowerdirs");
  }
}

void setup_dev(int rootfd, const RunSpec& spec, RootfsResult& result) {
  UniqueFd dev = open_in_root(rootfd, "/dev", Create::Dir);
  mount_new_fs(dev.get(), "tmpfs", {{"mode", "755"}, {"size", "65536k"}}, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC, "/dev");
  // Host nodes bound in (works in a user namespace too, where mknod does not).
  for (const char* n : {"null", "zero", "full", "random", "urandom", "tty"}) {
    std::string p = std::string("/dev/") + n;
    UniqueFd t = open_in_root(rootfd, p, Create::File);
    bind_onto(t.get(), AT_FDCWD, p.c_str(), false, false, p);
  }
  UniqueFd pts = open_in_root(rootfd, "/dev/pts", Create::Dir);
  mount_new_fs(pts.get(), "devpts", {{"newinstance", nullptr}, {"ptmxmode", "0666"}, {"mode", "0620"}, {"gid", "5"}},
               MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC, "/dev/pts");
  UniqueFd shm = open_in_root(rootfd, "/dev/shm", Create::Dir);
  mount_new_fs(shm.get(), "tmpfs", {{"mode", "1777"}, {"size", "65536k"}}, kNoSuidDevExec, "/dev/shm");
  UniqueFd mq = open_in_root(rootfd, "/dev/mqueue", Create::Dir);
  try {
    mount_new_fs(mq.get(), "mqueue", {}, kNoSuidDevExec, "/dev/mqueue");
  } catch (const Error& e) {
    if (e.code() != ENODEV) throw;  // a kernel without POSIX_MQUEUE (small guest kernels): no /dev/mqueue
  }

  UniqueFd devdir = open_in_root(rootfd, "/dev", Create::No);
  UniqueFd d(::openat(devdir.get(), ".", O_DIRECTORY | O_RDONLY | O_CLOEXEC));
  if (!d) throw_sys("open", "/dev");
  for (auto [name, to] : {std::pair{"fd", "/proc/self/fd"}, {"stdin", "/proc/self/fd/0"}, {"stdout", "/proc/self/fd/1"},
                          {"stderr", "/proc/self/fd/2"}, {"ptmx", "pts/ptmx"}, {"core", "/proc/kcore"}})
    check_sys(::symlinkat(to, d.get(), name), "symlink /dev/", name);

  if (spec.tty) {
    // Re-resolve: `pts` still names the directory under the new devpts mount.
    UniqueFd ptsmnt = open_in_root(rootfd, "/dev/pts", Create::No);
    UniqueFd ptsdir(::openat(ptsmnt.get(), ".", O_DIRECTORY | O_RDONLY | O_CLOEXEC));
    if (!ptsdir) throw_sys("open", "/dev/pts");
    result.pty = open_pty(ptsdir.get(), "ptmx");
    UniqueFd console = open_in_root(rootfd, "/dev/console", Create::File);
    bind_onto(console.get(), result.pty->slave.get(), "", false, false, "/dev/console");
  }
}

// The cgroup v1 hierarchies mounted on the host: mount point name and the
// options that select the hierarchy (controllers, name=).
struct V1Hierarchy {
  std::string dir;
  std::vector<std::string> flags;
  std::string name;
};

std::vector<V1Hierarchy> v1_hierarchies() {
  std::set<std::string> controllers;
  {
    std::ifstream in("/proc/cgroups");
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty() || line[0] == '#') continue;
      controllers.insert(line.substr(0, line.find_first_of(" \t")));
    }
  }
  std::vector<V1Hierarchy> out;
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    auto dash = line.find(" - ");
    if (dash == std::string::npos) continue;
    std::istringstream pre(line.substr(0, dash)), post(line.substr(dash + 3));
    std::string id, parent, devno, root, mp, fstype, source, super;
    pre >> id >> parent >> devno >> root >> mp;
    post >> fstype >> source >> super;
    if (fstype != "cgroup" || mp.rfind("/sys/fs/cgroup/", 0) != 0) continue;
    V1Hierarchy h;
    h.dir = mp.substr(15);
    if (h.dir.empty() || h.dir.find('/') != std::string::npos) continue;
    std::istringstream opts(super);
    std::string o;
    while (std::getline(opts, o, ',')) {
      if (controllers.count(o)) h.flags.push_back(o);
      if (o.rfind("name=", 0) == 0) h.name = o.substr(5);
    }
    if (!h.flags.empty() || !h.name.empty()) out.push_back(std::move(h));
  }
  return out;
}

// `writable`: /sys itself read-write (--privileged); the cgroup fs stays
// read-only (its limits are the host's to set).
void setup_sys(int rootfd, CgroupVersion cgv, bool writable) {
  UniqueFd sys = open_in_root(rootfd, "/sys", Create::Dir);
  try {
    mount_new_fs(sys.get(), "sysfs", {}, (writable ? 0 : MOUNT_ATTR_RDONLY) | kNoSuidDevExec, "/sys");
  } catch (const Error& e) {
    // sysfs cannot be mounted from a user namespace that does not own the
    // network namespace (--net host with userns): bind the host's, read-only.
    if (e.code() != EPERM) throw;
    bind_onto(sys.get(), AT_FDCWD, "/sys", true, !writable, "/sys");
  }
  UniqueFd cg = open_in_root(rootfd, "/sys/fs/cgroup", Create::No);
  if (!cg) return;
  if (cgv == CgroupVersion::V2) {
    mount_new_fs(cg.get(), "cgroup2", {}, MOUNT_ATTR_RDONLY | kNoSuidDevExec, "/sys/fs/cgroup");
    return;
  }
  // v1: a tmpfs holding one read-only mount per hierarchy, then the tmpfs made read-only.
  auto hierarchies = v1_hierarchies();
  UniqueFd fs(::fsopen("tmpfs", FSOPEN_CLOEXEC));
  if (!fs) throw_sys("fsopen tmpfs for", "/sys/fs/cgroup");
  check_sys(::fsconfig(fs.get(), FSCONFIG_SET_STRING, "mode", "755", 0), "fsconfig", "/sys/fs/cgroup");
  check_sys(::fsconfig(fs.get(), FSCONFIG_CMD_CREATE, nullptr, nullptr, 0), "create tmpfs for", "/sys/fs/cgroup");
  UniqueFd tmp(::fsmount(fs.get(), FSMOUNT_CLOEXEC, kNoSuidDevExec));
  if (!tmp) throw_sys("fsmount", "/sys/fs/cgroup");
  for (auto& h : hierarchies) {
    std::string what = "/sys/fs/cgroup/" + h.dir;
    check_sys(::mkdirat(tmp.get(), h.dir.c_str(), 0755), "mkdir", what);
    UniqueFd t(::openat(tmp.get(), h.dir.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!t) throw_sys("open", what);
    std::vector<std::pair<const char*, const char*>> opts;
    for (auto& f : h.flags) opts.push_back({f.c_str(), nullptr});
    if (!h.name.empty()) opts.push_back({"name", h.name.c_str()});
    mount_new_fs(t.get(), "cgroup", opts, MOUNT_ATTR_RDONLY | kNoSuidDevExec, what);
  }
  set_readonly(tmp.get(), false, "/sys/fs/cgroup");
  mount_fd_onto(tmp.get(), cg.get(), "/sys/fs/cgroup");
}

void mask_paths(int rootfd, const RunSpec& spec) {
  std::vector<std::string> masked(std::begin(kMaskedPaths), std::end(kMaskedPaths));
  std::vector<std::string> readonly(std::begin(kReadonlyPaths), std::end(kReadonlyPaths));
  if (spec.own_masked_paths) {
    masked = spec.masked_paths;
    readonly = spec.readonly_paths;
  }
  for (const auto& p : masked) {
    UniqueFd t = open_in_root(rootfd, p, Create::No);
    if (!t) continue;
    struct stat st {};
    check_sys(::fstat(t.get(), &st), "stat", p);
    if (S_ISDIR(st.st_mode))
      mount_new_fs(t.get(), "tmpfs", {}, MOUNT_ATTR_RDONLY | kNoSuidDevExec, p);
    else
      bind_onto(t.get(), AT_FDCWD, "/dev/null", false, false, p);
  }
  for (const auto& p : readonly) {
    UniqueFd t = open_in_root(rootfd, p, Create::No);
    if (!t) continue;
    bind_onto(t.get(), t.get(), "", true, true, p);
  }
}

}  // namespace

void check_tmpfs_options(const TmpfsMount& m) {
  auto bad = [&](const std::string& what) { throw Error("tmpfs " + m.target + ": " + what); };
  if (!m.mode.empty() && (m.mode.size() > 4 || m.mode.find_first_not_of("01234567") != std::string::npos))
    bad("mode \"" + m.mode + "\" is not an octal mode");
  if (!m.size.empty()) {
    size_t digits = m.size.find_first_not_of("0123456789");
    std::string unit = digits == std::string::npos ? "" : m.size.substr(digits);
    if (digits == 0 || !(unit.empty() || unit == "k" || unit == "m" || unit == "g" || unit == "K" || unit == "M" ||
                         unit == "G" || unit == "%"))
      bad("size \"" + m.size + "\" is not a number of bytes with k, m or g, or a percentage");
  }
}

bool apply_tmpfs_option(TmpfsMount& m, const std::string& o) {
  if (o == "rw" || o == "ro") m.readonly = o == "ro";
  else if (o == "exec" || o == "noexec") m.noexec = o == "noexec";
  else if (o == "suid" || o == "nosuid") m.nosuid = o == "nosuid";
  else if (o == "dev" || o == "nodev") m.nodev = o == "nodev";
  else if (o.rfind("size=", 0) == 0) m.size = o.substr(5);
  else if (o.rfind("mode=", 0) == 0) m.mode = o.substr(5);
  else return false;
  return true;
}

namespace {

void user_mounts(int rootfd, const RunSpec& spec) {
  for (auto& m : spec.mounts) {
    if (m.target.empty() || m.target.front() != '/') throw Error("bind mount target " + m.target + ": not an absolute path");
    struct stat st {};
    if (::stat(m.source.c_str(), &st) < 0) throw_sys("bind mount source", m.source);
    UniqueFd t = open_in_root(rootfd, m.target, S_ISDIR(st.st_mode) ? Create::Dir : Create::File, Symlinks::FollowInRoot);
    bind_onto(t.get(), AT_FDCWD, m.source.c_str(), true, m.readonly, m.source + " -> " + m.target);
  }
  for (auto& m : spec.tmpfs) {
    if (m.target.empty() || m.target.front() != '/') throw Error("tmpfs target " + m.target + ": not an absolute path");
    check_tmpfs_options(m);
    UniqueFd t = open_in_root(rootfd, m.target, Create::Dir, Symlinks::FollowInRoot);
    std::string mode = m.mode.empty() ? "1777" : m.mode;
    std::vector<std::pair<const char*, const char*>> opts = {{"mode", mode.c_str()}};
    if (!m.size.empty()) opts.push_back({"size", m.size.c_str()});
    unsigned attrs = (m.readonly ? MOUNT_ATTR_RDONLY : 0) | (m.noexec ? MOUNT_ATTR_NOEXEC : 0) |
                     (m.nosuid ? MOUNT_ATTR_NOSUID : 0) | (m.nodev ? MOUNT_ATTR_NODEV : 0);
    mount_new_fs(t.get(), "tmpfs", opts, attrs, "tmpfs " + m.target);
  }
}

}  // namespace

UniqueFd open_in_root(int rootfd, const std::string& path, Create create, Symlinks symlinks) {
  auto comps = clean_components(path);
  std::string rel = join(comps, comps.size());
  int fd = openat2_path(rootfd, rel, symlinks);
  if (fd >= 0) return UniqueFd(fd);
  if (errno != ENOENT) throw_resolve(path, errno);
  if (create == Create::No) return {};
  // Create what is missing, one component at a time, each step resolved afresh.
  int hops = 0;
  for (size_t i = 1; i <= comps.size(); ++i) {
    std::string prefix = join(comps, i);
    UniqueFd cur(openat2_path(rootfd, prefix, symlinks));
    if (cur) continue;
    if (errno != ENOENT) throw_resolve(path, errno);
    UniqueFd parent(openat2_path(rootfd, join(comps, i - 1), symlinks));
    if (!parent) throw_resolve(path, errno);
    // O_PATH fds cannot be used with mkdirat; reopen the parent as a directory.
    UniqueFd pdir(::openat(parent.get(), ".", O_DIRECTORY | O_RDONLY | O_CLOEXEC));
    if (!pdir) throw_sys("open parent of", path);
    const char* name = comps[i - 1].c_str();
    bool last = i == comps.size();
    if (symlinks == Symlinks::FollowInRoot) {
      // A dangling symlink: splice its target into the path (resolved in the
      // root, so an absolute target means the container's /), as Docker does.
      char buf[4096];
      ssize_t n = ::readlinkat(pdir.get(), name, buf, sizeof buf - 1);
      if (n >= 0) {
        if (++hops > 40) throw_resolve(path, ELOOP);
        std::string target(buf, size_t(n));
        std::vector<std::string> head(comps.begin(), comps.begin() + long(i - 1));
        std::vector<std::string> tail(comps.begin() + long(i), comps.end());
        std::string spliced = (target.front() == '/' ? "" : join(head, head.size()) + "/") + target;
        for (auto& t : tail) spliced += "/" + t;
        comps = clean_components(spliced);
        i = 0;  // start over on the new path
        continue;
      }
    }
    if (!last || create == Create::Dir) {
      if (::mkdirat(pdir.get(), name, 0755) < 0 && errno != EEXIST) throw_sys("mkdir", prefix);
    } else {
      int f = ::openat(pdir.get(), name, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644);
      if (f < 0 && errno != EEXIST) throw_sys("create", prefix);
      if (f >= 0) ::close(f);
    }
    UniqueFd again(openat2_path(rootfd, prefix, symlinks));
    if (!again) throw_resolve(path, errno == ENOENT ? ELOOP : errno);  // a dangling symlink is in the way
  }
  fd = openat2_path(rootfd, join(comps, comps.size()), symlinks);
  if (fd < 0) throw_resolve(path, errno);
  return UniqueFd(fd);
}

void prepare_rootfs_dirs(const RunSpec& spec) {
  if (spec.lowerdirs.empty()) return;
  if (spec.upperdir.empty() || spec.workdir.empty()) throw Error("overlay rootfs needs upperdir and workdir");
  std::string target = overlay_mountpoint(spec);
  if (::mkdir(target.c_str(), 0755) < 0 && errno != EEXIST) throw_sys("mkdir", target);
  if (!spec.userns) return;
  for (const std::string* d : {&spec.upperdir, &spec.workdir, static_cast<const std::string*>(&target)})
    check_sys(::chown(d->c_str(), userns_root_uid(spec), userns_root_gid(spec)), "chown", *d);
}

std::string overlay_upper_problem(const std::string& dir) {
  struct statfs fs{};
  if (::statfs(dir.c_str(), &fs) != 0) return "";
  const char* what = nullptr;
  switch (static_cast<unsigned long>(fs.f_type)) {
    case 0x794c7630UL: what = "overlayfs"; break;  // OVERLAYFS_SUPER_MAGIC
    case 0x01021997UL: what = "9p"; break;         // V9FS_MAGIC
    default: return "";
  }
  return dir + " is on " + what + ", which cannot hold a container's writable layer (an overlayfs upper "
         "directory): put the store (--root) on ext4, xfs, btrfs or tmpfs";
}

std::string overlay_mountpoint(const RunSpec& spec) {
  std::string up = spec.upperdir;
  while (up.size() > 1 && up.back() == '/') up.pop_back();
  auto slash = up.rfind('/');
  std::string parent = slash == std::string::npos || slash == 0 ? "/" : up.substr(0, slash);
  return (parent == "/" ? "" : parent) + "/merged";
}

std::vector<UniqueFd> make_idmapped_layers(const RunSpec& spec, int userns_fd) {
  std::vector<std::string> layers = spec.lowerdirs;
  if (layers.empty() && !spec.rootfs.empty()) {
    struct stat st {};
    if (::stat(spec.rootfs.c_str(), &st) < 0) throw_sys("stat", spec.rootfs);
    const uint32_t root = userns_root_uid(spec);
    if (root != 0 && st.st_uid == root) return {};  // already the mapped root's
    layers.push_back(spec.rootfs);
  }
  std::vector<UniqueFd> out;
  for (auto& l : layers) {
    UniqueFd t(::open_tree(AT_FDCWD, l.c_str(), OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC));
    if (!t) throw_sys("open_tree", l);
    mount_attr a{};
    a.attr_set = MOUNT_ATTR_IDMAP;
    a.userns_fd = uint64_t(userns_fd);
    check_sys(::mount_setattr(t.get(), "", AT_EMPTY_PATH, &a, sizeof a), "idmap layer", l);
    out.push_back(std::move(t));
  }
  return out;
}

RootfsResult setup_rootfs(const RunSpec& spec, CgroupVersion cgv, const std::function<void()>& before_cgroup_view,
                          std::vector<UniqueFd> idmapped_layers) {
  RootfsResult result;
  // Nothing we mount may propagate back to the host.
  check_sys(::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr), "make / private");
  std::string target;
  mount_root(spec, target, idmapped_layers);
  UniqueFd root(::open(target.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root) throw_sys("open rootfs", target);

  UniqueFd proc = open_in_root(root.get(), "/proc", Create::Dir);
  mount_new_fs(proc.get(), "proc", {}, kNoSuidDevExec, "/proc");
  setup_dev(root.get(), spec, result);
  if (before_cgroup_view) before_cgroup_view();
  setup_sys(root.get(), cgv, spec.privileged);
  if (!spec.privileged) mask_paths(root.get(), spec);  // Docker's --privileged masks nothing either
  // Before the user's mounts: a -v onto /etc/hosts wins, as in Docker.
  write_network_files(root.get(), spec);
  if (!spec.netcfg.address.empty() && !spec.netcfg.hosts_path.empty()) {
    // The host's live copy (rewritten as members join and leave), bound
    // over the one just written, as Docker binds its hosts file.
    UniqueFd hosts = open_in_root(root.get(), "/etc/hosts", Create::No);
    if (!hosts) throw Error("/etc/hosts in the container: gone after it was written");
    bind_onto(hosts.get(), AT_FDCWD, spec.netcfg.hosts_path.c_str(), false, false,
              spec.netcfg.hosts_path + " -> /etc/hosts");
  }
  user_mounts(root.get(), spec);
  // The workdir exists before / may turn read-only (Docker creates it too).
  if (!spec.cwd.empty()) open_in_root(root.get(), spec.cwd, Create::Dir, Symlinks::FollowInRoot);

  check_sys(::fchdir(root.get()), "chdir", target);
  check_sys(int(::syscall(SYS_pivot_root, ".", ".")), "pivot_root", target);
  check_sys(::umount2(".", MNT_DETACH), "detach old root");
  check_sys(::chdir("/"), "chdir /");
  if (spec.readonly_rootfs) {
    mount_attr a{};
    a.attr_set = MOUNT_ATTR_RDONLY;
    check_sys(::mount_setattr(AT_FDCWD, "/", 0, &a, sizeof a), "remount / read-only");
  }
  return result;
}

}  // namespace hvrun::container
