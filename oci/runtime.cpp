#include "oci/runtime.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <climits>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>
#include <optional>
#include <utility>

#include "container/cgroups.hpp"
#include "container/freezer.hpp"
#include "container/pty.hpp"
#include "container/runtime.hpp"
#include "oci/config.hpp"
#include "oci/vm.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/signals.hpp"

namespace hvrun::oci {
namespace {

using nlohmann::json;

constexpr const char* kDefaultCgroupParent = "hvrun-oci";

// linux.cgroupsPath to the stack's PARENT/NAME: "" puts it at
// hvrun-oci/ID; "/a/b/c" (or "a/b/c") at a/b and c; the systemd form
// "slice:prefix:name" (podman, containerd with --systemd-cgroup) at the
// slice and "prefix-name", managed as plain cgroupfs directories.
std::pair<std::string, std::string> cgroup_place(const std::string& path, const std::string& id) {
  if (path.empty()) return {kDefaultCgroupParent, id};
  if (size_t c1 = path.find(':'); c1 != std::string::npos) {
    size_t c2 = path.find(':', c1 + 1);
    if (c2 == std::string::npos) throw Error("config.json: linux.cgroupsPath: \"" + path + "\" is not slice:prefix:name");
    std::string slice = path.substr(0, c1), prefix = path.substr(c1 + 1, c2 - c1 - 1), name = path.substr(c2 + 1);
    if (name.empty()) throw Error("config.json: linux.cgroupsPath: \"" + path + "\" has no name");
    return {slice, prefix.empty() ? name : prefix + "-" + name};
  }
  std::string p = path;
  while (!p.empty() && p.front() == '/') p.erase(0, 1);
  while (!p.empty() && p.back() == '/') p.pop_back();
  if (p.empty()) throw Error("config.json: linux.cgroupsPath: \"" + path + "\" names the root cgroup");
  size_t slash = p.rfind('/');
  if (slash == std::string::npos) return {"", p};
  return {p.substr(0, slash), p.substr(slash + 1)};
}

std::string absolute(const std::string& path) {
  if (!path.empty() && path[0] == '/') return path;
  char cwd[PATH_MAX];
  if (!::getcwd(cwd, sizeof cwd)) throw_sys("getcwd");
  return path.empty() || path == "." ? std::string(cwd) : std::string(cwd) + "/" + path;
}

UniqueFd connect_unix(const std::string& path) {
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  if (path.size() >= sizeof a.sun_path) throw Error("--console-socket: path too long: " + path);
  std::memcpy(a.sun_path, path.c_str(), path.size());
  UniqueFd s(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!s) throw_sys("socket");
  if (::connect(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) < 0) throw_sys("connect to --console-socket", path);
  return s;
}


std::function<void(const std::string&)> g_warn = [](const std::string& w) {
  std::fprintf(stderr, "hvrun-oci: warning: %s\n", w.c_str());
};

// Runs `hooks` in order with the state JSON of `r` as `status`; a failure
// throws (create) or is a warning (start, delete).
void run_hooks(const std::vector<Hook>& hooks, const Record& r, const std::string& status, bool fatal) {
  const std::string state = state_json(r, status);
  for (const auto& h : hooks) {
    try {
      run_hook(h, state);
    } catch (const Error& e) {
      if (fatal) throw;
      g_warn(e.what());
    }
  }
}

// The bundle of a create: read, its warnings given, its mode chosen (the
// annotation, else the tool's default).
std::pair<std::string, Bundle> load_for_create(const std::string& id, const CreateOptions& o) {
  check_id(id);
  std::string bundle = absolute(o.bundle);
  Bundle b = load_bundle(bundle);
  for (auto& w : b.warnings)
    if (o.warn) o.warn(w);
  if (o.vm_default && !b.annotations.count(kIsolationAnnotation)) b.vm = true;
  if (b.spec.tty && o.console_socket.empty()) throw Error("--console-socket is required when process.terminal is true");
  if (!b.spec.tty && !o.console_socket.empty()) throw Error("--console-socket given but process.terminal is false");
  return {bundle, std::move(b)};
}

// The record of a container being created (no pid yet) and its spec.
Record new_record(const std::string& id, const std::string& bundle, const Bundle& b) {
  auto [parent, name] = cgroup_place(b.cgroups_path, id);
  container::RunSpec spec = b.spec;
  spec.id = name;
  spec.name = id;
  spec.cgroup_parent = parent;
  // A new UTS namespace keeps the runtime's name, as runc's does; a joined
  // one keeps its own.
  if (spec.hostname.empty() && spec.join.uts.empty()) {
    char host[256] = {};
    ::gethostname(host, sizeof host - 1);
    spec.hostname = host;
  }
  Record r;
  r.id = id;
  r.bundle = bundle;
  r.rootfs = spec.rootfs;
  r.created = now_rfc3339_nano();
  r.annotations = b.annotations;
  r.cgroup_parent = parent;
  r.cgroup_name = name;
  r.spec = spec;
  r.hooks = b.hooks;
  return r;
}

void make_exec_fifo(const StateDir& dir, const std::string& id) {
  std::string fifo = dir.exec_fifo(id);
  if (::mkfifo(fifo.c_str(), 0622) < 0) throw_sys("mkfifo", fifo);
  check_sys(::chmod(fifo.c_str(), 0622), "chmod", fifo);  // writable by the container's user, whoever it is
}

// Builds the container and records it; the Container still owns the init.
container::Container create_gated(const StateDir& dir, const std::string& id, const std::string& bundle,
                                  const Bundle& b, const CreateOptions& o, bool detached) {
  Record r = new_record(id, bundle, b);
  const container::RunSpec& spec = r.spec;
  UniqueFd console;
  if (!o.console_socket.empty()) console = connect_unix(o.console_socket);

  // No lock held here: the init would inherit it until its exec (and the
  // `start` that it waits for would wait for the lock). The exclusive mkdir
  // is the create's claim; the others find no state.json until it is done.
  dir.make(id);
  try {
    make_exec_fifo(dir, id);
    // prestart and createRuntime: once the namespaces exist, before the
    // root is built (the runtime's namespaces; a failure fails the create).
    std::function<void(pid_t)> on_namespaces;
    if (!b.hooks.prestart.empty() || !b.hooks.create_runtime.empty())
      on_namespaces = [&](pid_t pid) {
        Record now = r;
        now.pid = pid;
        run_hooks(b.hooks.prestart, now, "creating", true);
        run_hooks(b.hooks.create_runtime, now, "creating", true);
      };
    container::Container c =
        container::Container::create(spec, container::Stdio::inherited(), container::Gate{dir.exec_fifo(id), detached}, on_namespaces);
    if (console) container::send_fd(console.get(), c.pty_master());
    r.pid = c.pid();
    r.pid_start = process_start_time(c.pid());
    dir.save(r);
    if (!o.pid_file.empty()) write_file_atomic(absolute(o.pid_file), std::to_string(c.pid()), 0644);
    return c;
  } catch (...) {
    try {
      container::cleanup(r.cgroup_name, r.cgroup_parent);
    } catch (...) {
    }
    dir.remove(id);
    throw;
  }
}

// create of a microVM (oci/vm.hpp): returns its shim's pid.
pid_t create_microvm(const StateDir& dir, const std::string& id, const std::string& bundle, const Bundle& b,
                     const CreateOptions& o, bool detached) {
  Record r = new_record(id, bundle, b);
  r.spec = vm_guest_spec(r.spec, o.warn);
  UniqueFd console;
  if (!o.console_socket.empty()) console = connect_unix(o.console_socket);
  dir.make(id);
  pid_t pid = 0;
  bool loaded = false;  // r is the record create_vm saved
  try {
    make_exec_fifo(dir, id);
    pid = create_vm(dir, r, b.spec.rootfs, detached, console.get(), o.warn, o.error);
    r = dir.load(id);
    loaded = true;
    run_hooks(b.hooks.prestart, r, "creating", true);
    run_hooks(b.hooks.create_runtime, r, "creating", true);
    if (!o.pid_file.empty()) write_file_atomic(absolute(o.pid_file), std::to_string(pid), 0644);
    return pid;
  } catch (...) {
    if (pid > 0) {
      ::kill(pid, SIGKILL);
      if (!detached) ::waitpid(pid, nullptr, 0);
    }
    if (loaded) release_vm_network(r);
    dir.remove(id);
    throw;
  }
}

// Until the init is gone (the caller's subreaper reaps it): up to `ms`.
bool wait_gone(const Record& r, int ms) {
  for (int i = 0; i < ms / 10; ++i) {
    if (!alive(r)) return true;
    ::usleep(10 * 1000);
  }
  return !alive(r);
}

std::vector<pid_t> cgroup_pids(const Record& r) {
  auto cg = container::Cgroup::for_container(r.cgroup_parent, r.cgroup_name);
  return container::cgroup_detail::read_procs(cg->path());
}

volatile sig_atomic_t g_run_pid = 0;
void forward_signal(int sig) {
  if (g_run_pid > 0) ::kill(g_run_pid, sig);
}

}  // namespace

void create(const StateDir& dir, const std::string& id, const CreateOptions& o) {
  auto [bundle, b] = load_for_create(id, o);
  if (b.vm)
    create_microvm(dir, id, bundle, b, o, true);
  else
    create_gated(dir, id, bundle, b, o, true).release();
}

void start(const StateDir& dir, const std::string& id) {
  FileLock lock = dir.lock(id);
  Record r = dir.load(id);
  std::string st = dir.status(r);
  if (st != "created") throw Error("cannot start container " + id + ": it is " + st + ", not created");
  std::string fifo = dir.exec_fifo(id);
  bool went = container::open_gate(fifo, [&] { return alive(r); });
  ::unlink(fifo.c_str());
  if (!went) throw Error("container " + id + ": its process ended before it was started");
  run_hooks(r.hooks.poststart, r, "running", false);
}

void set_warning_sink(std::function<void(const std::string&)> sink) { g_warn = std::move(sink); }

int run(const StateDir& dir, const std::string& id, const CreateOptions& o, bool keep) {
  auto [bundle, b] = load_for_create(id, o);
  std::optional<container::Container> c;
  pid_t vm_shim = 0;
  if (b.vm)
    vm_shim = create_microvm(dir, id, bundle, b, o, false);
  else
    c.emplace(create_gated(dir, id, bundle, b, o, false));
  g_run_pid = vm_shim ? vm_shim : c->pid();
  struct sigaction sa {};
  sa.sa_handler = forward_signal;
  sa.sa_flags = SA_RESTART;
  for (int s : {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH}) ::sigaction(s, &sa, nullptr);
  start(dir, id);
  int code = 0;
  if (vm_shim) {
    int st = 0;
    while (::waitpid(vm_shim, &st, 0) < 0)
      if (errno != EINTR) throw_sys("wait for the microVM's shim");
    code = WIFSIGNALED(st) ? 128 + WTERMSIG(st) : WEXITSTATUS(st);
  } else {
    code = c->wait().exit_code();
  }
  g_run_pid = 0;
  if (!keep) remove(dir, id, true);
  return code;
}

int exec(const StateDir& dir, const std::string& id, const ExecOptions& o) {
  if (o.process.args.empty()) throw Error("exec: no command given");
  if (o.process.tty && o.console_socket.empty()) throw Error("--console-socket is required with a terminal");
  if (!o.process.tty && !o.console_socket.empty()) throw Error("--console-socket given but there is no terminal");
  Record r = dir.load(id);
  std::string st = dir.status(r);
  if (st != "running") throw Error("cannot exec in container " + id + ": it is " + st + ", not running");
  UniqueFd console;
  if (!o.console_socket.empty()) console = connect_unix(o.console_socket);
  if (r.vm) return exec_vm(dir, r, o, console.get());
  container::ExecHandle h = container::exec_start(r.pid, r.spec, o.process, container::Stdio::inherited(), o.detach);
  if (console) container::send_fd(console.get(), h.pty_master.get());
  if (!o.pid_file.empty()) write_file_atomic(absolute(o.pid_file), std::to_string(h.pid), 0644);
  if (o.detach) return 0;
  return container::exec_wait(h.pid).exit_code();
}

std::string state(const StateDir& dir, const std::string& id) {
  Record r = dir.load(id);
  return state_json(r, dir.status(r));
}

void kill(const StateDir& dir, const std::string& id, const std::string& signal, bool all) {
  int sig = parse_signal(signal);
  FileLock lock = dir.lock(id);
  Record r = dir.load(id);
  std::string st = dir.status(r);
  if (st == "stopped") throw Error("container " + id + " is not running");
  if (r.vm) {  // its shim passes the signal to the guest's process (--all: the same)
    if (st == "paused" && sig == SIGKILL) container::thaw_container(r.cgroup_name, r.cgroup_parent);
    if (::kill(r.pid, sig) < 0 && errno != ESRCH) throw_sys("kill", std::to_string(r.pid));
    return;
  }
  if (all) {
    for (pid_t p : cgroup_pids(r))
      if (::kill(p, sig) < 0 && errno != ESRCH) throw_sys("kill", std::to_string(p));
    if (st == "paused" && sig == SIGKILL) container::thaw_container(r.cgroup_name, r.cgroup_parent);
    return;
  }
  if (::kill(r.pid, sig) < 0 && errno != ESRCH) throw_sys("kill", std::to_string(r.pid));
}

void remove(const StateDir& dir, const std::string& id, bool force) {
  check_id(id);
  if (!dir.exists(id)) {
    if (force) {
      if (is_dir(dir.dir(id))) dir.remove(id);  // a create that died half-way
      return;
    }
    throw Error("container " + id + " does not exist");
  }
  FileLock lock = dir.lock(id);
  Record r = dir.load(id);
  std::string st = dir.status(r);
  if ((st == "running" || st == "paused") && !force)
    throw Error("cannot delete container " + id + " that is not stopped: " + st);
  if (st != "stopped") {
    if (st == "paused") container::thaw_container(r.cgroup_name, r.cgroup_parent);
    ::kill(r.pid, SIGKILL);
    if (!wait_gone(r, 10000)) throw Error("container " + id + ": process " + std::to_string(r.pid) + " did not die");
  }
  container::cleanup(r.cgroup_name, r.cgroup_parent);  // kills what is left in it
  if (r.vm) release_vm_network(r);
  dir.remove(id);
  run_hooks(r.hooks.poststop, r, "stopped", false);
}

void update(const StateDir& dir, const std::string& id, const std::string& resources_json, int64_t memory,
            int64_t cpu_quota, int64_t cpu_period, int64_t pids_limit) {
  auto bad = [](const std::string& field, const std::string& why) -> void {
    throw Error("update: " + field + ": " + why);
  };
  auto num = [&](const json& j, const char* key, const std::string& field) -> int64_t {
    if (!j.contains(key)) return 0;
    if (!j[key].is_number_integer()) bad(field, "must be an integer");
    int64_t v = j[key].get<int64_t>();
    if (v < -1) bad(field, std::to_string(v) + " is out of range");
    return v;
  };
  if (!resources_json.empty()) {
    json r;
    try {
      r = json::parse(resources_json);
    } catch (const json::exception& e) {
      throw Error(std::string("update: --resources is not valid JSON: ") + e.what());
    }
    if (!r.is_object()) bad("--resources", "must be an object");
    for (const auto& [key, v] : r.items()) {
      if (!v.is_object()) bad(key, "must be an object");
      if (key == "memory") {
        if (!memory) memory = num(v, "limit", "memory.limit");
        for (const char* other : {"reservation", "swap", "kernel", "kernelTCP", "swappiness"})
          if (v.contains(other)) bad(std::string("memory.") + other, "is not applied by hvrun-oci");
      } else if (key == "cpu") {
        if (!cpu_quota) cpu_quota = num(v, "quota", "cpu.quota");
        if (!cpu_period) cpu_period = num(v, "period", "cpu.period");
        for (const char* other : {"shares", "realtimeRuntime", "realtimePeriod", "cpus", "mems", "idle"})
          if (v.contains(other)) bad(std::string("cpu.") + other, "is not applied by hvrun-oci");
      } else if (key == "pids") {
        if (!pids_limit) pids_limit = num(v, "limit", "pids.limit");
      } else if (!v.empty()) {
        bad(key, "is not applied by hvrun-oci (memory, cpu and pids are)");
      }
    }
  }
  container::CgroupLimits l;
  if (memory < 0 || pids_limit < 0 || cpu_quota < 0)
    bad("limits", "-1 (no limit) is not supported by update yet");
  l.memory_bytes = memory;
  l.pids_limit = pids_limit;
  if (cpu_quota > 0) {
    int64_t period = cpu_period > 0 ? cpu_period : 100000;
    l.cpus = double(cpu_quota) / double(period);
  } else if (cpu_period > 0) {
    bad("cpu.period", "needs cpu.quota");
  }
  FileLock lock = dir.lock(id);
  Record r = dir.load(id);
  std::string st = dir.status(r);
  if (st == "stopped") throw Error("cannot update container " + id + ": it is stopped");
  if (r.vm) throw Error("cannot update container " + id + ": a microVM's memory and cpus are fixed when it boots");
  container::Cgroup::for_container(r.cgroup_parent, r.cgroup_name)->set_limits(l);
  if (l.memory_bytes) r.spec.memory_bytes = l.memory_bytes;
  if (l.pids_limit) r.spec.pids_limit = l.pids_limit;
  if (l.cpus > 0) r.spec.cpus = l.cpus;
  dir.save(r);
}

void pause(const StateDir& dir, const std::string& id) {
  FileLock lock = dir.lock(id);
  Record r = dir.load(id);
  std::string st = dir.status(r);
  if (st != "running") throw Error("cannot pause container " + id + ": it is " + st);
  container::CgroupFreeze f(r.cgroup_name, r.cgroup_parent);
  f.release();
}

void resume(const StateDir& dir, const std::string& id) {
  FileLock lock = dir.lock(id);
  Record r = dir.load(id);
  std::string st = dir.status(r);
  if (st != "paused") throw Error("cannot resume container " + id + ": it is " + st + ", not paused");
  container::thaw_container(r.cgroup_name, r.cgroup_parent);
}

std::vector<pid_t> pids(const StateDir& dir, const std::string& id) {
  Record r = dir.load(id);
  if (!r.vm) return cgroup_pids(r);
  // A microVM: its shim, then its VMM's threads' processes (once it booted).
  std::vector<pid_t> out;
  if (dir.status(r) == "stopped") return out;
  out.push_back(r.pid);
  try {
    for (pid_t p : cgroup_pids(r))
      if (p != r.pid) out.push_back(p);
  } catch (const Error&) {
  }
  return out;
}

std::string list(const StateDir& dir, bool as_json, bool quiet) {
  std::string out;
  json arr = json::array();
  if (!as_json && !quiet) out = "ID\tPID\tSTATUS\tBUNDLE\tCREATED\tOWNER\n";
  for (auto& id : dir.ids()) {
    Record r;
    try {
      r = dir.load(id);
    } catch (const Error&) {
      continue;  // being created or deleted right now
    }
    std::string st = dir.status(r);
    if (quiet) {
      out += id + "\n";
    } else if (as_json) {
      arr.push_back(json::parse(state_json(r, st)));
    } else {
      out += id + "\t" + std::to_string(st == "stopped" ? 0 : r.pid) + "\t" + st + "\t" + r.bundle + "\t" + r.created +
             "\t" + (r.owner.empty() ? "root" : r.owner) + "\n";
    }
  }
  return as_json && !quiet ? arr.dump() + "\n" : out;
}

std::string features() {
  json j = {
      {"ociVersionMin", "1.0.0"},
      {"ociVersionMax", "1.1.0"},
      {"hooks", json::array()},
      {"mountOptions", {"bind", "rbind", "ro", "rw", "nosuid", "nodev", "noexec"}},
      {"linux",
       {{"namespaces", {"cgroup", "ipc", "mount", "network", "pid", "user", "uts"}},
        {"cgroup", {{"v1", true}, {"v2", true}, {"systemd", false}, {"systemdUser", false}}},
        {"seccomp", {{"enabled", true}}},
        {"apparmor", {{"enabled", false}}},
        {"selinux", {{"enabled", false}}}}},
      {"annotations", {{kIsolationAnnotation, "container"}}}};
  return j.dump(2) + "\n";
}

}  // namespace hvrun::oci
