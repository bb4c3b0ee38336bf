#include "builder/copy.hpp"

#include <fcntl.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <utility>

#include "image/layer.hpp"
#include "util/error.hpp"
#include "util/fd.hpp"

namespace hvrun::builder {

namespace {

std::string parent_of(const std::string& p) {
  auto i = p.rfind('/');
  return i == 0 || i == std::string::npos ? "/" : p.substr(0, i);
}
std::string base_of(const std::string& p) { return p.substr(p.rfind('/') + 1); }
std::string join(const std::string& a, const std::string& b) { return a == "/" ? "/" + b : a + "/" + b; }

bool is_number(const std::string& s) { return !s.empty() && s.find_first_not_of("0123456789") == std::string::npos; }

// A name from the image's /etc/passwd or /etc/group: field 3 of its line.
std::optional<std::pair<uint32_t, uint32_t>> lookup(const char* file, const std::string& name) {
  std::ifstream in(file);
  for (std::string line; std::getline(in, line);) {
    std::vector<std::string> f;
    std::stringstream ss(line);
    for (std::string x; std::getline(ss, x, ':');) f.push_back(x);
    // A group line may end at its gid field ("nogroup:x:65534:" reads as 3 fields).
    const bool group = std::string(file) == "/etc/group";
    if (f.size() >= (group ? 3u : 4u) && f[0] == name && is_number(f[2]) && (group || is_number(f[3])))
      return std::make_pair(uint32_t(std::stoul(f[2])), !group ? uint32_t(std::stoul(f[3])) : 0u);
  }
  return std::nullopt;
}

std::pair<uid_t, gid_t> resolve_chown(const std::string& spec) {
  if (spec.empty()) return {0, 0};
  std::string u = spec, g;
  if (auto c = spec.find(':'); c != std::string::npos) {
    u = spec.substr(0, c);
    g = spec.substr(c + 1);
  }
  uid_t uid;
  gid_t gid;
  if (is_number(u)) {
    uid = uid_t(std::stoul(u));
    gid = gid_t(uid);  // Docker: a uid without a group uses the same number
  } else {
    auto pw = lookup("/etc/passwd", u);
    if (!pw) throw Error("--chown=" + spec + ": no user " + u + " in the image's /etc/passwd");
    uid = pw->first;
    gid = pw->second;
  }
  if (!g.empty()) {
    if (is_number(g)) {
      gid = gid_t(std::stoul(g));
    } else {
      auto gr = lookup("/etc/group", g);
      if (!gr) throw Error("--chown=" + spec + ": no group " + g + " in the image's /etc/group");
      gid = gr->first;
    }
  }
  return {uid, gid};
}

bool is_dir_path(const std::string& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// mkdir -p; the directories it makes get 0755 and uid:gid.
void mkdirs(const std::string& path, uid_t uid = 0, gid_t gid = 0) {
  if (path == "/" || path.empty()) return;
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode)) throw Error("cannot make directory " + path + ": a file of that name is in the way");
    return;
  }
  mkdirs(parent_of(path), uid, gid);
  if (::mkdir(path.c_str(), 0755) < 0 && errno != EEXIST) throw_sys("mkdir", path);
  if (::chown(path.c_str(), uid, gid) < 0) throw_sys("chown", path);
}

// Sniffs what ADD would unpack: a tar, or a compressed stream (gzip,
// bzip2, xz, zstd) whose content libarchive then has to find a tar in.
bool looks_like_archive(int fd) {
  unsigned char b[512];
  ssize_t n = ::pread(fd, b, sizeof b, 0);
  if (n < 6) return false;
  if (b[0] == 0x1f && b[1] == 0x8b) return true;
  if (b[0] == 'B' && b[1] == 'Z' && b[2] == 'h') return true;
  if (!std::memcmp(b, "\xfd" "7zXZ\0", 6)) return true;
  if (!std::memcmp(b, "\x28\xb5\x2f\xfd", 4)) return true;
  return n == 512 && !std::memcmp(b + 257, "ustar", 5);
}

class Copier {
 public:
  // keep_owners: a stage's or image's files keep their owners (as
  // BuildKit's COPY --from does); the context's become 0:0.
  Copier(const CopyPlan& p, bool keep_owners) : plan_(p), keep_owners_(keep_owners && p.chown.empty()) {
    std::tie(uid_, gid_) = resolve_chown(p.chown);
  }
  uid_t uid() const { return uid_; }
  gid_t gid() const { return gid_; }

  void copy_entry(int pfd, const std::string& name, const struct stat& st, const std::string& dst) {
    mode_t perm = plan_.chmod ? *plan_.chmod : (st.st_mode & 07777);
    if (S_ISDIR(st.st_mode)) {
      struct stat d {};
      if (::lstat(dst.c_str(), &d) == 0 && !S_ISDIR(d.st_mode)) unlink_or_throw(dst);
      if (::mkdir(dst.c_str(), perm) < 0 && errno != EEXIST) throw_sys("mkdir", dst);
      finish(dst, perm, st, false);
      return;
    }
    struct stat old {};
    if (::lstat(dst.c_str(), &old) == 0) {
      if (S_ISDIR(old.st_mode)) throw Error("cannot copy " + name + " to " + dst + ": a directory is in the way");
      unlink_or_throw(dst);
    }
    if (st.st_nlink > 1 && !S_ISDIR(st.st_mode)) {
      auto key = std::make_pair(st.st_dev, st.st_ino);
      if (auto it = links_.find(key); it != links_.end()) {
        if (::link(it->second.c_str(), dst.c_str()) < 0) throw_sys("link", dst);
        return;
      }
      links_[key] = dst;
    }
    if (S_ISLNK(st.st_mode)) {
      char buf[4096];
      ssize_t n = ::readlinkat(pfd, name.c_str(), buf, sizeof buf - 1);
      if (n < 0) throw_sys("readlink", name);
      buf[n] = 0;
      if (::symlink(buf, dst.c_str()) < 0) throw_sys("symlink", dst);
      finish(dst, 0, st, true);
    } else if (S_ISREG(st.st_mode)) {
      UniqueFd in(::openat(pfd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
      if (!in) throw_sys("open", name);
      UniqueFd out(::open(dst.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
      if (!out) throw_sys("create", dst);
      for (off_t left = st.st_size; left > 0;) {
        ssize_t n = ::sendfile(out.get(), in.get(), nullptr, size_t(std::min<off_t>(left, 1 << 30)));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) throw_sys("copy to", dst);
        if (n == 0) break;  // the source shrank: copy what there is
        left -= n;
      }
      finish(dst, perm, st, false);
    } else if (S_ISFIFO(st.st_mode)) {
      if (::mkfifo(dst.c_str(), perm) < 0) throw_sys("mkfifo", dst);
      finish(dst, perm, st, false);
    }
    // Sockets and device nodes are not copied (Docker's context has none that matter).
  }

  void make_dest_dir(const std::string& dst) {
    mkdirs(parent_of(dst), uid_, gid_);
    if (::mkdir(dst.c_str(), 0755) < 0 && errno != EEXIST) throw_sys("mkdir", dst);
    if (::lchown(dst.c_str(), uid_, gid_) < 0) throw_sys("chown", dst);
    if (plan_.chmod && ::chmod(dst.c_str(), *plan_.chmod) < 0) throw_sys("chmod", dst);
  }

  void finish(const std::string& dst, mode_t perm, const struct stat& st, bool symlink) {
    if (::lchown(dst.c_str(), keep_owners_ ? st.st_uid : uid_, keep_owners_ ? st.st_gid : gid_) < 0)
      throw_sys("chown", dst);
    if (!symlink && ::chmod(dst.c_str(), perm) < 0) throw_sys("chmod", dst);
    struct timespec ts[2] = {st.st_mtim, st.st_mtim};
    ::utimensat(AT_FDCWD, dst.c_str(), ts, AT_SYMLINK_NOFOLLOW);
  }

  static void unlink_or_throw(const std::string& p) {
    if (::unlink(p.c_str()) < 0) throw_sys("replace", p);
  }

  // Directories' times are set again once their contents are in.
  void fix_dir_times(const std::vector<std::pair<std::string, struct timespec>>& dirs) {
    for (auto it = dirs.rbegin(); it != dirs.rend(); ++it) {
      struct timespec ts[2] = {it->second, it->second};
      ::utimensat(AT_FDCWD, it->first.c_str(), ts, AT_SYMLINK_NOFOLLOW);
    }
  }

 private:
  const CopyPlan& plan_;
  bool keep_owners_ = false;
  uid_t uid_ = 0;
  gid_t gid_ = 0;
  std::map<std::pair<dev_t, ino_t>, std::string> links_;
};

}  // namespace

mode_t parse_chmod(const std::string& v) {
  if (v.empty() || v.size() > 4 || v.find_first_not_of("01234567") != std::string::npos)
    throw Error("--chmod=" + v + ": expected an octal mode such as 755");
  return mode_t(std::stoul(v, nullptr, 8));
}

void make_dirs(const std::string& path) { mkdirs(path, 0, 0); }

void apply_copy(const SourceRoot& src, const CopyPlan& plan) {
  Copier c(plan, !src.context);
  std::vector<std::pair<std::string, struct timespec>> dirs;
  for (const auto& s : plan.sources) {
    const std::string top = s.rel;
    std::string base;  // where the source's own entry lands
    if (s.is_dir) {
      base = plan.dest;
      mkdirs(parent_of(base), c.uid(), c.gid());
    } else if (plan.dest_is_dir || is_dir_path(plan.dest)) {
      if (!is_dir_path(plan.dest)) c.make_dest_dir(plan.dest);
      base = join(plan.dest, base_of(top.empty() ? "." : top));
    } else {
      mkdirs(parent_of(plan.dest), c.uid(), c.gid());
      base = plan.dest;
    }
    walk_source(src, s, [&](const std::string& rel, const struct stat& st, int pfd, const std::string& name) {
      std::string sub = rel.size() > top.size() ? rel.substr(top.empty() ? 0 : top.size() + 1) : "";
      std::string dst = sub.empty() ? base : join(base, sub);
      if (sub.empty() && s.is_dir) {
        // The directory itself: its contents go into dest, which is made
        // when missing (0755, as Docker makes it, owned as --chown says)
        // and kept as it is when the image already has it.
        if (!is_dir_path(dst)) c.make_dest_dir(dst);
        return;
      }
      if (sub.empty() && plan.extract_archives && S_ISREG(st.st_mode)) {
        UniqueFd in(::openat(pfd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
        if (!in) throw_sys("open", rel);
        if (looks_like_archive(in.get())) {
          std::string into = plan.dest;
          mkdirs(into);
          UniqueFd d(::open(into.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
          if (!d) throw_sys("open", into);
          image::ExtractOptions eo;
          eo.whiteouts = false;
          image::extract_tar(in.get(), rel, d.get(), eo);
          return;
        }
      }
      // An entry brought back by a .dockerignore exception inside an
      // excluded directory: its parents were not copied.
      if (!sub.empty() && !is_dir_path(parent_of(dst))) mkdirs(parent_of(dst), c.uid(), c.gid());
      c.copy_entry(pfd, name, st, dst);
      if (S_ISDIR(st.st_mode)) dirs.emplace_back(dst, st.st_mtim);
    });
  }
  c.fix_dir_times(dirs);
}

}  // namespace hvrun::builder
