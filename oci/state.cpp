#include "oci/state.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "container/freezer.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

namespace hvrun::oci {

using nlohmann::json;

std::string state_json(const Record& r, const std::string& status) {
  json j = {{"ociVersion", "1.0.2"},
            {"id", r.id},
            {"status", status},
            {"pid", status == "stopped" ? 0 : r.pid},
            {"bundle", r.bundle},
            {"rootfs", r.rootfs},
            {"created", r.created},
            {"owner", r.owner}};
  if (!r.annotations.empty()) j["annotations"] = r.annotations;
  return j.dump(2);
}

void check_id(const std::string& id) {
  bool ok = !id.empty() && id.size() <= 1024 && id != "." && id != "..";
  for (char c : id)
    ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '+' || c == '-' || c == '.');
  if (!ok) throw Error("invalid container id \"" + id + "\" (letters, digits, _ + - . only)");
}

uint64_t process_start_time(pid_t pid) {
  if (pid <= 0) return 0;
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(in, line)) return 0;
  // "PID (comm) S ppid ...": comm may hold spaces and parentheses.
  size_t close = line.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream rest(line.substr(close + 1));
  std::string state;
  rest >> state;
  if (state == "Z" || state == "X") return 0;
  std::string field;
  for (int i = 4; i < 22; ++i) rest >> field;  // fields 4..21
  uint64_t start = 0;
  rest >> start;
  return start;
}

StateDir::StateDir(std::string root) : root_(std::move(root)) {
  if (root_.empty() || root_[0] != '/') throw Error("--root must be an absolute path: \"" + root_ + "\"");
  while (root_.size() > 1 && root_.back() == '/') root_.pop_back();
}

void StateDir::make(const std::string& id) const {
  check_id(id);
  mkdir_p(root_, 0711);
  if (::mkdir(dir(id).c_str(), 0711) < 0) {
    if (errno == EEXIST) throw Error("container with id " + id + " exists");
    throw_sys("mkdir", dir(id));
  }
}

void StateDir::save(const Record& r) const {
  json j = {{"id", r.id},           {"pid", r.pid},
            {"pid_start", r.pid_start}, {"bundle", r.bundle},
            {"rootfs", r.rootfs},   {"created", r.created},
            {"owner", r.owner},     {"annotations", r.annotations},
            {"cgroup_parent", r.cgroup_parent}, {"cgroup_name", r.cgroup_name},
            {"spec", r.spec},       {"hooks", r.hooks},
            {"vm", r.vm},           {"vm_netns", r.vm_netns}};
  write_file_atomic(dir(r.id) + "/state.json", j.dump() + "\n", 0600);
}

bool StateDir::exists(const std::string& id) const { return path_exists(dir(id) + "/state.json"); }

Record StateDir::load(const std::string& id) const {
  check_id(id);
  std::string path = dir(id) + "/state.json";
  if (!path_exists(path)) throw Error("container " + id + " does not exist");
  try {
    json j = json::parse(read_file(path));
    Record r;
    r.id = j.at("id").get<std::string>();
    r.pid = j.at("pid").get<pid_t>();
    r.pid_start = j.at("pid_start").get<uint64_t>();
    r.bundle = j.at("bundle").get<std::string>();
    r.rootfs = j.at("rootfs").get<std::string>();
    r.created = j.at("created").get<std::string>();
    r.owner = j.value("owner", "");
    r.annotations = j.value("annotations", std::map<std::string, std::string>{});
    r.cgroup_parent = j.at("cgroup_parent").get<std::string>();
    r.cgroup_name = j.at("cgroup_name").get<std::string>();
    r.spec = j.at("spec").get<container::RunSpec>();
    r.hooks = j.value("hooks", Hooks{});
    r.vm = j.value("vm", false);
    r.vm_netns = j.value("vm_netns", "");
    if (r.id != id) throw Error("it names container " + r.id);
    return r;
  } catch (const json::exception& e) {
    throw Error("state of container " + id + " (" + path + ") is unreadable: " + e.what());
  } catch (const Error& e) {
    throw Error("state of container " + id + " (" + path + ") is unreadable: " + e.what());
  }
}

std::vector<std::string> StateDir::ids() const {
  std::vector<std::string> out;
  if (!is_dir(root_)) return out;
  for (auto& name : list_dir(root_))
    if (exists(name)) out.push_back(name);
  std::sort(out.begin(), out.end());
  return out;
}

void StateDir::remove(const std::string& id) const {
  check_id(id);
  remove_all(dir(id));
}

FileLock StateDir::lock(const std::string& id) const {
  check_id(id);
  if (!is_dir(dir(id))) throw Error("container " + id + " does not exist");
  return FileLock(dir(id) + "/lock");
}

bool alive(const Record& r) { return r.pid_start != 0 && process_start_time(r.pid) == r.pid_start; }

std::string StateDir::status(const Record& r) const {
  if (!alive(r)) return "stopped";
  if (path_exists(exec_fifo(r.id))) return "created";
  if (container::freezer_state(r.cgroup_name, r.cgroup_parent) == "FROZEN") return "paused";
  return "running";
}

}  // namespace hvrun::oci
