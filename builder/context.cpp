#include "builder/context.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "image/digest.hpp"
#include "util/error.hpp"
#include "util/fd.hpp"
#include "util/openat2.hpp"
#include "util/strings.hpp"

namespace hvrun::builder {

namespace {

bool has_glob(const std::string& s) { return s.find_first_of("*?[") != std::string::npos; }

std::string join(const std::string& a, const std::string& b) { return a.empty() ? b : a + "/" + b; }

// Opens `rel` under the root: confined beneath it (context: escaping is an
// error, EXDEV) or resolved inside it (an image: "/" is its root).
UniqueFd open_under(const SourceRoot& root, const std::string& rel, int flags) {
  uint64_t how = root.context ? (RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS) : (RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
  int fd = openat2_fd(root.fd, rel.empty() ? "." : rel.c_str(), flags, how);
  return UniqueFd(fd);
}

std::vector<std::string> sorted_entries(int dirfd) {
  int fd = ::openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) throw_sys("open directory");
  DIR* d = ::fdopendir(fd);
  if (!d) {
    ::close(fd);
    throw_sys("fdopendir");
  }
  std::vector<std::string> names;
  while (dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") names.push_back(n);
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

// The path `fd` names, relative to the root (the root's own path is
// known from its fd): where a followed symlink really led.
std::string rel_of(const SourceRoot& root, int fd) {
  auto path_of = [](int f) {
    char buf[4096];
    std::string link = "/proc/self/fd/" + std::to_string(f);
    ssize_t n = ::readlink(link.c_str(), buf, sizeof buf);
    if (n < 0) throw_sys("readlink", link);
    return std::string(buf, size_t(n));
  };
  std::string base = path_of(root.fd), p = path_of(fd);
  if (p == base) return "";
  if (base == "/") return p.substr(1);
  if (p.rfind(base + "/", 0) != 0) throw Error("a source resolved outside " + root.what + ": " + p);
  return p.substr(base.size() + 1);
}

}  // namespace

std::vector<Source> resolve_sources(const SourceRoot& root, const std::vector<std::string>& args) {
  std::vector<Source> out;
  for (const auto& arg : args) {
    if (arg.find("://") != std::string::npos)
      throw Error("source " + arg + ": URLs are not supported (download the file into the build context)");
    if (root.context && !arg.empty() && arg[0] == '/')
      throw Error("source " + arg + ": an absolute path is outside the build context");
    std::vector<std::string> parts = path_components(arg);
    if (root.context && std::find(parts.begin(), parts.end(), "..") != parts.end()) {
      // `a/../b` stays inside; a path that climbs above the root does not.
      int depth = 0;
      for (auto& c : parts) depth += c == ".." ? -1 : 1;
      if (depth < 0 || parts.front() == "..") throw Error("source " + arg + ": forbidden path outside the build context");
    }
    // Expand globs component by component.
    std::vector<std::string> cands{""};
    for (const auto& comp : parts) {
      std::vector<std::string> next;
      for (const auto& c : cands) {
        if (!has_glob(comp)) {
          next.push_back(join(c, comp));
          continue;
        }
        UniqueFd d = open_under(root, c, O_RDONLY | O_DIRECTORY);
        if (!d) continue;
        for (const auto& n : sorted_entries(d.get()))
          if (match_path(comp, n)) next.push_back(join(c, n));
      }
      cands = std::move(next);
    }
    bool globbed = has_glob(arg);
    size_t found = 0;
    for (const auto& c : cands) {
      if (root.context && root.ignore && !c.empty() && root.ignore->excluded(c)) continue;
      UniqueFd fd = open_under(root, c, O_PATH);
      if (!fd) {
        if (errno == EXDEV || errno == ELOOP)
          throw Error("source " + arg + ": it leads outside " + root.what + " (through a symlink)");
        if (globbed) continue;
        throw Error("source " + arg + ": not found in " + root.what + ": " + std::strerror(errno));
      }
      struct stat st {};
      if (::fstat(fd.get(), &st) < 0) throw_sys("stat", arg);
      Source s;
      s.rel = rel_of(root, fd.get());
      s.is_dir = S_ISDIR(st.st_mode);
      out.push_back(s);
      ++found;
    }
    if (!found)
      throw Error("source " + arg + ": " + (globbed ? "no file matches in " : "not found in ") + root.what +
                  (root.context && root.ignore && !root.ignore->empty() ? " (or excluded by .dockerignore)" : ""));
  }
  return out;
}

void walk_source(const SourceRoot& root, const Source& src,
                 const std::function<void(const std::string&, const struct stat&, int, const std::string&)>& f) {
  // The source itself (its parent opened so that the callback can openat it).
  std::string parent = src.rel.find('/') == std::string::npos ? "" : src.rel.substr(0, src.rel.rfind('/'));
  std::string name = src.rel.empty() ? "." : src.rel.substr(src.rel.rfind('/') + 1);
  UniqueFd pfd = open_under(root, parent, O_RDONLY | O_DIRECTORY);
  if (!pfd) throw_sys("open", parent.empty() ? root.what : parent);
  struct stat st {};
  if (::fstatat(pfd.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0) throw_sys("stat", src.rel);
  f(src.rel, st, pfd.get(), name);
  if (!S_ISDIR(st.st_mode)) return;
  std::function<void(int, const std::string&)> rec = [&](int dfd, const std::string& rel) {
    for (const auto& n : sorted_entries(dfd)) {
      std::string r = join(rel, n);
      bool ignored = root.context && root.ignore && root.ignore->excluded(r);
      struct stat est {};
      if (::fstatat(dfd, n.c_str(), &est, AT_SYMLINK_NOFOLLOW) < 0) throw_sys("stat", r);
      if (ignored && !(S_ISDIR(est.st_mode) && root.ignore->has_exceptions_under(r))) continue;
      if (!ignored) f(r, est, dfd, n);
      if (S_ISDIR(est.st_mode)) {
        UniqueFd sub(::openat(dfd, n.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (!sub) throw_sys("open", r);
        rec(sub.get(), r);
      }
    }
  };
  UniqueFd self(::openat(pfd.get(), name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!self) throw_sys("open", src.rel);
  rec(self.get(), src.rel);
}

std::string hash_sources(const SourceRoot& root, const std::vector<Source>& sources) {
  image::Sha256 h;
  for (const auto& s : sources) {
    h.update("source " + s.rel + "\n");
    walk_source(root, s, [&](const std::string& rel, const struct stat& st, int pfd, const std::string& name) {
      std::string line = rel + " " + std::to_string(st.st_mode) + " " + std::to_string(st.st_uid) + ":" +
                         std::to_string(st.st_gid) + " " + std::to_string(st.st_size) + "\n";
      h.update(line);
      if (S_ISLNK(st.st_mode)) {
        char buf[4096];
        ssize_t n = ::readlinkat(pfd, name.c_str(), buf, sizeof buf);
        if (n < 0) throw_sys("readlink", rel);
        h.update(std::string(buf, size_t(n)));
      } else if (S_ISREG(st.st_mode)) {
        UniqueFd fd(::openat(pfd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
        if (!fd) throw_sys("open", rel);
        char buf[1 << 16];
        for (ssize_t n; (n = ::read(fd.get(), buf, sizeof buf)) != 0;) {
          if (n < 0 && errno == EINTR) continue;
          if (n < 0) throw_sys("read", rel);
          h.update(std::string_view(buf, size_t(n)));
        }
      }
    });
  }
  return h.hex();
}

}  // namespace hvrun::builder
