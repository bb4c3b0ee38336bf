#include "tests/integration/harness.hpp"

#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <memory>

namespace hvrun::test {

std::string hvrun_bin() {
  if (const char* e = std::getenv("HVRUN_BIN"); e && *e) return e;
  return HVRUN_BIN;
}
std::string source_dir() { return HVRUN_SOURCE_DIR; }

// hvrun's default network is the bridge, which lives in the caller's network
// namespace. Tests build networks only inside namespaces of their own
// (network_test.cpp, which unsets this), so everything else runs without one.
namespace {
[[maybe_unused]] const bool g_no_default_network = [] {
  ::setenv("HVRUN_NETWORK", "none", 1);
  return true;
}();
}  // namespace
bool is_root() { return ::geteuid() == 0; }

std::string trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

static double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

static int decode_status(int st) {
  if (WIFEXITED(st)) return WEXITSTATUS(st);
  if (WIFSIGNALED(st)) return 128 + WTERMSIG(st);
  return -1;
}

Result run(const std::vector<std::string>& argv, const std::string& input, int timeout_s,
           const std::map<std::string, std::string>& extra_env) {
  Result r;
  int in[2], out[2], err[2];
  if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC)) {
    r.err = std::string("pipe: ") + strerror(errno);
    return r;
  }
  pid_t pid = fork();
  if (pid == 0) {
    setpgid(0, 0);
    dup2(in[0], 0);
    dup2(out[1], 1);
    dup2(err[1], 2);
    for (auto& [k, v] : extra_env) setenv(k.c_str(), v.c_str(), 1);
    std::vector<char*> a;
    for (auto& s : argv) a.push_back(const_cast<char*>(s.c_str()));
    a.push_back(nullptr);
    execvp(a[0], a.data());
    dprintf(2, "exec %s: %s\n", a[0], strerror(errno));
    _exit(127);
  }
  setpgid(pid, pid);
  close(in[0]);
  close(out[1]);
  close(err[1]);
  size_t in_off = 0;
  int in_fd = in[1];
  if (input.empty()) {
    close(in_fd);
    in_fd = -1;
  } else {
    fcntl(in_fd, F_SETFL, O_NONBLOCK);
  }
  signal(SIGPIPE, SIG_IGN);
  double deadline = now_s() + timeout_s;
  bool out_open = true, err_open = true;
  while (out_open || err_open) {
    struct pollfd p[3];
    int n = 0;
    int io = -1, ie = -1, ii = -1;
    if (out_open) { p[n] = {out[0], POLLIN, 0}; io = n++; }
    if (err_open) { p[n] = {err[0], POLLIN, 0}; ie = n++; }
    if (in_fd >= 0) { p[n] = {in_fd, POLLOUT, 0}; ii = n++; }
    int left_ms = static_cast<int>((deadline - now_s()) * 1000);
    if (left_ms <= 0) {
      r.timed_out = true;
      break;
    }
    int rc = poll(p, n, left_ms);
    if (rc < 0 && errno == EINTR) continue;
    char buf[65536];
    auto drain = [&](int idx, int fd, std::string& dst, bool& open) {
      if (idx >= 0 && p[idx].revents) {
        ssize_t k = read(fd, buf, sizeof buf);
        if (k <= 0) open = false;
        else dst.append(buf, static_cast<size_t>(k));
      }
    };
    drain(io, out[0], r.out, out_open);
    drain(ie, err[0], r.err, err_open);
    if (ii >= 0 && p[ii].revents) {
      ssize_t k = write(in_fd, input.data() + in_off, input.size() - in_off);
      if (k > 0) in_off += static_cast<size_t>(k);
      if (k < 0 || in_off == input.size()) {
        close(in_fd);
        in_fd = -1;
      }
    }
  }
  if (in_fd >= 0) close(in_fd);
  close(out[0]);
  close(err[0]);
  if (r.timed_out) {
    kill(-pid, SIGKILL);
    kill(pid, SIGKILL);
  }
  int st = 0;
  // The pipes may close before the process exits; wait up to the deadline.
  for (;;) {
    pid_t w = waitpid(pid, &st, r.timed_out ? 0 : WNOHANG);
    if (w == pid) break;
    if (w < 0) { st = 0; break; }
    if (now_s() > deadline) {
      r.timed_out = true;
      kill(-pid, SIGKILL);
      kill(pid, SIGKILL);
      waitpid(pid, &st, 0);
      break;
    }
    usleep(2000);
  }
  r.code = r.timed_out ? -1 : decode_status(st);
  return r;
}

Result hvrun(const std::string& root, const std::vector<std::string>& args, const std::string& input,
             int timeout_s) {
  std::vector<std::string> argv{hvrun_bin(), "--root", root};
  argv.insert(argv.end(), args.begin(), args.end());
  return run(argv, input, timeout_s);
}

Result run_in_pty(const std::vector<std::string>& argv, const std::vector<PtyStep>& script, int timeout_s,
                  unsigned short rows, unsigned short cols) {
  Result r;
  int master = -1;
  struct winsize ws {};
  ws.ws_row = rows;
  ws.ws_col = cols;
  pid_t pid = forkpty(&master, nullptr, nullptr, &ws);
  if (pid < 0) {
    r.err = std::string("forkpty: ") + strerror(errno);
    return r;
  }
  if (pid == 0) {
    std::vector<char*> a;
    for (auto& s : argv) a.push_back(const_cast<char*>(s.c_str()));
    a.push_back(nullptr);
    execvp(a[0], a.data());
    _exit(127);
  }
  double deadline = now_s() + timeout_s;
  size_t step = 0, seen = 0;
  bool open = true;
  while (open && now_s() < deadline) {
    if (step < script.size() && r.out.find(script[step].expect, seen) != std::string::npos) {
      seen = r.out.find(script[step].expect, seen) + script[step].expect.size();
      const std::string& s = script[step].send;
      if (!s.empty() && write(master, s.data(), s.size()) < 0) break;
      ++step;
      continue;
    }
    struct pollfd p{master, POLLIN, 0};
    int rc = poll(&p, 1, 100);
    if (rc > 0) {
      char buf[4096];
      ssize_t k = read(master, buf, sizeof buf);
      if (k <= 0) open = false;
      else r.out.append(buf, static_cast<size_t>(k));
    }
  }
  int st = 0;
  if (open) {
    r.timed_out = true;
    kill(pid, SIGKILL);
  }
  waitpid(pid, &st, 0);
  close(master);
  r.code = r.timed_out ? -1 : decode_status(st);
  if (step < script.size()) r.err = "pty script stopped at step " + std::to_string(step) + " waiting for '" +
                                    script[step].expect + "'";
  return r;
}

TempDir::TempDir() {
  char tmpl[] = "/tmp/hvrun-test-XXXXXX";
  if (!mkdtemp(tmpl)) throw std::runtime_error(std::string("mkdtemp: ") + strerror(errno));
  path_ = tmpl;
}

TempDir::~TempDir() {
  // Never cross into a mount left behind by a failing test.
  run({"rm", "-rf", "--one-file-system", path_}, "", 60);
}

const std::string& busybox_rootfs() {
  static std::unique_ptr<TempDir> dir;
  static std::string path;
  if (!dir) {
    dir = std::make_unique<TempDir>();
    path = dir->path() + "/rootfs";
    std::string script = "set -e; mkdir -p " + path + "/bin " + path + "/etc " + path + "/tmp " + path + "/root " +
                         path + "/proc " + path + "/sys " + path + "/dev; cp /bin/busybox " + path +
                         "/bin/busybox; for a in $(" + path + "/bin/busybox --list); do [ -e " + path +
                         "/bin/$a ] || ln -s busybox " + path + "/bin/$a; done; chmod 1777 " + path +
                         "/tmp; echo 'root:x:0:0:root:/root:/bin/sh' > " + path +
                         "/etc/passwd; echo 'nobody:x:65534:65534:nobody:/:/bin/false' >> " + path +
                         "/etc/passwd; printf 'root:x:0:\\nnogroup:x:65534:\\n' > " + path + "/etc/group";
    Result r = run({"sh", "-c", script}, "", 60);
    if (r.code != 0) throw std::runtime_error("building busybox rootfs failed: " + r.err);
  }
  return path;
}

void StoreFixture::SetUp() {
  dir_ = std::make_unique<TempDir>();
  Result r = hvrun(root(), {"image", "import", busybox_rootfs(), "--name", "busybox:latest"}, "", 120);
  ASSERT_EQ(r.code, 0) << "importing busybox failed: " << r.err;
}

void StoreFixture::TearDown() {
  if (!dir_) return;
  // Remove every container the test left, running or not.
  Result ps = hvrun(root(), {"ps", "-aq"}, "", 30);
  if (ps.code == 0) {
    size_t pos = 0;
    std::string ids = ps.out;
    while (pos < ids.size()) {
      size_t nl = ids.find('\n', pos);
      std::string id = trim(ids.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos));
      if (!id.empty()) hvrun(root(), {"rm", "-f", id}, "", 30);
      if (nl == std::string::npos) break;
      pos = nl + 1;
    }
  }
  dir_.reset();
}

}  // namespace hvrun::test
