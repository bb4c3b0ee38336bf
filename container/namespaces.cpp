#include "container/namespaces.hpp"

#include <fcntl.h>
#include <sched.h>
#include <linux/nsfs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "container/sysctl.hpp"
#include "util/error.hpp"

namespace hvrun::container {

unsigned long clone_flags(const RunSpec& spec) {
  unsigned long f = CLONE_NEWNS;
  if (spec.join.pid.empty()) f |= CLONE_NEWPID;
  if (spec.join.uts.empty()) f |= CLONE_NEWUTS;
  if (spec.join.ipc.empty()) f |= CLONE_NEWIPC;
  if (spec.net != NetMode::Host && spec.join.net.empty()) f |= CLONE_NEWNET;
  if (spec.userns) f |= CLONE_NEWUSER;
  return f;
}

bool is_own_namespace(int fd, const char* name) {
  struct stat a {}, b {};
  const std::string own = std::string("/proc/self/ns/") + name;
  return ::fstat(fd, &a) == 0 && ::stat(own.c_str(), &b) == 0 && a.st_ino == b.st_ino && a.st_dev == b.st_dev;
}

UniqueFd open_namespace_file(const std::string& path, int type, const char* kind) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));  // a FIFO must not hang us
  if (!fd) throw_sys("open the " + std::string(kind) + " namespace", path);
  const int got = ::ioctl(fd.get(), NS_GET_NSTYPE);
  if (got < 0 && (errno == ENOTTY || errno == EINVAL))
    throw Error("join the " + std::string(kind) + " namespace " + path + ": not a namespace file");
  if (got < 0) throw_sys("join the " + std::string(kind) + " namespace", path);
  if (got != type) throw Error("join the " + std::string(kind) + " namespace " + path + ": a namespace of another kind");
  return fd;
}

std::string userns_join_refusal(const RunSpec& spec) {
  if (!spec.userns) return "";
  const struct {
    const std::string& path;
    const char* kind;
    const char* mount;
  } refused[] = {{spec.join.pid, "pid", "its /proc"},
                 {spec.join.ipc, "ipc", "its /dev/mqueue"},
                 {spec.join.cgroup, "cgroup", "its cgroup filesystem"}};
  for (const auto& r : refused)
    if (!r.path.empty())
      return std::string("joining an existing ") + r.kind + " namespace together with a new user namespace is not "
             "supported: the new one's root could not mount " + r.mount;
  return "";
}

JoinedNamespaces open_joined_namespaces(const RunSpec& spec) {
  JoinedNamespaces ns;
  if (std::string why = userns_join_refusal(spec); !why.empty()) throw Error(why);
  if (!spec.join.net.empty()) ns.net = open_namespace_file(spec.join.net, CLONE_NEWNET, "network");
  if (!spec.join.ipc.empty()) ns.ipc = open_namespace_file(spec.join.ipc, CLONE_NEWIPC, "ipc");
  if (!spec.join.uts.empty()) ns.uts = open_namespace_file(spec.join.uts, CLONE_NEWUTS, "uts");
  if (!spec.join.pid.empty()) ns.pid = open_namespace_file(spec.join.pid, CLONE_NEWPID, "pid");
  if (!spec.join.cgroup.empty()) ns.cgroup = open_namespace_file(spec.join.cgroup, CLONE_NEWCGROUP, "cgroup");
  if (!spec.join.user.empty()) {
    ns.user = open_namespace_file(spec.join.user, CLONE_NEWUSER, "user");
    if (is_own_namespace(ns.user.get(), "user")) ns.user.reset();  // nothing to enter
  }
  return ns;
}

InJoinedNamespaces::InJoinedNamespaces(const JoinedNamespaces& ns) {
  const struct {
    const UniqueFd& fd;
    int type;
    const char* name;  // in /proc/thread-self/ns
    const char* kind;
  } order[] = {{ns.uts, CLONE_NEWUTS, "uts", "uts"},     {ns.ipc, CLONE_NEWIPC, "ipc", "ipc"},
               {ns.net, CLONE_NEWNET, "net", "network"}, {ns.cgroup, CLONE_NEWCGROUP, "cgroup", "cgroup"},
               {ns.pid, CLONE_NEWPID, "pid_for_children", "pid"}};
  try {
    for (const auto& o : order) {
      if (!o.fd || (o.type == CLONE_NEWPID && ns.user)) continue;  // the helper enters it (see JoinedNamespaces)
      const std::string own = std::string("/proc/thread-self/ns/") + o.name;
      UniqueFd back(::open(own.c_str(), O_RDONLY | O_CLOEXEC));
      if (!back) throw_sys("open", own);
      if (::setns(o.fd.get(), o.type) < 0) throw_sys(std::string("join the ") + o.kind + " namespace");
      back_.emplace_back(std::move(back), o.type);
    }
  } catch (...) {
    leave();
    throw;
  }
}

InJoinedNamespaces::~InJoinedNamespaces() { leave(); }

void check_joined_settings(const RunSpec& spec, const JoinedNamespaces& ns) {
  check_sysctl_namespaces(spec.sysctls, ns.net ? ns.net.get() : -1, ns.ipc ? ns.ipc.get() : -1,
                          ns.uts ? ns.uts.get() : -1);
  // As a sysctl: a hostname never goes to the runtime's own uts namespace.
  if (ns.uts && !spec.hostname.empty() && is_own_namespace(ns.uts.get(), "uts"))
    throw Error("hostname \"" + spec.hostname + "\": the uts namespace joined by path is the runtime's own: setting it "
                "would change the host's");
}

void apply_joined_settings(const RunSpec& spec, const JoinedNamespaces& ns) {
  if (ns.uts && !spec.hostname.empty())
    check_sys(::sethostname(spec.hostname.data(), spec.hostname.size()), "sethostname", spec.hostname);
  apply_sysctls(sysctls_kept_by(spec.sysctls, bool(ns.net), bool(ns.ipc), bool(ns.uts)));
}

void InJoinedNamespaces::leave() noexcept {
  for (auto it = back_.rbegin(); it != back_.rend(); ++it)
    if (::setns(it->first.get(), it->second) < 0) ::abort();  // our own namespaces: cannot fail
  back_.clear();
}

namespace {
std::string map_text(const std::vector<IdMapping>& m) {
  if (m.empty()) return "0 " + std::to_string(kUsernsHostBase) + " " + std::to_string(kUsernsSize) + "\n";
  std::string t;
  for (const auto& l : m)
    t += std::to_string(l.container_id) + " " + std::to_string(l.host_id) + " " + std::to_string(l.size) + "\n";
  return t;
}
uint32_t root_of(const std::vector<IdMapping>& m) {
  for (const auto& l : m)
    if (l.container_id == 0 && l.size > 0) return l.host_id;
  return kUsernsHostBase;
}
}  // namespace

void write_id_maps(pid_t pid, const RunSpec& spec) {
  for (const char* f : {"uid_map", "gid_map"}) {
    const std::string map = map_text(std::string(f) == "uid_map" ? spec.uid_mappings : spec.gid_mappings);
    std::string path = "/proc/" + std::to_string(pid) + "/" + f;
    UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
    if (!fd) throw_sys("open", path);
    if (::write(fd.get(), map.data(), map.size()) != ssize_t(map.size())) {
      std::string one = map;
      for (char& c : one)
        if (c == '\n') c = ',';
      one.pop_back();
      throw_sys("write the map \"" + one + "\" to", path);
    }
  }
}

uint32_t userns_root_uid(const RunSpec& spec) { return root_of(spec.uid_mappings); }
uint32_t userns_root_gid(const RunSpec& spec) { return root_of(spec.gid_mappings); }

namespace {
UniqueFd open_ns_if_different(pid_t pid, const char* name) {
  std::string theirs = "/proc/" + std::to_string(pid) + "/ns/" + name;
  UniqueFd fd(::open(theirs.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) throw_sys("open", theirs);
  if (is_own_namespace(fd.get(), name)) return {};
  return fd;
}
}  // namespace

NamespaceFds open_namespaces(pid_t pid) {
  NamespaceFds ns;
  ns.user = open_ns_if_different(pid, "user");
  ns.mnt = open_ns_if_different(pid, "mnt");
  ns.uts = open_ns_if_different(pid, "uts");
  ns.ipc = open_ns_if_different(pid, "ipc");
  ns.net = open_ns_if_different(pid, "net");
  ns.cgroup = open_ns_if_different(pid, "cgroup");
  ns.pid = open_ns_if_different(pid, "pid");
  return ns;
}

void join_namespaces(const NamespaceFds& ns) {
  struct {
    const UniqueFd& fd;
    int type;
    const char* name;
  } order[] = {{ns.user, CLONE_NEWUSER, "user"}, {ns.mnt, CLONE_NEWNS, "mnt"},     {ns.uts, CLONE_NEWUTS, "uts"},
               {ns.ipc, CLONE_NEWIPC, "ipc"},    {ns.net, CLONE_NEWNET, "net"},     {ns.cgroup, CLONE_NEWCGROUP, "cgroup"}};
  for (auto& o : order)
    if (o.fd) check_sys(::setns(o.fd.get(), o.type), "setns", o.name);
}

}  // namespace hvrun::container
