#include "oci/config.hpp"

#include <sys/stat.h>

#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>

#include "container/mounts.hpp"
#include "container/namespaces.hpp"
#include "container/process.hpp"
#include "container/sysctl.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

namespace hvrun::oci {
namespace {

using json = nlohmann::json;

[[noreturn]] void bad(const std::string& field, const std::string& why) {
  throw Error("config.json: " + field + ": " + why);
}

// The member `key` of object `o`, or nullptr when absent or null.
const json* member(const json& o, const char* key) {
  auto it = o.find(key);
  return it == o.end() || it->is_null() ? nullptr : &*it;
}

const json& object(const json& v, const std::string& field) {
  if (!v.is_object()) bad(field, "must be an object");
  return v;
}

std::string string(const json& v, const std::string& field) {
  if (!v.is_string()) bad(field, "must be a string");
  return v.get<std::string>();
}

bool boolean(const json& v, const std::string& field) {
  if (!v.is_boolean()) bad(field, "must be true or false");
  return v.get<bool>();
}

int64_t integer(const json& v, const std::string& field, int64_t min, int64_t max) {
  if (!v.is_number_integer()) bad(field, "must be an integer");
  if (v.is_number_unsigned() && v.get<uint64_t>() > uint64_t(std::numeric_limits<int64_t>::max()))
    bad(field, "is out of range");
  const int64_t n = v.get<int64_t>();
  if (n < min || n > max) bad(field, std::to_string(n) + " is out of range " + std::to_string(min) + "-" + std::to_string(max));
  return n;
}

std::vector<std::string> strings(const json& v, const std::string& field) {
  if (!v.is_array()) bad(field, "must be a list of strings");
  std::vector<std::string> out;
  for (size_t i = 0; i < v.size(); ++i) out.push_back(string(v[i], field + "[" + std::to_string(i) + "]"));
  return out;
}

std::string absolute_path(const json& v, const std::string& field) {
  std::string p = string(v, field);
  if (p.empty() || p[0] != '/') bad(field, "\"" + p + "\" must be an absolute path");
  return p;
}

// A path in the config relative to the bundle (root.path, a bind's source).
std::string in_bundle(const std::string& bundle_dir, const std::string& p) {
  if (!p.empty() && p[0] == '/') return p;
  return bundle_dir + "/" + p;
}

void read_process(const json& p, Bundle& b) {
  container::RunSpec& s = b.spec;
  const json* args = member(p, "args");
  if (!args) bad("process.args", "is required");
  s.args = strings(*args, "process.args");
  if (s.args.empty() || s.args[0].empty()) bad("process.args", "must name a program");
  if (const json* env = member(p, "env")) {
    s.env = strings(*env, "process.env");
    for (size_t i = 0; i < s.env.size(); ++i)
      if (s.env[i].find('=') == std::string::npos || s.env[i][0] == '=')
        bad("process.env[" + std::to_string(i) + "]", "\"" + s.env[i] + "\" is not NAME=value");
  }
  const json* cwd = member(p, "cwd");
  if (!cwd) bad("process.cwd", "is required");
  s.cwd = absolute_path(*cwd, "process.cwd");
  if (const json* t = member(p, "terminal")) s.tty = boolean(*t, "process.terminal");
  if (const json* cs = member(p, "consoleSize")) {
    object(*cs, "process.consoleSize");
    if (const json* h = member(*cs, "height")) s.tty_rows = uint16_t(integer(*h, "process.consoleSize.height", 0, 65535));
    if (const json* w = member(*cs, "width")) s.tty_cols = uint16_t(integer(*w, "process.consoleSize.width", 0, 65535));
  }
  const json* user = member(p, "user");
  if (!user) bad("process.user", "is required");
  object(*user, "process.user");
  const json* uid = member(*user, "uid");
  const json* gid = member(*user, "gid");
  if (!uid || !gid) bad("process.user", "needs uid and gid");
  s.user = std::to_string(integer(*uid, "process.user.uid", 0, 0xfffffffe)) + ":" +
           std::to_string(integer(*gid, "process.user.gid", 0, 0xfffffffe));
  if (const json* g = member(*user, "additionalGids"); g && !g->empty()) {
    if (!g->is_array()) bad("process.user.additionalGids", "must be a list of integers");
    for (size_t i = 0; i < g->size(); ++i)
      s.additional_gids.push_back(
          uint32_t(integer((*g)[i], "process.user.additionalGids[" + std::to_string(i) + "]", 0, 0xfffffffe)));
  }
  if (const json* u = member(*user, "umask")) s.umask = int(integer(*u, "process.user.umask", 0, 0777));
  if (const json* caps = member(p, "capabilities")) {
    object(*caps, "process.capabilities");
    std::set<std::string> all;
    std::vector<std::set<std::string>> sets;
    for (const char* set : {"bounding", "effective", "permitted", "inheritable", "ambient"}) {
      std::set<std::string> one;
      if (const json* v = member(*caps, set)) {
        const std::string field = std::string("process.capabilities.") + set;
        for (const auto& c : strings(*v, field)) {
          if (c.rfind("CAP_", 0) != 0 || c.size() == 4) bad(field, "\"" + c + "\" is not a capability name (CAP_...)");
          one.insert(c);
        }
      }
      if (std::string(set) != "inheritable" && std::string(set) != "ambient") all.insert(one.begin(), one.end());
      sets.push_back(std::move(one));
    }
    s.cap_drop = {"ALL"};
    s.cap_add.assign(all.begin(), all.end());
    if (sets[0] != sets[1] || sets[0] != sets[2])
      b.warnings.push_back("config.json: process.capabilities: the bounding, effective and permitted sets differ; "
                           "the process gets their union in each");
    if (!sets[3].empty() || !sets[4].empty())
      b.warnings.push_back("config.json: process.capabilities.inheritable/ambient are not applied yet");
  }
  if (const json* n = member(p, "noNewPrivileges")) s.no_new_privileges = boolean(*n, "process.noNewPrivileges");
  if (const json* r = member(p, "rlimits"); r && !r->empty()) {
    if (!r->is_array()) bad("process.rlimits", "must be a list");
    for (size_t i = 0; i < r->size(); ++i) {
      const std::string field = "process.rlimits[" + std::to_string(i) + "]";
      const json& one = object((*r)[i], field);
      const json* type = member(one, "type");
      if (!type) bad(field + ".type", "is required");
      container::Rlimit l;
      l.type = string(*type, field + ".type");
      if (container::rlimit_resource(l.type) < 0) bad(field + ".type", "\"" + l.type + "\" is not a Linux resource limit");
      const json* soft = member(one, "soft");
      const json* hard = member(one, "hard");
      if (!soft || !hard) bad(field, "needs soft and hard");
      if (!soft->is_number_unsigned() && !(soft->is_number_integer() && soft->get<int64_t>() >= 0))
        bad(field + ".soft", "must be a non-negative integer");
      if (!hard->is_number_unsigned() && !(hard->is_number_integer() && hard->get<int64_t>() >= 0))
        bad(field + ".hard", "must be a non-negative integer");
      l.soft = soft->get<uint64_t>();
      l.hard = hard->get<uint64_t>();
      if (l.soft > l.hard) bad(field, "soft " + std::to_string(l.soft) + " is above hard " + std::to_string(l.hard));
      for (auto& prev : s.rlimits)
        if (prev.type == l.type) bad(field + ".type", "\"" + l.type + "\" is listed twice");
      s.rlimits.push_back(l);
    }
  }
  for (const char* ignored : {"apparmorProfile", "selinuxLabel"})
    if (const json* v = member(p, ignored); v && !string(*v, std::string("process.") + ignored).empty())
      b.warnings.push_back(std::string("config.json: process.") + ignored + " is ignored (no LSM labels here)");
  if (const json* o = member(p, "oomScoreAdj")) {
    s.oom_score_adj = int(integer(*o, "process.oomScoreAdj", -1000, 1000));
    s.set_oom_score_adj = true;
  }
}

// The mounts the container stack makes itself, at these places, of these types.
bool standard_mount(const std::string& dest, const std::string& type) {
  static const std::map<std::string, std::set<std::string>> kOwn = {
      {"/proc", {"proc"}},          {"/dev", {"tmpfs"}},        {"/dev/pts", {"devpts"}},
      {"/dev/shm", {"tmpfs"}},      {"/dev/mqueue", {"mqueue"}}, {"/sys", {"sysfs", "bind"}},
      {"/sys/fs/cgroup", {"cgroup", "cgroup2"}}};
  auto it = kOwn.find(dest);
  return it != kOwn.end() && it->second.count(type);
}

void read_mounts(const json& ms, Bundle& b) {
  if (!ms.is_array()) bad("mounts", "must be a list");
  for (size_t i = 0; i < ms.size(); ++i) {
    const std::string field = "mounts[" + std::to_string(i) + "]";
    const json& m = object(ms[i], field);
    const json* dest = member(m, "destination");
    if (!dest) bad(field + ".destination", "is required");
    const std::string target = absolute_path(*dest, field + ".destination");
    std::string type = member(m, "type") ? string(m["type"], field + ".type") : "";
    std::vector<std::string> options = member(m, "options") ? strings(m["options"], field + ".options") : std::vector<std::string>{};
    bool bind = type == "bind", ro = false;
    for (const auto& o : options) {
      if (o == "bind" || o == "rbind") bind = true;
      if (o == "ro") ro = true;
    }
    if (standard_mount(target, bind ? "bind" : type)) continue;
    if (!bind && type == "tmpfs") {
      container::TmpfsMount t;
      t.target = target;
      t.nosuid = t.nodev = false;  // as the options say, no more
      for (const auto& o : options) {
        if (container::apply_tmpfs_option(t, o)) continue;
        if (o == "strictatime" || o == "relatime" || o == "noatime" || o == "nostrictatime" || o == "private" ||
            o == "rprivate" || o == "shared" || o == "rshared" || o == "slave" || o == "rslave" || o == "tmpcopyup")
          b.warnings.push_back("config.json: " + field + ".options: \"" + o + "\" is not applied yet");
        else
          bad(field + ".options", "\"" + o + "\" is not a tmpfs option hvrun knows");
      }
      try {
        container::check_tmpfs_options(t);
      } catch (const Error& e) {
        bad(field + ".options", e.what());
      }
      b.spec.tmpfs.push_back(t);
      continue;
    }
    if (!bind)
      bad(field, "a " + (type.empty() ? std::string("typeless") : type) + " mount at " + target +
                     " is not supported yet (bind mounts and the standard /proc, /dev, /sys mounts are)");
    const json* src = member(m, "source");
    if (!src) bad(field + ".source", "is required for a bind mount");
    b.spec.mounts.push_back({in_bundle(b.dir, string(*src, field + ".source")), target, ro});
  }
}

void read_linux(const json& l, Bundle& b) {
  container::RunSpec& s = b.spec;
  bool network = false;
  if (const json* ns = member(l, "namespaces")) {
    if (!ns->is_array()) bad("linux.namespaces", "must be a list");
    static const std::set<std::string> kTypes = {"pid", "network", "mount", "ipc", "uts", "user", "cgroup", "time"};
    std::set<std::string> seen;
    for (size_t i = 0; i < ns->size(); ++i) {
      const std::string field = "linux.namespaces[" + std::to_string(i) + "]";
      const json& n = object((*ns)[i], field);
      const json* t = member(n, "type");
      if (!t) bad(field + ".type", "is required");
      const std::string type = string(*t, field + ".type");
      if (!kTypes.count(type)) bad(field + ".type", "\"" + type + "\" is not a namespace type");
      if (!seen.insert(type).second) bad(field + ".type", "\"" + type + "\" is listed twice");
      if (const json* p = member(n, "path"); p && !string(*p, field + ".path").empty()) {
        // Joined by path (a pod's, podman's network namespace): the process
        // enters it instead of a new one.
        const std::string path = absolute_path(*p, field + ".path");
        std::string* slot = type == "network" ? &s.join.net
                            : type == "ipc"   ? &s.join.ipc
                            : type == "uts"   ? &s.join.uts
                            : type == "pid"   ? &s.join.pid
                            : type == "cgroup" ? &s.join.cgroup
                            : type == "user"   ? &s.join.user
                                              : nullptr;
        if (!slot) bad(field + ".path", "joining an existing " + type + " namespace is not supported yet");
        *slot = path;
      }
    }
    network = seen.count("network");
    s.userns = seen.count("user") && s.join.user.empty();  // a new one
    if (std::string why = container::userns_join_refusal(s); !why.empty()) bad("linux.namespaces", why);
    for (const char* always : {"pid", "mount", "ipc", "uts"})
      if (!seen.count(always))
        b.warnings.push_back(std::string("config.json: linux.namespaces has no ") + always +
                             " namespace; the process gets a new one anyway");
  }
  s.net = network ? container::NetMode::None : container::NetMode::Host;
  // The user namespace's maps, as runc writes them (the kernel checks them
  // when they are written: at most 340 lines, no overlaps, ids it allows).
  for (const char* maps : {"uidMappings", "gidMappings"}) {
    const json* v = member(l, maps);
    if (!v || v->is_null()) continue;
    const std::string field = std::string("linux.") + maps;
    if (!v->is_array()) bad(field, "must be a list of {containerID, hostID, size}");
    if (v->size() > 340) bad(field, "has " + std::to_string(v->size()) + " lines; the kernel takes at most 340");
    std::vector<container::IdMapping>& out = std::string(maps) == "uidMappings" ? s.uid_mappings : s.gid_mappings;
    for (size_t i = 0; i < v->size(); ++i) {
      const json& m = (*v)[i];
      const std::string f = field + "[" + std::to_string(i) + "]";
      object(m, f);
      container::IdMapping one;
      for (auto [key, slot] : {std::pair<const char*, uint32_t*>{"containerID", &one.container_id},
                               {"hostID", &one.host_id}, {"size", &one.size}}) {
        const json* x = member(m, key);
        if (!x) bad(f + "." + key, "is missing");
        *slot = uint32_t(integer(*x, f + "." + key, 0, 0xffffffffLL));
      }
      if (one.size == 0) bad(f + ".size", "must be at least 1");
      if (uint64_t(one.container_id) + one.size > 0x100000000ULL || uint64_t(one.host_id) + one.size > 0x100000000ULL)
        bad(f, "runs past the last id (4294967295)");
      out.push_back(one);
    }
    if (!out.empty() && !s.userns && s.join.user.empty())
      bad(field, "is given, but linux.namespaces has no user namespace to map");
  }
  if (!s.join.user.empty()) {  // a joined user namespace has its maps already (podman repeats them)
    s.uid_mappings.clear();
    s.gid_mappings.clear();
  }
  if (s.userns && s.uid_mappings.empty() != s.gid_mappings.empty())
    bad(s.uid_mappings.empty() ? "linux.uidMappings" : "linux.gidMappings",
        "is missing while the other map is given (a user namespace needs both)");
  if (const json* r = member(l, "resources")) {
    object(*r, "linux.resources");
    if (const json* m = member(*r, "memory")) {
      object(*m, "linux.resources.memory");
      if (const json* lim = member(*m, "limit")) {
        const int64_t v = integer(*lim, "linux.resources.memory.limit", -1, std::numeric_limits<int64_t>::max());
        if (v > 0) s.memory_bytes = v;
      }
    }
    if (const json* c = member(*r, "cpu")) {
      object(*c, "linux.resources.cpu");
      const json* q = member(*c, "quota");
      const json* p = member(*c, "period");
      if (q) {
        const int64_t quota = integer(*q, "linux.resources.cpu.quota", -1, std::numeric_limits<int64_t>::max());
        const int64_t period = p ? integer(*p, "linux.resources.cpu.period", 1000, 1000000) : 100000;
        if (quota > 0) s.cpus = double(quota) / double(period);
      }
      for (const char* other : {"shares", "cpus", "mems", "realtimeRuntime", "realtimePeriod"})
        if (member(*c, other)) b.warnings.push_back(std::string("config.json: linux.resources.cpu.") + other + " is not applied yet");
    }
    if (const json* p = member(*r, "pids")) {
      object(*p, "linux.resources.pids");
      if (const json* lim = member(*p, "limit")) {
        const int64_t v = integer(*lim, "linux.resources.pids.limit", -1, std::numeric_limits<int64_t>::max());
        if (v > 0) s.pids_limit = v;
      }
    }
    for (const char* other : {"blockIO", "hugepageLimits", "network", "rdma", "unified"})
      if (member(*r, other)) b.warnings.push_back(std::string("config.json: linux.resources.") + other + " is not applied yet");
  }
  if (const json* sc = member(l, "seccomp")) {
    object(*sc, "linux.seccomp");
    if (member(*sc, "listenerPath"))
      bad("linux.seccomp.listenerPath", "seccomp notify (SCMP_ACT_NOTIFY) is not supported");
    s.seccomp = {container::SeccompMode::Custom, sc->dump()};
  } else {
    s.seccomp = {container::SeccompMode::Unconfined, ""};  // runc: no profile, no filter
  }
  if (const json* cp = member(l, "cgroupsPath")) b.cgroups_path = string(*cp, "linux.cgroupsPath");
  if (member(l, "maskedPaths") || member(l, "readonlyPaths")) {
    s.own_masked_paths = true;
    for (const char* key : {"maskedPaths", "readonlyPaths"}) {
      const json* v = member(l, key);
      if (!v) continue;
      const std::string field = std::string("linux.") + key;
      (void)strings(*v, field);
      for (size_t i = 0; i < v->size(); ++i)
        (std::string(key) == "maskedPaths" ? s.masked_paths : s.readonly_paths)
            .push_back(absolute_path((*v)[i], field + "[" + std::to_string(i) + "]"));
    }
  }
  if (const json* sc = member(l, "sysctl")) {
    object(*sc, "linux.sysctl");
    for (const auto& [key, v] : sc->items()) {
      const std::string field = "linux.sysctl[\"" + key + "\"]";
      const std::string value = string(v, field);
      if (std::string why = container::sysctl_refusal(key, s.net != container::NetMode::Host); !why.empty()) bad(field, why);
      if (std::string why = container::sysctl_value_refusal(value); !why.empty()) bad(field, why);
      s.sysctls[key] = value;
    }
  }
  for (const char* other : {"devices", "rootfsPropagation", "personality",
                            "mountLabel", "intelRdt"})
    if (const json* v = member(l, other); v && !v->empty() && !(v->is_string() && v->get<std::string>().empty()))
      b.warnings.push_back(std::string("config.json: linux.") + other +
                           " is not applied yet (the stack's defaults apply: docs/security.md)");
}

}  // namespace

Bundle parse_config(const std::string& text, const std::string& bundle_dir) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    throw Error(std::string("config.json is not valid JSON: ") + e.what());
  }
  if (!j.is_object()) bad("(top)", "must be an object");
  Bundle b;
  b.dir = bundle_dir;
  const json* v = member(j, "ociVersion");
  if (!v) bad("ociVersion", "is required");
  b.oci_version = string(*v, "ociVersion");
  if (b.oci_version.rfind("1.", 0) != 0) bad("ociVersion", "\"" + b.oci_version + "\" is not a 1.x version");
  const json* root = member(j, "root");
  if (!root) bad("root", "is required");
  object(*root, "root");
  const json* path = member(*root, "path");
  if (!path || string(*path, "root.path").empty()) bad("root.path", "is required");
  b.spec.rootfs = in_bundle(bundle_dir, path->get<std::string>());
  if (const json* ro = member(*root, "readonly")) b.spec.readonly_rootfs = boolean(*ro, "root.readonly");
  const json* process = member(j, "process");
  if (!process) bad("process", "is required");
  read_process(object(*process, "process"), b);
  if (const json* h = member(j, "hostname")) b.spec.hostname = string(*h, "hostname");
  if (const json* ms = member(j, "mounts")) read_mounts(*ms, b);
  if (const json* l = member(j, "linux")) {
    read_linux(object(*l, "linux"), b);
  } else {  // no namespaces listed: the host's network; no profile: no filter
    b.spec.net = container::NetMode::Host;
    b.spec.seccomp = {container::SeccompMode::Unconfined, ""};
  }
  if (const json* a = member(j, "annotations")) {
    object(*a, "annotations");
    for (const auto& [k, val] : a->items()) b.annotations[k] = string(val, "annotations." + k);
  }
  if (auto it = b.annotations.find(kIsolationAnnotation); it != b.annotations.end()) {
    if (it->second != "vm" && it->second != "container")
      bad(std::string("annotations.") + kIsolationAnnotation, "\"" + it->second + "\" must be vm or container");
    b.vm = it->second == "vm";
  }
  if (const json* hooks = member(j, "hooks")) b.hooks = parse_hooks(*hooks);
  return b;
}

container::ExecSpec parse_process(const std::string& text) {
  try {
    json j;
    try {
      j = json::parse(text);
    } catch (const json::exception& e) {
      throw Error(std::string("config.json is not valid JSON: ") + e.what());
    }
    Bundle b;
    read_process(object(j, "process"), b);
    container::ExecSpec es;
    es.args = b.spec.args;
    es.env = b.spec.env;
    es.cwd = b.spec.cwd;
    es.user = b.spec.user;
    es.tty = b.spec.tty;
    es.tty_rows = b.spec.tty_rows;
    es.tty_cols = b.spec.tty_cols;
    return es;
  } catch (const Error& e) {
    std::string m = e.what();
    if (m.rfind("config.json", 0) == 0) m = "--process file" + m.substr(std::string("config.json").size());
    throw Error(m);
  }
}

Bundle load_bundle(const std::string& bundle_dir) {
  const std::string cfg = bundle_dir + "/config.json";
  if (!path_exists(cfg)) throw Error("bundle " + bundle_dir + " has no config.json");
  Bundle b = parse_config(read_file(cfg), bundle_dir);
  struct stat st{};
  if (::stat(b.spec.rootfs.c_str(), &st) < 0 || !S_ISDIR(st.st_mode))
    throw Error("config.json: root.path: " + b.spec.rootfs + " is not a directory");
  return b;
}

std::string default_config() {
  const std::vector<std::string> caps = {"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"};
  const json j = {
      {"ociVersion", "1.0.2"},
      {"process",
       {{"terminal", true},
        {"user", {{"uid", 0}, {"gid", 0}}},
        {"args", {"sh"}},
        {"env", {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"}},
        {"cwd", "/"},
        {"capabilities", {{"bounding", caps}, {"effective", caps}, {"permitted", caps}, {"ambient", caps}}},
        {"rlimits", {{{"type", "RLIMIT_NOFILE"}, {"hard", 1024}, {"soft", 1024}}}},
        {"noNewPrivileges", true}}},
      {"root", {{"path", "rootfs"}, {"readonly", true}}},
      {"hostname", "hvrun"},
      {"mounts",
       {{{"destination", "/proc"}, {"type", "proc"}, {"source", "proc"}},
        {{"destination", "/dev"}, {"type", "tmpfs"}, {"source", "tmpfs"},
         {"options", {"nosuid", "strictatime", "mode=755", "size=65536k"}}},
        {{"destination", "/dev/pts"}, {"type", "devpts"}, {"source", "devpts"},
         {"options", {"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}}},
        {{"destination", "/dev/shm"}, {"type", "tmpfs"}, {"source", "shm"},
         {"options", {"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}}},
        {{"destination", "/dev/mqueue"}, {"type", "mqueue"}, {"source", "mqueue"}, {"options", {"nosuid", "noexec", "nodev"}}},
        {{"destination", "/sys"}, {"type", "sysfs"}, {"source", "sysfs"}, {"options", {"nosuid", "noexec", "nodev", "ro"}}},
        {{"destination", "/sys/fs/cgroup"}, {"type", "cgroup"}, {"source", "cgroup"},
         {"options", {"nosuid", "noexec", "nodev", "relatime", "ro"}}}}},
      {"linux",
       {{"resources", {{"devices", {{{"allow", false}, {"access", "rwm"}}}}}},
        {"namespaces",
         {{{"type", "pid"}}, {{"type", "network"}}, {{"type", "ipc"}}, {{"type", "uts"}}, {{"type", "mount"}},
          {{"type", "cgroup"}}}},
        {"maskedPaths",
         {"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
          "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"}},
        {"readonlyPaths", {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}}}}};
  return j.dump(2) + "\n";
}

}  // namespace hvrun::oci
