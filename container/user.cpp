#include "container/user.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <charconv>
#include <optional>
#include <sstream>

#include "util/error.hpp"
#include "util/fd.hpp"

namespace hvrun::container {
namespace {

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s) {
    if (c == sep) {
      out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  out.push_back(cur);
  return out;
}

std::optional<uint32_t> parse_id(const std::string& s) {
  if (s.empty()) return std::nullopt;
  uint32_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

struct PasswdEntry {
  std::string name;
  uint32_t uid, gid;
  std::string home;
};
struct GroupEntry {
  std::string name;
  uint32_t gid;
  std::vector<std::string> members;
};

std::vector<PasswdEntry> parse_passwd(const std::string& text) {
  std::vector<PasswdEntry> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    auto f = split(line, ':');
    if (f.size() < 4) continue;
    auto uid = parse_id(f[2]), gid = parse_id(f[3]);
    if (!uid || !gid) continue;
    out.push_back({f[0], *uid, *gid, f.size() > 5 && !f[5].empty() ? f[5] : "/"});
  }
  return out;
}

std::vector<GroupEntry> parse_group(const std::string& text) {
  std::vector<GroupEntry> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    auto f = split(line, ':');
    if (f.size() < 3) continue;
    auto gid = parse_id(f[2]);
    if (!gid) continue;
    GroupEntry g{f[0], *gid, {}};
    if (f.size() > 3 && !f[3].empty()) g.members = split(f[3], ',');
    out.push_back(std::move(g));
  }
  return out;
}

// Reads a small file from the current root; "" when missing.
std::string read_small(const char* path) {
  // O_NONBLOCK + regular-file check: a FIFO or device planted by the image
  // must not hang or confuse the runtime.
  UniqueFd fd(::open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
  if (!fd) {
    if (errno == ENOENT) return "";
    throw_sys("open", path);
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) < 0) throw_sys("stat", path);
  if (!S_ISREG(st.st_mode)) throw Error(std::string(path) + " in the image is not a regular file");
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_sys("read", path);
    }
    if (n == 0) break;
    out.append(buf, size_t(n));
    if (out.size() > (16u << 20)) throw Error(std::string("read ") + path + ": file too large");
  }
  return out;
}

}  // namespace

ResolvedUser resolve_user(const std::string& spec, const std::string& passwd_text, const std::string& group_text) {
  auto passwd = parse_passwd(passwd_text);
  auto groups = parse_group(group_text);
  std::string user_part = spec, group_part;
  bool has_group = false;
  if (auto colon = spec.find(':'); colon != std::string::npos) {
    user_part = spec.substr(0, colon);
    group_part = spec.substr(colon + 1);
    has_group = true;
    if (group_part.empty()) throw Error("user " + spec + ": empty group");
  }
  if (user_part.empty()) {
    if (has_group) throw Error("user " + spec + ": empty user");
    user_part.assign(1, '0');
  }

  ResolvedUser r;
  const PasswdEntry* pw = nullptr;
  if (auto uid = parse_id(user_part)) {
    r.uid = *uid;
    for (auto& e : passwd)
      if (e.uid == *uid) {
        pw = &e;
        break;
      }
  } else {
    for (auto& e : passwd)
      if (e.name == user_part) {
        pw = &e;
        break;
      }
    if (!pw) throw Error("unable to find user " + user_part + ": no matching entries in /etc/passwd");
    r.uid = pw->uid;
  }
  r.gid = pw ? pw->gid : 0;
  if (pw) r.home = pw->home;

  if (has_group) {
    if (auto gid = parse_id(group_part)) {
      r.gid = *gid;
    } else {
      const GroupEntry* ge = nullptr;
      for (auto& g : groups)
        if (g.name == group_part) {
          ge = &g;
          break;
        }
      if (!ge) throw Error("unable to find group " + group_part + ": no matching entries in /etc/group");
      r.gid = ge->gid;
    }
  }
  if (pw) {
    for (auto& g : groups)
      for (auto& m : g.members)
        if (m == pw->name && g.gid != r.gid) {
          r.groups.push_back(g.gid);
          break;
        }
  }
  return r;
}

ResolvedUser resolve_user_in_root(const std::string& spec) {
  return resolve_user(spec, read_small("/etc/passwd"), read_small("/etc/group"));
}

}  // namespace hvrun::container
