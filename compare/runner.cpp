// Runs the workload through the real hvrun binary, one child per run, and
// measures it from the host side.
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <map>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

#include "compare/compare.hpp"
#include "util/error.hpp"
#include "util/fd.hpp"
#include "util/fs.hpp"
#include "util/self_exe.hpp"

namespace hvrun::compare {

namespace {

double now_ms() {
  timespec ts;
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return double(ts.tv_sec) * 1e3 + double(ts.tv_nsec) / 1e6;
}

std::string readlink_str(const std::string& p) {
  char b[4096];
  ssize_t n = ::readlink(p.c_str(), b, sizeof b - 1);
  if (n <= 0) return "";
  return std::string(b, size_t(n));
}

// The RSS (KiB) of pid when it is one of the runtime's own processes: the
// hvrun binary (the foreground hvrun, the monitor, the container's pre-exec
// helpers) or the VMM executable it starts, hvrun-vmm. The workload's own
// processes run another executable and are left out. hvrun is matched by
// the binary's inode, not by its path: it runs from a read-only view of
// its binary (util/self_exe.hpp), whose /proc/PID/exe link reads "/".
struct ExeId {
  dev_t dev = 0;
  ino_t ino = 0;
};

ExeId exe_id(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return {};
  return {st.st_dev, st.st_ino};
}

long rss_if_hvrun(pid_t pid, const ExeId& hvrun) {
  std::string base = "/proc/" + std::to_string(pid);
  ExeId id = exe_id(base + "/exe");
  bool is_hvrun = id.ino != 0 && id.dev == hvrun.dev && id.ino == hvrun.ino;
  if (!is_hvrun) {
    std::string exe = readlink_str(base + "/exe");
    bool vmm = exe.size() >= 10 && exe.compare(exe.size() - 10, 10, "/hvrun-vmm") == 0;
    if (!vmm) return 0;
  }
  std::ifstream st(base + "/status");
  std::string line;
  while (std::getline(st, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6);
  return 0;
}

// Children of every thread of pid, from /proc/PID/task/TID/children
// (CONFIG_PROC_CHILDREN); false when the kernel lacks those files.
bool children_of(pid_t pid, std::vector<pid_t>& out) {
  std::string dir = "/proc/" + std::to_string(pid) + "/task";
  DIR* d = ::opendir(dir.c_str());
  if (!d) return true;  // gone: no children
  bool have = false;
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] == '.') continue;
    std::ifstream f(dir + "/" + e->d_name + "/children");
    if (!f) continue;
    have = true;
    long c;
    while (f >> c) out.push_back(pid_t(c));
  }
  ::closedir(d);
  return have;
}

long runtime_rss_kib(pid_t root, const ExeId& hvrun_exe) {
  // Walk the tree from root: cheap, a few processes.
  {
    std::vector<pid_t> todo{root};
    long total = 0;
    bool ok = true;
    for (size_t i = 0; i < todo.size() && i < 4096 && ok; ++i) {
      total += rss_if_hvrun(todo[i], hvrun_exe);
      ok = children_of(todo[i], todo);
    }
    if (ok) return total;
  }
  // No children files: scan all of /proc for parent links.
  std::map<pid_t, pid_t> parent;
  DIR* d = ::opendir("/proc");
  if (!d) return 0;
  while (dirent* e = ::readdir(d)) {
    char* end;
    long pid = std::strtol(e->d_name, &end, 10);
    if (*end || pid <= 0) continue;
    std::ifstream f("/proc/" + std::string(e->d_name) + "/stat");
    std::string s;
    if (!std::getline(f, s)) continue;
    auto rp = s.rfind(')');
    if (rp == std::string::npos) continue;
    std::istringstream in(s.substr(rp + 2));
    char state;
    long ppid;
    if (in >> state >> ppid) parent[pid_t(pid)] = pid_t(ppid);
  }
  ::closedir(d);
  long total = 0;
  for (const auto& [pid, pp] : parent) {
    (void)pp;
    // In root's tree?
    pid_t p = pid;
    int depth = 0;
    while (p > 1 && p != root && depth++ < 64) {
      auto it = parent.find(p);
      if (it == parent.end()) break;
      p = it->second;
    }
    if (p != root) continue;
    total += rss_if_hvrun(pid, hvrun_exe);
  }
  return total;
}

struct RunResult {
  int exit_code = -1;
  bool timed_out = false;
  double start_ms = -1, wall_ms = 0, cpu_ms = 0;
  long peak_rss_kib = 0;
  std::string out, err;
};

RunResult spawn(const std::vector<std::string>& argv, const ExeId& hvrun_exe, int timeout_s) {
  int op[2], ep[2];
  check_sys(::pipe2(op, O_CLOEXEC), "pipe");
  UniqueFd out_r(op[0]), out_w(op[1]);
  check_sys(::pipe2(ep, O_CLOEXEC), "pipe");
  UniqueFd err_r(ep[0]), err_w(ep[1]);
  std::vector<char*> cargv;
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  RunResult r;
  double t0 = now_ms();
  pid_t pid = ::fork();
  if (pid < 0) throw_sys("fork");
  if (pid == 0) {
    ::setpgid(0, 0);
    int null = ::open("/dev/null", O_RDONLY);
    if (null < 0 || ::dup2(null, 0) < 0 || ::dup2(out_w.get(), 1) < 0 || ::dup2(err_w.get(), 2) < 0) ::_exit(126);
    ::execv(cargv[0], cargv.data());
    ::_exit(127);
  }
  ::setpgid(pid, pid);
  out_w.reset();
  err_w.reset();
  double next_sample = 0, deadline = t0 + timeout_s * 1000.0;
  char buf[65536];
  while (out_r || err_r) {
    pollfd p[2];
    int n = 0;
    if (out_r) p[n++] = {out_r.get(), POLLIN, 0};
    if (err_r) p[n++] = {err_r.get(), POLLIN, 0};
    int rc = ::poll(p, nfds_t(n), 10);
    if (rc < 0 && errno != EINTR) throw_sys("poll");
    double now = now_ms();
    for (int i = 0; i < n && rc > 0; ++i) {
      if (!p[i].revents) continue;
      bool is_out = out_r && p[i].fd == out_r.get();
      ssize_t got = ::read(p[i].fd, buf, sizeof buf);
      if (got <= 0) {
        (is_out ? out_r : err_r).reset();
        continue;
      }
      if (is_out && r.out.empty()) r.start_ms = now - t0;
      (is_out ? r.out : r.err).append(buf, size_t(got));
    }
    if (now >= next_sample) {
      r.peak_rss_kib = std::max(r.peak_rss_kib, runtime_rss_kib(pid, hvrun_exe));
      // Every 10 ms, or less often when a scan of /proc is slow (an emulated
      // test host): the sampler stays under ~10% of one CPU.
      next_sample = now_ms() + std::min(100.0, std::max(10.0, 9 * (now_ms() - now)));
    }
    if (now > deadline) {
      r.timed_out = true;
      ::kill(-pid, SIGKILL);
      break;
    }
  }
  int status = 0;
  rusage ru{};
  while (::wait4(pid, &status, 0, &ru) < 0)
    if (errno != EINTR) throw_sys("wait4", std::to_string(pid));
  r.wall_ms = now_ms() - t0;
  r.cpu_ms = double(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
             double(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  if (r.timed_out) r.exit_code = 124;
  return r;
}

// A private directory holding only the suite binary: the read-only volume
// (VM mode turns it into a small disk image, so it should hold nothing else).
class SuiteDir {
 public:
  explicit SuiteDir(const std::string& binary) {
    char tmpl[] = "/tmp/hvrun-compare.XXXXXX";
    if (!::mkdtemp(tmpl)) throw_sys("mkdtemp", tmpl);
    path_ = tmpl;
    try {
      write_file_atomic(path_ + "/hvrun-suite", read_file(binary), 0755);
      ::chmod(path_.c_str(), 0755);
    } catch (...) {
      remove_all(path_);
      throw;
    }
  }
  ~SuiteDir() {
    try {
      remove_all(path_);
    } catch (...) {
    }
  }
  SuiteDir(const SuiteDir&) = delete;
  SuiteDir& operator=(const SuiteDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::string one_line_tail(const std::string& s) {
  std::string t = s;
  while (!t.empty() && (t.back() == '\n' || t.back() == ' ')) t.pop_back();
  auto nl = t.rfind('\n');
  if (nl != std::string::npos) t = t.substr(nl + 1);
  return t;
}

}  // namespace

std::vector<std::string> suite_benchmarks() {
  return {"getpid", "fork_exec", "fsync", "page_fault", "pipe_pingpong", "tcp_loopback"};
}

std::string find_suite_binary() {
  if (const char* e = std::getenv("HVRUN_SUITE"); e && *e) return e;
  std::string self = self_exe_path();
  if (!self.empty()) {
    std::string built = self.substr(0, self.rfind('/')) + "/../compare/hvrun-suite";
    if (::access(built.c_str(), X_OK) == 0) return built;
  }
  return "/usr/local/lib/hvrun/hvrun-suite";
}

std::vector<std::string> mode_order(const std::vector<std::string>& modes, int i) {
  std::vector<std::string> o = modes;
  if (i % 2) std::reverse(o.begin(), o.end());
  return o;
}

ParsedOutput parse_output(const std::string& out) {
  ParsedOutput p;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    if (!p.marker && line == kStartMarker) {
      p.marker = true;
      continue;
    }
    std::istringstream f(line);
    std::string tag, a, b;
    f >> tag;
    if (tag == "@hvrun-suite@" && (f >> a >> b)) {
      if (b == "skip") {
        std::string why;
        f >> why;
        p.skipped[a] = why;
      } else {
        try {
          p.ns_per_op[a] = std::stod(b);
        } catch (const std::exception&) {
          p.skipped[a] = "unparsable result '" + b + "'";
        }
      }
      continue;
    }
    if (tag == "@hvrun-iso@" && (f >> a)) {
      std::string v;
      std::getline(f, v);
      if (!v.empty() && v[0] == ' ') v.erase(0, 1);
      p.isolation[a] = v;
      continue;
    }
    p.rest += line + "\n";
  }
  return p;
}

Report run_compare(const Options& o, const Progress& progress) {
  if (o.iterations < 1 && !o.report_only) throw Error("-n must be at least 1 (got " + std::to_string(o.iterations) + ")");
  if (o.modes.empty()) throw Error("--modes: no mode given");
  for (const auto& m : o.modes)
    if (m != "container" && m != "vm") throw Error("--modes: unknown mode '" + m + "' (container, vm)");
  if (std::set<std::string>(o.modes.begin(), o.modes.end()).size() != o.modes.size())
    throw Error("--modes: a mode is named twice");
  if (!o.suite && o.command.empty() && !o.report_only) throw Error("no workload: give -- CMD... or --suite");
  std::vector<std::string> names = o.suite_names;
  auto all = suite_benchmarks();
  for (const auto& n : names)
    if (std::find(all.begin(), all.end(), n) == all.end())
      throw Error("--suite: unknown benchmark '" + n + "' (" + [&] {
        std::string s;
        for (const auto& a : all) s += (s.empty() ? "" : ", ") + a;
        return s;
      }() + ")");
  if (o.suite && names.empty()) names = all;

  std::string exe = o.hvrun_exe.empty() ? self_exe_path() : o.hvrun_exe;
  const ExeId exe_ident = exe_id(o.hvrun_exe.empty() ? "/proc/self/exe" : exe);
  std::string suite_bin = o.suite_binary.empty() ? find_suite_binary() : o.suite_binary;
  if (::access(suite_bin.c_str(), X_OK) != 0)
    throw_sys("hvrun-suite", suite_bin + " (build it, run scripts/setup.sh, or set HVRUN_SUITE)");
  SuiteDir dir(suite_bin);
  const std::string in_suite = std::string(kSuiteMount) + "/hvrun-suite";

  Report r;
  r.image = o.image;
  r.command = o.suite ? std::vector<std::string>{} : o.command;
  if (o.suite) r.suite = names;
  r.iterations = o.report_only ? 0 : o.iterations;
  r.started_at = now_rfc3339_nano();
  utsname u{};
  if (::uname(&u) == 0) r.host_kernel = u.release;
  r.metrics = base_metrics();
  if (o.suite)
    for (const auto& n : names) r.metrics.push_back(suite_metric(n));
  for (const auto& m : o.modes) r.modes.push_back(ModeResult{m, {}, {}, {}, {}});

  auto argv_for = [&](const std::string& mode, const std::vector<std::string>& workload) {
    std::vector<std::string> a{exe, "--root", o.root};
    if (o.debug) a.push_back("--debug");
    a.insert(a.end(), {"run", "--rm"});
    if (mode == "vm") a.push_back("--vm");
    a.insert(a.end(), {"-v", dir.path() + ":" + kSuiteMount + ":ro", o.image});
    a.insert(a.end(), workload.begin(), workload.end());
    return a;
  };
  std::vector<std::string> workload{in_suite};
  if (o.suite) {
    workload.push_back("bench");
    workload.insert(workload.end(), names.begin(), names.end());
  } else {
    workload.insert(workload.end(), {"mark", "--"});
    workload.insert(workload.end(), o.command.begin(), o.command.end());
  }
  auto index_of = [&](const std::string& mode) {
    for (size_t i = 0; i < r.modes.size(); ++i)
      if (r.modes[i].mode == mode) return i;
    return size_t(0);
  };

  const int iterations = o.report_only ? 0 : o.iterations;
  int total = iterations * int(o.modes.size()) + (o.isolation || o.report_only ? int(o.modes.size()) : 0), done = 0;
  for (int i = 0; i < iterations; ++i) {
    for (const auto& mode : mode_order(o.modes, i)) {
      if (progress) progress(done, total, mode + " run " + std::to_string(i + 1) + "/" + std::to_string(o.iterations));
      RunResult rr = spawn(argv_for(mode, workload), exe_ident, o.timeout_s);
      ++done;
      ParsedOutput p = parse_output(rr.out);
      // 125 without the marker: hvrun itself failed (no such image, no
      // KVM, ...); every other run would fail the same way.
      if (rr.exit_code == 125 && !p.marker)
        throw Error(mode + " run failed before the workload started: " + one_line_tail(rr.err));
      Sample s;
      s.iteration = i;
      s.exit_code = rr.exit_code;
      if (!p.marker && s.exit_code == 0) s.exit_code = -1;  // never reached the workload
      if (rr.start_ms >= 0 && p.marker) s.values["start_latency_ms"] = rr.start_ms;
      s.values["wall_ms"] = rr.wall_ms;
      s.values["cpu_ms"] = rr.cpu_ms;
      s.values["overhead_rss_mib"] = double(rr.peak_rss_kib) / 1024.0;
      for (const auto& [k, v] : p.ns_per_op) s.values["suite." + k] = v;
      ModeResult& m = r.modes[index_of(mode)];
      for (const auto& [k, why] : p.skipped) m.skipped[k] = why;
      if (s.exit_code != 0 && progress) {
        std::string why = rr.timed_out ? "timed out after " + std::to_string(o.timeout_s) + " s"
                                       : "exit " + std::to_string(rr.exit_code);
        std::string tail = one_line_tail(rr.err);
        progress(done, total, mode + " run " + std::to_string(i + 1) + " failed: " + why + (tail.empty() ? "" : ": " + tail));
      }
      m.samples.push_back(std::move(s));
    }
  }
  if (o.isolation || o.report_only) {
    for (auto& m : r.modes) {
      if (progress) progress(done, total, m.mode + " isolation report");
      RunResult rr = spawn(argv_for(m.mode, {in_suite, "report"}), exe_ident, o.timeout_s);
      ++done;
      ParsedOutput p = parse_output(rr.out);
      m.isolation = p.isolation;
      if (rr.exit_code != 0)
        m.isolation["error"] = "report run failed (exit " + std::to_string(rr.exit_code) + "): " + one_line_tail(rr.err);
      m.isolation["escape"] = escape_text(m.mode, o.vmm_jailed);
    }
  }
  if (progress) progress(done, total, "done");
  summarize_report(r);
  return r;
}

}  // namespace hvrun::compare
