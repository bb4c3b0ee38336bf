#include "image/changes.hpp"

#include <dirent.h>
#include <sys/stat.h>
#include <sys/xattr.h>

#include <algorithm>
#include <cerrno>

#include "util/error.hpp"
#include "util/fs.hpp"

namespace hvrun::image {

namespace {

bool is_whiteout(const struct stat& st) { return S_ISCHR(st.st_mode) && st.st_rdev == 0; }

bool is_opaque(const std::string& path) {
  char v[2];
  ssize_t n = ::lgetxattr(path.c_str(), "trusted.overlay.opaque", v, sizeof v);
  return n == 1 && v[0] == 'y';
}

std::vector<std::string> sorted_names(const std::string& dir) {
  auto names = list_dir(dir);
  std::sort(names.begin(), names.end());
  return names;
}

std::vector<std::string> split(const std::string& rel) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < rel.size()) {
    size_t j = rel.find('/', i);
    if (j == std::string::npos) j = rel.size();
    if (j > i) out.push_back(rel.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

// `rel` in the merged view of `lowers` (top first): whiteouts, opaque
// directories and files that shadow a directory below are honoured.
bool lower_stat(const std::vector<std::string>& lowers, const std::string& rel, struct stat& out) {
  const auto comps = split(rel);
  for (const auto& layer : lowers) {
    std::string p = layer;
    bool hides_below = false;  // an opaque prefix: layers below add nothing here
    for (size_t i = 0; i < comps.size(); ++i) {
      p += "/" + comps[i];
      struct stat st;
      if (::lstat(p.c_str(), &st) < 0) {
        if (errno != ENOENT && errno != ENOTDIR) throw_sys("lstat", p);
        break;  // nothing here in this layer
      }
      if (is_whiteout(st)) return false;
      if (i + 1 == comps.size()) {
        out = st;
        return true;
      }
      if (!S_ISDIR(st.st_mode)) return false;  // a file shadows the directories below
      if (is_opaque(p)) hides_below = true;
    }
    if (hides_below) return false;
  }
  return false;
}

struct Walker {
  const std::string& upper;
  const std::vector<std::string>& lowers;
  const std::set<std::string>& skip;
  std::vector<Change> out;
  std::set<std::string> listed_dirs;  // directories already in `out`

  // Lists the directories above `rel` that are not listed yet, outermost first.
  void add_parents(const std::string& rel) {
    std::vector<std::string> missing;
    for (size_t pos = rel.rfind('/'); pos != std::string::npos && pos > 0; pos = rel.rfind('/', pos - 1)) {
      std::string parent = rel.substr(0, pos);
      if (listed_dirs.count(parent)) break;
      missing.push_back(parent);
    }
    for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
      out.push_back({'C', "/" + *it});
      listed_dirs.insert(*it);
    }
  }

  void record(char kind, const std::string& rel, bool dir) {
    add_parents(rel);
    out.push_back({kind, "/" + rel});
    if (dir) listed_dirs.insert(rel);
  }

  // Walks upper/rel (a directory); under_opaque: nothing below exists in
  // the lowers as far as this container sees.
  void walk(const std::string& rel, bool under_opaque) {
    const std::string dir = rel.empty() ? upper : upper + "/" + rel;
    for (const auto& name : sorted_names(dir)) {
      const std::string r = rel.empty() ? name : rel + "/" + name;
      if (skip.count(r)) continue;
      const std::string full = upper + "/" + r;
      struct stat st;
      if (::lstat(full.c_str(), &st) < 0) {
        if (errno == ENOENT) continue;  // gone meanwhile (a running container)
        throw_sys("lstat", full);
      }
      const bool is_dir = S_ISDIR(st.st_mode);
      if (is_whiteout(st)) {
        record('D', r, false);
        continue;
      }
      struct stat below {};
      const bool exists_below = !under_opaque && lower_stat(lowers, r, below);
      bool opaque_here = under_opaque;
      const size_t mark = out.size();
      bool tentative = false;  // listed only for its own stat: undone if that came from skipped files
      if (is_dir && is_opaque(full)) {
        opaque_here = true;
        if (exists_below) record('D', r, true);  // the directory below is gone, what is here now is new
        else record('A', r, true);
      } else if (!exists_below) {
        record('A', r, is_dir);
      } else if (is_dir && S_ISDIR(below.st_mode)) {
        if (st.st_mode != below.st_mode || st.st_size != below.st_size ||
            st.st_mtim.tv_sec != below.st_mtim.tv_sec || st.st_mtim.tv_nsec != below.st_mtim.tv_nsec) {
          record('C', r, true);
          tentative = true;
        }
      } else {
        record('C', r, is_dir);
      }
      if (!is_dir) continue;
      const size_t before_children = out.size();
      walk(r, opaque_here);
      if (tentative && out.size() == before_children && has_skipped_child(r)) {
        for (size_t i = mark; i < out.size(); ++i) listed_dirs.erase(out[i].path.substr(1));
        out.resize(mark);  // changed only by what hvrun wrote there
      }
    }
  }

  bool has_skipped_child(const std::string& rel) const {
    for (const auto& s : skip)
      if (s.size() > rel.size() && s.compare(0, rel.size(), rel) == 0 && s[rel.size()] == '/' &&
          s.find('/', rel.size() + 1) == std::string::npos)
        return true;
    return false;
  }
};

}  // namespace

std::vector<Change> upper_changes(const std::string& upper, const std::vector<std::string>& lowers,
                                  const std::set<std::string>& skip) {
  Walker w{upper, lowers, skip, {}, {}};
  w.walk("", false);
  return std::move(w.out);
}

std::string format_changes(const std::vector<Change>& changes) {
  std::string s;
  for (const auto& c : changes) {
    s += c.kind;
    s += ' ';
    s += c.path;
    s += '\n';
  }
  return s;
}

}  // namespace hvrun::image
