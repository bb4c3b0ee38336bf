#include "image/flatten.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "image/staging.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/lock.hpp"

extern char** environ;

namespace hvrun::image {

namespace {

std::vector<std::string> dir_entries(int dfd, const std::string& what) {
  std::vector<std::string> out;
  int dup = ::fcntl(dfd, F_DUPFD_CLOEXEC, 0);
  if (dup < 0) throw_sys("dup", what);
  DIR* d = ::fdopendir(dup);
  if (!d) {
    ::close(dup);
    throw_sys("opendir", what);
  }
  while (dirent* de = ::readdir(d)) {
    std::string n = de->d_name;
    if (n != "." && n != "..") out.push_back(n);
  }
  ::closedir(d);
  return out;
}

void remove_at(int dfd, const std::string& name, const std::string& what) {
  struct stat st;
  if (::fstatat(dfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0) {
    if (errno == ENOENT) return;
    throw_sys("stat", what);
  }
  if (S_ISDIR(st.st_mode)) {
    UniqueFd sub(::openat(dfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!sub) throw_sys("open", what);
    for (auto& n : dir_entries(sub.get(), what)) remove_at(sub.get(), n, what + "/" + n);
    if (::unlinkat(dfd, name.c_str(), AT_REMOVEDIR) < 0) throw_sys("rmdir", what);
  } else if (::unlinkat(dfd, name.c_str(), 0) < 0) {
    throw_sys("unlink", what);
  }
}

void copy_xattrs(int from, int to) {
  char list[65536];
  ssize_t n = ::flistxattr(from, list, sizeof list);
  for (ssize_t i = 0; i < n;) {
    std::string name(list + i);
    i += static_cast<ssize_t>(name.size()) + 1;
    if (name.rfind("trusted.overlay.", 0) == 0) continue;
    char val[65536];
    ssize_t vn = ::fgetxattr(from, name.c_str(), val, sizeof val);
    if (vn >= 0) (void)::fsetxattr(to, name.c_str(), val, static_cast<size_t>(vn), 0);
  }
}

void merge(int src, int dst, const std::string& what) {
  for (auto& n : dir_entries(src, what)) {
    std::string w = what + "/" + n;
    struct stat st;
    if (::fstatat(src, n.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0) throw_sys("stat", w);
    if (S_ISCHR(st.st_mode) && st.st_rdev == 0) {  // whiteout
      remove_at(dst, n, w);
      continue;
    }
    if (S_ISDIR(st.st_mode)) {
      UniqueFd s(::openat(src, n.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!s) throw_sys("open", w);
      char v[4];
      bool opaque = ::fgetxattr(s.get(), "trusted.overlay.opaque", v, sizeof v) == 1 && v[0] == 'y';
      struct stat dst_st;
      bool exists = ::fstatat(dst, n.c_str(), &dst_st, AT_SYMLINK_NOFOLLOW) == 0;
      if (exists && (!S_ISDIR(dst_st.st_mode) || opaque)) {
        remove_at(dst, n, w);
        exists = false;
      }
      if (!exists && ::mkdirat(dst, n.c_str(), 0700) < 0) throw_sys("mkdir", w);
      UniqueFd d(::openat(dst, n.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!d) throw_sys("open", w);
      if (::fchown(d.get(), st.st_uid, st.st_gid) < 0) throw_sys("chown", w);
      if (::fchmod(d.get(), st.st_mode & 07777) < 0) throw_sys("chmod", w);
      copy_xattrs(s.get(), d.get());
      merge(s.get(), d.get(), w);
      struct timespec ts[2] = {st.st_atim, st.st_mtim};
      (void)::futimens(d.get(), ts);
      continue;
    }
    remove_at(dst, n, w);
    if (::linkat(src, n.c_str(), dst, n.c_str(), 0) < 0) throw_sys("link", w);
  }
}

struct Usage {
  uint64_t bytes = 0;
  uint64_t inodes = 0;
};
thread_local Usage* g_usage = nullptr;

int count_cb(const char*, const struct stat* st, int, struct FTW*) {
  g_usage->inodes++;
  uint64_t sz = S_ISREG(st->st_mode) || S_ISLNK(st->st_mode) ? static_cast<uint64_t>(st->st_size) : 0;
  g_usage->bytes += (sz + 4095) / 4096 * 4096 + 256;  // data blocks + inode
  if (S_ISDIR(st->st_mode)) g_usage->bytes += 4096;
  return 0;
}

void run_mkfs(const std::vector<std::string>& args) {
  Pipe p = Pipe::make();
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, p.write.get(), 1);
  posix_spawn_file_actions_adddup2(&fa, p.write.get(), 2);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = -1;
  int rc = ENOENT;
  for (const char* exe : {"/usr/sbin/mkfs.ext4", "/sbin/mkfs.ext4"}) {
    if (::access(exe, X_OK) != 0) continue;
    rc = posix_spawn(&pid, exe, &fa, nullptr, argv.data(), environ);
    break;
  }
  if (rc == ENOENT) rc = posix_spawnp(&pid, "mkfs.ext4", &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  p.write.reset();
  if (rc != 0) throw_sys("run", "mkfs.ext4 (install e2fsprogs)", rc);
  std::string out = read_to_end(p.read.get());
  int st = 0;
  while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
    while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
    for (auto& c : out)
      if (c == '\n') c = ' ';
    throw Error("mkfs.ext4 failed (status " + std::to_string(WIFEXITED(st) ? WEXITSTATUS(st) : -1) + "): " + out);
  }
}

}  // namespace

void apply_layer(const std::string& layer_dir, const std::string& dst) {
  UniqueFd s(::open(layer_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!s) throw_sys("open", layer_dir);
  UniqueFd d(::open(dst.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!d) throw_sys("open", dst);
  merge(s.get(), d.get(), layer_dir);
}

void make_tree_disk(const std::string& tree, const std::string& disk, const std::string& label) {
  Usage u;
  g_usage = &u;
  int rc = ::nftw(tree.c_str(), count_cb, 64, FTW_PHYS);
  g_usage = nullptr;
  if (rc != 0) throw_sys("walk", tree);
  const uint64_t size_kib = (u.bytes + u.bytes * 3 / 10 + (16ull << 20)) / 1024;
  const uint64_t inodes = u.inodes + u.inodes / 5 + 1024;
  run_mkfs({"mkfs.ext4", "-q", "-F", "-d", tree, "-L", label, "-N", std::to_string(inodes), disk,
            std::to_string(size_kib) + "k"});
}

std::string ensure_vm_disk(const Store& store, const ImageRecord& img) {
  const std::string dir = store.root() + "/vmdisks";
  const std::string disk = dir + "/" + img.id + ".ext4";
  if (path_exists(disk)) return disk;
  mkdir_p(dir);
  FileLock build_lock(dir + "/" + img.id + ".lock", FileLock::Mode::Exclusive);
  if (path_exists(disk)) return disk;  // built while we waited
  // Leftovers of a build killed half-way (only builds of this id, which all
  // hold the lock we hold now, write these names).
  const std::string tmp_prefix = ".tmp-" + img.id.substr(0, 12) + "-";
  if (DIR* d = ::opendir(dir.c_str())) {
    while (dirent* de = ::readdir(d))
      if (std::string(de->d_name).rfind(tmp_prefix, 0) == 0) ::unlinkat(::dirfd(d), de->d_name, 0);
    ::closedir(d);
  }

  Staging stage(store);
  const std::string tree = stage.path() + "/rootfs";
  if (::mkdir(tree.c_str(), 0755) < 0) throw_sys("mkdir", tree);
  {
    // Layers stay while we link from them: rm needs the exclusive lock.
    FileLock lock(store.lock_path(), FileLock::Mode::Shared);
    if (!path_exists(store.image_dir(img.id) + "/image.json")) throw Error("no such image: " + img.id);
    for (auto& l : img.layers) apply_layer(store.layer_dir(l) + "/diff", tree);
  }
  const std::string tmp = dir + "/" + tmp_prefix + random_hex(4) + ".ext4";
  try {
    make_tree_disk(tree, tmp, "hvrun-image");
    if (::rename(tmp.c_str(), disk.c_str()) < 0) throw_sys("rename", disk);
  } catch (...) {
    ::unlink(tmp.c_str());
    throw;
  }
  return disk;
}

}  // namespace hvrun::image
