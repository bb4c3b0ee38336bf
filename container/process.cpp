#include "container/process.hpp"

#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "container/init.hpp"
#include "container/mounts.hpp"
#include "container/user.hpp"
#include "util/error.hpp"

namespace hvrun::container {
namespace {

// kReportReady: a gated init is set up and waits at its gate (Gate).
enum : int32_t { kReportSetup = 1, kReportExec = 2, kReportReady = 3 };

struct SyncReport {
  int32_t kind;
  int32_t err;
  char msg[504];
};

void write_report(int fd, int32_t kind, int32_t err, const std::string& msg) {
  if (fd < 0) return;  // past a gate: nobody reads the reports any more
  SyncReport r{};
  r.kind = kind;
  r.err = err;
  std::strncpy(r.msg, msg.c_str(), sizeof r.msg - 1);
  ssize_t n;
  do n = ::write(fd, &r, sizeof r);
  while (n < 0 && errno == EINTR);
}

void reset_signals() {
  sigset_t all;
  sigemptyset(&all);
  ::sigprocmask(SIG_SETMASK, &all, nullptr);
  struct sigaction sa {};
  sa.sa_handler = SIG_DFL;
  for (int s = 1; s < NSIG; ++s) ::sigaction(s, &sa, nullptr);  // fails harmlessly for SIGKILL/SIGSTOP
}

std::string env_value(const std::vector<std::string>& env, const std::string& key) {
  for (auto& e : env)
    if (e.compare(0, key.size() + 1, key + "=") == 0) return e.substr(key.size() + 1);
  return "";
}

// The first candidate that is a regular file we may execute: for a gated
// init, which checks its command before it reports that it is ready (runc
// refuses a missing command at create, not at start). 0, or the errno
// execve would give.
int check_candidates(const std::vector<std::string>& candidates) {
  bool saw_eacces = false;
  for (auto& c : candidates) {
    struct stat st;
    if (::stat(c.c_str(), &st) < 0) continue;
    if (S_ISREG(st.st_mode) && ::access(c.c_str(), X_OK) == 0) return 0;
    saw_eacces = true;
  }
  return saw_eacces ? EACCES : ENOENT;
}

// A gated init: says it is ready, then blocks opening its FIFO for writing
// until `hvrun-oci start` opens it for reading, and writes one byte.
void pass_gate(int gate_fd, int report_fd) {
  write_report(report_fd, kReportReady, 0, "");
  std::string path = "/proc/self/fd/" + std::to_string(gate_fd);
  int fd;
  do fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  while (fd < 0 && errno == EINTR);
  if (fd < 0) ::_exit(1);  // nobody hears a report now
  char b = '0';
  ssize_t n;
  do n = ::write(fd, &b, 1);
  while (n < 0 && errno == EINTR);
  ::close(fd);
  ::close(gate_fd);
}

}  // namespace

std::vector<std::string> build_env(const std::vector<std::string>& env, const std::string& home) {
  std::vector<std::string> out = env;
  bool has_path = false, has_home = false;
  for (auto& e : env) {
    has_path = has_path || e.rfind("PATH=", 0) == 0;
    has_home = has_home || e.rfind("HOME=", 0) == 0;
  }
  if (!has_path) out.push_back(std::string("PATH=") + kDefaultPath);
  // As Docker: the user's home from the container's /etc/passwd, else "/".
  if (!has_home) out.push_back("HOME=" + (home.empty() ? std::string("/") : home));
  return out;
}

int rlimit_resource(const std::string& type) {
  static const std::pair<const char*, int> kNames[] = {
      {"RLIMIT_AS", RLIMIT_AS},         {"RLIMIT_CORE", RLIMIT_CORE},     {"RLIMIT_CPU", RLIMIT_CPU},
      {"RLIMIT_DATA", RLIMIT_DATA},     {"RLIMIT_FSIZE", RLIMIT_FSIZE},   {"RLIMIT_LOCKS", RLIMIT_LOCKS},
      {"RLIMIT_MEMLOCK", RLIMIT_MEMLOCK}, {"RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE}, {"RLIMIT_NICE", RLIMIT_NICE},
      {"RLIMIT_NOFILE", RLIMIT_NOFILE}, {"RLIMIT_NPROC", RLIMIT_NPROC},   {"RLIMIT_RSS", RLIMIT_RSS},
      {"RLIMIT_RTPRIO", RLIMIT_RTPRIO}, {"RLIMIT_RTTIME", RLIMIT_RTTIME}, {"RLIMIT_SIGPENDING", RLIMIT_SIGPENDING},
      {"RLIMIT_STACK", RLIMIT_STACK}};
  for (auto& [name, r] : kNames)
    if (type == name) return r;
  return -1;
}

void apply_security(const RunSpec& spec, ProcessSetup& p) {
  p.rlimits = spec.rlimits;
  p.additional_gids = spec.additional_gids;
  p.umask = spec.umask;
  if (spec.set_oom_score_adj) p.oom_score_adj = spec.oom_score_adj;
  p.no_new_privs = spec.no_new_privileges;
  p.filters.clear();
  if (spec.privileged) {
    p.caps = all_capabilities();
    return;
  }
  p.caps = resolve_capabilities(spec.cap_add, spec.cap_drop);
  p.filters.push_back(compile_seccomp(mount_guard_profile(), 0));
  p.filters.push_back(compile_seccomp(spec.seccomp, p.caps));
}

void setup_stdio(const Stdio& stdio) {
  int src[3] = {stdio.in, stdio.out, stdio.err};
  int tmp[3];
  for (int i = 0; i < 3; ++i) {
    tmp[i] = src[i] >= 0 ? ::fcntl(src[i], F_DUPFD_CLOEXEC, 3) : ::open("/dev/null", O_RDWR | O_CLOEXEC);
    if (tmp[i] < 0) throw_sys("set up stdio");
  }
  for (int i = 0; i < 3; ++i) {
    check_sys(::dup2(tmp[i], i), "dup2 stdio");
    ::close(tmp[i]);
  }
}

void finish_and_exec(const ProcessSetup& p, int report_fd) {
  if (p.args.empty()) throw Error("no command given");
  ResolvedUser u = resolve_user_in_root(p.user);
  std::vector<std::string> env = build_env(p.env, u.home);

  {
    UniqueFd root(::open("/", O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!root) throw_sys("open", "/");
    UniqueFd cwd = open_in_root(root.get(), p.cwd.empty() ? "/" : p.cwd, Create::Dir, Symlinks::FollowInRoot);
    check_sys(::fchdir(cwd.get()), "chdir", p.cwd);
  }

  // Without no_new_privs, installing a filter needs CAP_SYS_ADMIN: do it
  // while we still hold every capability (as runc does); what follows then
  // runs under the filter. With no_new_privs, as late as possible.
  auto load_filters = [&] {
    for (auto& f : p.filters) load_seccomp(f);
  };
  // While we may still raise hard limits and lower the OOM score.
  for (auto& l : p.rlimits) {
    int r = rlimit_resource(l.type);
    if (r < 0) throw Error("rlimit " + l.type + ": not a resource limit Linux has");
    rlimit v{l.soft, l.hard};
    check_sys(::setrlimit(r, &v), "setrlimit", l.type + " " + std::to_string(l.soft) + ":" + std::to_string(l.hard));
  }
  if (p.oom_score_adj) {
    UniqueFd f(::open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC));
    std::string v = std::to_string(*p.oom_score_adj);
    if (!f || ::write(f.get(), v.data(), v.size()) != ssize_t(v.size())) throw_sys("write /proc/self/oom_score_adj", v);
  }
  for (uint32_t g : p.additional_gids)
    if (std::find(u.groups.begin(), u.groups.end(), gid_t(g)) == u.groups.end()) u.groups.push_back(gid_t(g));
  if (!p.no_new_privs) load_filters();
  drop_bounding_set(p.caps);
  keep_caps_across_setuid();
  check_sys(::setgroups(u.groups.size(), u.groups.data()), "setgroups");
  check_sys(::setresgid(u.gid, u.gid, u.gid), "setgid", std::to_string(u.gid));
  check_sys(::setresuid(u.uid, u.uid, u.uid), "setuid", std::to_string(u.uid));
  apply_capabilities(p.caps);
  if (p.no_new_privs) check_sys(::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(PR_SET_NO_NEW_PRIVS)");
  // Set again: changing credentials cleared it.
  if (p.parent_death_signal) check_sys(::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0), "prctl(PR_SET_PDEATHSIG)");
  reset_signals();
  // The OCI default (runc's, Docker's): 0022, whatever umask hvrun was
  // started with, or, in a microVM, the one guest-init got from the kernel
  // (0: files a RUN step made came out 0666).
  ::umask(p.umask >= 0 ? mode_t(p.umask) : 022);

  std::vector<char*> argv, envp;
  for (auto& a : p.args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  for (auto& e : env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  // Candidate paths resolved before seccomp, tried after.
  std::vector<std::string> candidates;
  const std::string& name = p.args[0];
  if (name.find('/') != std::string::npos) {
    candidates.push_back(name);
  } else {
    std::string path = env_value(env, "PATH");
    size_t start = 0;
    for (;;) {
      size_t colon = path.find(':', start);
      std::string dir = path.substr(start, colon == std::string::npos ? std::string::npos : colon - start);
      candidates.push_back((dir.empty() ? "." : dir) + "/" + name);
      if (colon == std::string::npos) break;
      start = colon + 1;
    }
  }

  if (p.gate_fd >= 0) {
    if (int e = check_candidates(candidates)) {
      write_report(report_fd, kReportExec, e, "exec " + name + ": " + std::strerror(e));
      ::_exit(e == ENOENT ? 127 : 126);
    }
    pass_gate(p.gate_fd, report_fd);
    report_fd = -1;
  }
  // Nothing inherited reaches the workload but 0, 1, 2 (CVE-2024-21626).
  check_sys(::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC), "close_range");
  if (p.no_new_privs) load_filters();
  // Confined as the workload is: the init never returns from here.
  if (p.init) fork_init();

  int err = ENOENT;
  bool saw_eacces = false;
  for (auto& c : candidates) {
    ::execve(c.c_str(), argv.data(), envp.data());
    if (errno == EACCES) saw_eacces = true;
    else if (errno != ENOENT && errno != ENOTDIR) {
      err = errno;
      break;
    }
  }
  if (saw_eacces && err == ENOENT) err = EACCES;
  write_report(report_fd, kReportExec, err, "exec " + name + ": " + std::strerror(err));
  ::_exit(err == ENOENT ? 127 : 126);
}

void report_failure_and_exit(int report_fd, const std::string& msg) {
  write_report(report_fd, kReportSetup, 0, msg);
  ::_exit(1);
}

ExitStatus wait_exit(pid_t pid) {
  int st = 0;
  while (::waitpid(pid, &st, 0) < 0)
    if (errno != EINTR) throw_sys("waitpid", std::to_string(pid));
  ExitStatus s;
  if (WIFEXITED(st)) s.code = WEXITSTATUS(st);
  if (WIFSIGNALED(st)) s.signal = WTERMSIG(st);
  return s;
}

namespace {
// Reads one report. false: EOF before any (the exec happened).
bool read_report(int fd, SyncReport& r) {
  size_t got = 0;
  while (got < sizeof r) {
    ssize_t n = ::read(fd, reinterpret_cast<char*>(&r) + got, sizeof r - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw_sys("read child report");
    if (n == 0) break;
    got += size_t(n);
  }
  if (got == 0) return false;
  r.msg[sizeof r.msg - 1] = 0;
  if (got < sizeof r) throw Error("container process died while starting");
  return true;
}

[[noreturn]] void throw_report(const SyncReport& r) {
  if (r.kind == kReportExec) throw ExitError(r.msg, r.err == ENOENT ? 127 : 126, r.err);
  throw Error(r.msg);
}
}  // namespace

void rethrow_report(int fd) {
  SyncReport r{};
  if (!read_report(fd, r)) return;  // EOF: the exec happened (the CLOEXEC pipe closed)
  if (r.kind == kReportReady) return;  // a gated init: what follows is not ours to read
  throw_report(r);
}

void await_gate(int fd) {
  SyncReport r{};
  if (!read_report(fd, r)) throw Error("container process died while starting");
  if (r.kind != kReportReady) throw_report(r);
}

void await_exec(int fd, pid_t child) {
  try {
    rethrow_report(fd);
  } catch (...) {
    wait_exit(child);
    throw;
  }
}

}  // namespace hvrun::container
