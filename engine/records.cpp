#include "engine/records.hpp"
#include "engine/events.hpp"
#include "engine/network.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <ctime>

#include "container/runtime.hpp"
#include "util/error.hpp"
#include "util/fd.hpp"
#include "util/fs.hpp"

namespace hvrun::engine {

namespace {

constexpr std::array kAdjectives{
    "agile",   "bold",    "brave",   "bright",  "calm",     "clever",  "crisp",   "eager",   "fancy",
    "gentle",  "happy",   "humble",  "jolly",   "keen",     "kind",    "lively",  "lucid",   "merry",
    "modest",  "nimble",  "patient", "proud",   "quiet",    "quick",   "serene",  "sharp",   "steady",
    "sunny",   "swift",   "tender",  "upbeat",  "vivid",    "warm",    "wise",    "witty",   "zealous"};
constexpr std::array kSurnames{
    "babbage",  "bell",     "bohr",     "curie",    "darwin",  "dijkstra", "einstein", "euler",   "faraday",
    "fermat",   "feynman",  "gauss",    "hopper",   "hypatia", "kepler",   "knuth",    "lamport", "lovelace",
    "maxwell",  "meitner",  "newton",   "noether",  "pascal",  "planck",   "ritchie",  "shannon", "tesla",
    "thompson", "torvalds", "turing",   "volta",    "wozniak", "yalow",    "wiles",    "hamilton", "ramanujan"};

void write_no_sync(const std::string& path, const std::string& content) {
  std::string tmp = path + ".tmp";
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!fd) throw_sys("create", tmp);
  size_t off = 0;
  while (off < content.size()) {
    ssize_t n = ::write(fd.get(), content.data() + off, content.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_sys("write", tmp);
    }
    off += static_cast<size_t>(n);
  }
  fd.reset();
  if (::rename(tmp.c_str(), path.c_str()) < 0) throw_sys("rename to", path);
}

std::optional<std::string> read_link(const std::string& path) {
  char buf[256];
  ssize_t n = ::readlink(path.c_str(), buf, sizeof buf - 1);
  if (n < 0) return std::nullopt;
  return std::string(buf, static_cast<size_t>(n));
}

}  // namespace

std::optional<uint64_t> proc_starttime(pid_t pid) {
  if (pid <= 0) return std::nullopt;
  std::string stat;
  try {
    stat = read_file("/proc/" + std::to_string(pid) + "/stat");
  } catch (const Error&) {
    return std::nullopt;
  }
  size_t p = stat.rfind(')');
  if (p == std::string::npos) return std::nullopt;
  // After ") " come fields 3 (state) ... 22 (starttime): skip 19 fields.
  const char* s = stat.c_str() + p + 2;
  for (int field = 3; field < 22; ++field) {
    s = std::strchr(s, ' ');
    if (!s) return std::nullopt;
    ++s;
  }
  return std::strtoull(s, nullptr, 10);
}

std::string generate_name() {
  std::string r = random_hex(4);
  unsigned long v = std::stoul(r, nullptr, 16);
  return std::string(kAdjectives[v % kAdjectives.size()]) + "_" + kSurnames[(v / kAdjectives.size()) % kSurnames.size()];
}

bool valid_name(const std::string& name) {
  if (name.empty() || name.size() > 128) return false;
  if (!std::isalnum(static_cast<unsigned char>(name[0]))) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-';
  });
}

bool is_container_id(const std::string& s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

Records::Records(std::string store_root) : base_(std::move(store_root) + "/containers") {}

FileLock Records::create(ContainerConfig& cfg) {
  mkdir_p(base_ + "/names");
  bool generated = cfg.name.empty();
  if (!generated && !valid_name(cfg.name))
    throw Error("invalid container name \"" + cfg.name + "\": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed");
  cfg.id = random_hex(32);
  cfg.created = now_rfc3339_nano();
  std::string tmp = dir(cfg.id) + ".tmp";
  if (::mkdir(tmp.c_str(), 0700) < 0) throw_sys("mkdir", tmp);
  FileLock lock(tmp + "/lock");
  try {
    cfg.spec.id = cfg.id;
    if (cfg.spec.hostname.empty()) cfg.spec.hostname = cfg.id.substr(0, 12);
    if (cfg.spec.rootfs.empty()) {
      cfg.spec.upperdir = dir(cfg.id) + "/upper";
      cfg.spec.workdir = dir(cfg.id) + "/work";
      if (::mkdir((tmp + "/upper").c_str(), 0755) < 0) throw_sys("mkdir", tmp + "/upper");
      if (::mkdir((tmp + "/work").c_str(), 0700) < 0) throw_sys("mkdir", tmp + "/work");
    }
    if (!generated) {
      // A --rm container whose monitor died gives its name back (refresh
      // finishes its removal).
      if (auto target = read_link(base_ + "/names/" + cfg.name); target && is_container_id(*target) && is_dir(dir(*target))) {
        try {
          refresh(*target);
        } catch (const Error&) {
        }
      }
    }
    FileLock names(base_ + "/.lock");
    for (int attempt = 0;; ++attempt) {
      if (generated) cfg.name = attempt < 20 ? generate_name() : generate_name() + "_" + random_hex(2);
      std::string link = base_ + "/names/" + cfg.name;
      if (auto target = read_link(link)) {
        if (is_dir(dir(*target))) {
          if (generated && attempt < 100) continue;
          throw Error("container name \"" + cfg.name + "\" is already in use by container " + target->substr(0, 12));
        }
        ::unlink(link.c_str());  // dangling: its container is gone
      }
      cfg.spec.name = cfg.name;
      write_no_sync(tmp + "/config.json", nlohmann::json(cfg).dump());
      write_no_sync(tmp + "/state.json", nlohmann::json(State{}).dump());
      if (::rename(tmp.c_str(), dir(cfg.id).c_str()) < 0) throw_sys("rename", tmp);
      if (::symlink(cfg.id.c_str(), link.c_str()) < 0) {
        int e = errno;
        remove_all(dir(cfg.id));
        throw_sys("symlink", link, e);
      }
      break;
    }
  } catch (...) {
    std::error_code ec;
    remove_all(tmp);
    throw;
  }
  return lock;
}

std::string Records::resolve(const std::string& ref) const {
  if (ref.empty()) throw Error("no such container: (empty name)");
  if (is_container_id(ref) && is_dir(dir(ref))) return ref;
  if (valid_name(ref)) {
    if (auto target = read_link(base_ + "/names/" + ref); target && is_dir(dir(*target))) return *target;
  }
  if (ref.find_first_not_of("0123456789abcdef") == std::string::npos) {
    std::string found;
    for (const auto& id : list_dir(base_)) {
      if (!is_container_id(id) || id.rfind(ref, 0) != 0) continue;
      if (!found.empty()) throw Error("container id prefix \"" + ref + "\" is ambiguous");
      found = id;
    }
    if (!found.empty()) return found;
  }
  throw Error("no such container: " + ref);
}

std::vector<std::string> Records::ids() const {
  std::vector<std::pair<std::string, std::string>> v;
  for (const auto& id : list_dir(base_)) {
    if (!is_container_id(id)) continue;
    try {
      v.emplace_back(load_config(id).created, id);
    } catch (const Error&) {
      // removed meanwhile
    }
  }
  std::sort(v.begin(), v.end());
  std::vector<std::string> out;
  for (auto& [c, id] : v) out.push_back(id);
  return out;
}

ContainerConfig Records::load_config(const std::string& id) const {
  auto j = nlohmann::json::parse(read_file(config_path(id)), nullptr, false);
  if (j.is_discarded()) throw Error("corrupt " + config_path(id));
  return j.get<ContainerConfig>();
}

State Records::load_state(const std::string& id) const {
  auto j = nlohmann::json::parse(read_file(state_path(id)), nullptr, false);
  if (j.is_discarded()) throw Error("corrupt " + state_path(id));
  return j.get<State>();
}

void Records::save_state(const std::string& id, const State& st) const {
  write_no_sync(state_path(id), nlohmann::json(st).dump());
}

bool Records::monitor_alive(const std::string& id) const {
  if (!is_dir(dir(id))) return false;
  return !FileLock::try_lock(lock_path(id)).held();
}

void Records::mark_stopped_by_user(const std::string& id, bool stopped) const {
  const std::string p = dir(id) + "/stopped-by-user";
  if (!stopped) {
    if (::unlink(p.c_str()) < 0 && errno != ENOENT) throw_sys("unlink", p);
    return;
  }
  UniqueFd f(::open(p.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!f) throw_sys("create", p);
}

bool Records::stopped_by_user(const std::string& id) const { return path_exists(dir(id) + "/stopped-by-user"); }

State Records::refresh(const std::string& id) const {
  State st = load_state(id);
  if (st.status == "exited" && st.restarting) {
    // Its monitor died while it waited to restart it: no restart is coming.
    FileLock lock = FileLock::try_lock(lock_path(id));
    if (!lock.held()) return st;
    st = load_state(id);
    if (st.restarting) {
      st.restarting = false;
      save_state(id, st);
    }
    return st;
  }
  if (st.status == "exited" || st.start_pending) return st;
  FileLock lock = FileLock::try_lock(lock_path(id));
  if (!lock.held()) return st;  // its monitor is alive: the state is true
  st = load_state(id);  // re-read under the lock
  if (st.start_pending) return st;  // `hvrun create` made it; nobody started it yet
  ContainerConfig cfg = load_config(id);
  if (cfg.auto_remove) {
    // --rm whose monitor was killed (kill -9 of a foreground hvrun): finish
    // the removal it could not do. Its workload died with it (SIGKILL).
    st.exit_code = st.status == "running" ? 128 + SIGKILL : 255;
    st.status = "exited";
    st.error = "monitor died";
    st.finished_at = now_rfc3339_nano();
    try {
      save_exit_note(id, st);
    } catch (const std::exception&) {
    }
    remove(id, cfg.name);
    throw Error("no such container: " + id.substr(0, 12) + " (removed: it was started with --rm and its monitor died)");
  }
  if (st.status == "exited") return st;
  container::cleanup(id, cfg.spec.cgroup_parent);
  if (st.status == "running") {
    // The workload died by SIGKILL: the parent-death signal its monitor's
    // death sent, or the cleanup just now. Docker's 128 + 9.
    st.exit_code = 128 + SIGKILL;
    if (st.error.empty()) st.error = "monitor died; the container was killed (SIGKILL)";
  } else {
    if (st.exit_code == 0) st.exit_code = 255;  // never started: Docker's code for "lost"
    if (st.error.empty()) st.error = "monitor died before the container started";
  }
  st.status = "exited";
  st.finished_at = now_rfc3339_nano();
  save_state(id, st);
  return st;
}

void Records::save_config(const ContainerConfig& cfg) const {
  write_no_sync(config_path(cfg.id), nlohmann::json(cfg).dump());
}

void Records::rename(const std::string& id, const std::string& name) const {
  if (!valid_name(name))
    throw Error("invalid container name \"" + name + "\": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed");
  FileLock names(base_ + "/.lock");
  ContainerConfig cfg = load_config(id);
  if (cfg.name == name) throw Error("container " + id.substr(0, 12) + " is already named \"" + name + "\"");
  const std::string link = base_ + "/names/" + name;
  if (auto target = read_link(link)) {
    if (is_dir(dir(*target)))
      throw Error("container name \"" + name + "\" is already in use by container " + target->substr(0, 12));
    ::unlink(link.c_str());  // dangling: its container is gone
  }
  if (::symlink(id.c_str(), link.c_str()) < 0) throw_sys("symlink", link);
  const std::string old = cfg.name;
  cfg.name = cfg.spec.name = name;
  try {
    save_config(cfg);
  } catch (...) {
    ::unlink(link.c_str());
    throw;
  }
  const std::string old_link = base_ + "/names/" + old;
  if (auto target = read_link(old_link); target && *target == id) ::unlink(old_link.c_str());
  rename_in_networks(store_root(), id, name);
}

void Records::remove(const std::string& id, const std::string& name) const {
  std::string parent = "hvrun", image;
  uint32_t owner = 0;
  try {
    const ContainerConfig cfg = load_config(id);
    parent = cfg.spec.cgroup_parent;
    image = cfg.image;
    owner = cfg.owner_uid;
  } catch (const Error&) {
  }
  container::cleanup(id, parent);
  detach_network(store_root(), id);
  FileLock names(base_ + "/.lock");
  std::string link = base_ + "/names/" + name;
  if (auto target = read_link(link); target && *target == id) ::unlink(link.c_str());
  // Rename first so that a half-removed dir is never taken for a record.
  std::string doomed = dir(id) + ".tmp";
  if (::rename(dir(id).c_str(), doomed.c_str()) < 0 && errno != ENOENT) throw_sys("rename", dir(id));
  remove_all(doomed);
  record_event(base_, "destroy", id, name, image, owner);
}

void Records::save_exit_note(const std::string& id, const State& st) const {
  mkdir_p(base_ + "/exits", 0700);
  write_no_sync(base_ + "/exits/" + id + ".json", nlohmann::json(st).dump());
}

std::optional<State> Records::load_exit_note(const std::string& id) const {
  if (!is_container_id(id)) return std::nullopt;
  UniqueFd fd(::open((base_ + "/exits/" + id + ".json").c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return std::nullopt;
  try {
    return nlohmann::json::parse(read_to_end(fd.get())).get<State>();
  } catch (const std::exception&) {
    return std::nullopt;  // torn or foreign: as if none
  }
}

void Records::collect_garbage() const {
  const std::string exits = base_ + "/exits";
  if (is_dir(exits)) {
    const time_t hour_ago = ::time(nullptr) - 3600;
    for (const auto& n : list_dir(exits)) {
      struct stat sb {};
      const std::string p = exits + "/" + n;
      if (::lstat(p.c_str(), &sb) == 0 && sb.st_mtime < hour_ago) ::unlink(p.c_str());
    }
  }
  for (const auto& n : list_dir(base_)) {
    if (n.size() != 68 || n.compare(64, 4, ".tmp") != 0) continue;
    std::string path = base_ + "/" + n;
    try {
      FileLock l = FileLock::try_lock(path + "/lock");
      if (!l.held()) continue;  // its creator (or remover) is still at work
      container::cleanup(n.substr(0, 64));
      remove_all(path);
    } catch (const Error&) {
      // gone meanwhile
    }
  }
}

}  // namespace hvrun::engine
