#include "container/cgroups.hpp"

#include <fcntl.h>
#include <linux/magic.h>
#include <signal.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <sstream>
#include <thread>

#include "util/error.hpp"
#include "util/fd.hpp"

namespace hvrun::container {
namespace {

bool safe_component_path(const std::string& p, bool allow_slash) {
  if (p.empty() || p.front() == '/') return false;
  std::istringstream in(p);
  std::string comp;
  int n = 0;
  while (std::getline(in, comp, '/')) {
    if (comp.empty() || comp == "." || comp == "..") return false;
    ++n;
  }
  return allow_slash || n == 1;
}

}  // namespace

CgroupVersion detect_cgroup_version(const std::string& root) {
  struct statfs st {};
  if (::statfs(root.c_str(), &st) < 0) throw_sys("statfs", root);
  return st.f_type == CGROUP2_SUPER_MAGIC ? CgroupVersion::V2 : CgroupVersion::V1;
}

std::vector<pid_t> Cgroup::procs() const { return cgroup_detail::read_procs(path()); }

std::unique_ptr<Cgroup> Cgroup::for_container(const std::string& parent, const std::string& id, const std::string& root) {
  if (!safe_component_path(id, false)) throw Error("invalid container id for a cgroup name: \"" + id + "\"");
  if (!parent.empty() && !safe_component_path(parent, true))
    throw Error("invalid cgroup parent: \"" + parent + "\"");
  std::string rel = parent.empty() ? id : parent + "/" + id;
  return detect_cgroup_version(root) == CgroupVersion::V2 ? make_cgroup_v2(root, rel) : make_cgroup_v1(root, rel);
}

std::vector<Cgroup::JoinFile> Cgroup::open_join_files() const { return {}; }

void Cgroup::join_self(const std::vector<JoinFile>& files) {
  for (auto& f : files)
    if (::write(f.fd.get(), "0", 1) != 1) throw_sys("join cgroup: write 0 to", f.path);
}

namespace cgroup_detail {

std::vector<pid_t> read_procs(const std::string& dir) {
  std::vector<pid_t> out;
  std::string path = dir + "/cgroup.procs";
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    if (errno == ENOENT) return out;
    throw_sys("open", path);
  }
  std::string text;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fd.get(), buf, sizeof buf)) > 0) text.append(buf, size_t(n));
  std::istringstream in(text);
  pid_t p;
  while (in >> p) out.push_back(p);
  return out;
}

void write_value(const std::string& file, const std::string& value) {
  UniqueFd fd(::open(file.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd) throw_sys("open", file);
  if (::write(fd.get(), value.data(), value.size()) != ssize_t(value.size()))
    throw_sys("write " + value + " to", file);
}

int64_t read_keyed(const std::string& file, const std::string& key) {
  UniqueFd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return -1;
  std::istringstream in(read_to_end(fd.get()));
  std::string k;
  int64_t v;
  while (in >> k >> v)
    if (k == key) return v;
  return -1;
}

std::pair<int64_t, int64_t> read_io_bytes(const std::string& file) {
  UniqueFd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return {-1, -1};
  int64_t r = 0, w = 0;
  std::istringstream lines(read_to_end(fd.get()));
  for (std::string line; std::getline(lines, line);) {
    std::istringstream in(line);
    std::string dev, word;
    in >> dev;
    if (dev.find(':') == std::string::npos) continue;  // v1's "Total N"
    while (in >> word) {
      if (word == "Read" || word == "Write") {  // v1: "MAJ:MIN Read N"
        int64_t v = 0;
        if (in >> v) (word == "Read" ? r : w) += v;
      } else if (word.rfind("rbytes=", 0) == 0) {
        r += std::strtoll(word.c_str() + 7, nullptr, 10);
      } else if (word.rfind("wbytes=", 0) == 0) {
        w += std::strtoll(word.c_str() + 7, nullptr, 10);
      }
    }
  }
  return {r, w};
}

int64_t read_number(const std::string& file) {
  UniqueFd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return -1;
  char buf[64] = {};
  if (::read(fd.get(), buf, sizeof buf - 1) <= 0) return -1;
  char* end = nullptr;
  errno = 0;
  const long long v = std::strtoll(buf, &end, 10);
  return end == buf || errno ? -1 : v;
}

void kill_procs_loop(const std::string& dir) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  for (;;) {
    auto procs = read_procs(dir);
    if (procs.empty()) return;
    for (pid_t p : procs) ::kill(p, SIGKILL);
    if (std::chrono::steady_clock::now() > deadline) throw Error("cgroup " + dir + ": processes survive SIGKILL");
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

void remove_dir(const std::string& dir) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (::rmdir(dir.c_str()) < 0) {
    if (errno == ENOENT) return;
    if (errno != EBUSY || std::chrono::steady_clock::now() > deadline) throw_sys("rmdir", dir);
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

}  // namespace cgroup_detail
}  // namespace hvrun::container
