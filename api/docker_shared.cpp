// What the Docker API's handlers share (api/docker_shared.hpp).
#include "api/docker_shared.hpp"

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <random>

#include "api/docker_convert.hpp"
#include "engine/describe.hpp"
#include "util/error.hpp"
#include "util/fd.hpp"
#include "util/fs.hpp"

extern char** environ;

namespace hvrun::api {

using nlohmann::json;

// hvrun's one-line errors, mapped to Docker's statuses and wording.
int status_for(const std::string& m) {
  auto starts = [&](const char* p) { return m.rfind(p, 0) == 0; };
  if (starts("no such container") || starts("no such image") || starts("no such network") || starts("no such file") ||
      starts("no such volume") || starts("no such snapshot") || starts("no such sandbox"))
    return 404;
  if (m.find("already in use") != std::string::npos || m.find("is not running") != std::string::npos ||
      starts("cannot remove running") || m.find("is paused") != std::string::npos ||
      m.find("has exited") != std::string::npos || m.find("already running") != std::string::npos ||
      m.find("started during") != std::string::npos || m.find("stopped during") != std::string::npos ||
      m.find("belongs to another user") != std::string::npos || m.find("is already in use") != std::string::npos ||
      m.find("is not a microVM") != std::string::npos || m.find("was taken already") != std::string::npos ||
      m.find("while it runs") != std::string::npos)
    return 409;
  if (m.find("not supported yet") != std::string::npos) return 501;
  // network connect/disconnect (engine/network.hpp), as Docker answers them
  if (m.find("is already connected to network") != std::string::npos ||
      m.find("hvrun cannot disconnect it") != std::string::npos)
    return 403;
  if (m.find("is not connected to network") != std::string::npos || m.find("networks already, hvrun's limit") != std::string::npos)
    return 409;
  if (m.find("can be connected to another") != std::string::npos) return 400;
  if (starts("invalid") || starts("unknown") || m.find("invalid value") != std::string::npos) return 400;
  return 500;
}

static std::string docker_message(std::string m) {
  // Docker capitalises "No such container: x" and "No such image: x".
  if (m.rfind("no such ", 0) == 0) m[0] = 'N';
  return m;
}

void fail(Connection& conn, int status, const std::string& message) {
  conn.respond(status, kJson, error_body(docker_message(message)));
}

json inspect_of(const engine::ContainerConfig& c, const engine::State& st, const std::string& store_root) {
  json j = engine::inspect_json(c, st);
  // The shapes Docker's clients decode into (Go types).
  j["HostConfig"]["PortBindings"] = port_map(c.publish);
  j["HostConfig"]["Runtime"] = engine::to_string(c.mode);
  j["HostConfig"]["LogConfig"] = {{"Type", "json-file"}, {"Config", json::object()}};
  j["NetworkSettings"]["Ports"] = port_map(c.publish);
  j["NetworkSettings"]["Networks"] = engine::networks_json(store_root, c);
  return j;
}

std::string command_of(const engine::ContainerConfig& c) {
  std::string cmd;
  for (const auto& a : c.spec.args) cmd += (cmd.empty() ? "" : " ") + a;
  return cmd;
}

int spawn_hvrun(const std::string& exe, const std::vector<std::string>& args, const posix_spawn_file_actions_t* fa,
                const posix_spawnattr_t* attr, pid_t* pid) {
  std::vector<char*> argv{const_cast<char*>(exe.c_str())};
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  return posix_spawn(pid, exe.c_str(), fa, attr, argv.data(), environ);
}

// Runs hvrun ARGS...; returns its exit status and what it wrote to stderr.
int run_hvrun(const std::string& exe, const std::vector<std::string>& args, std::string* err, bool with_stdout) {
  Pipe p = Pipe::make();
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  if (with_stdout) posix_spawn_file_actions_adddup2(&fa, p.write.get(), 1);
  else posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, p.write.get(), 2);
  pid_t pid = 0;
  const int rc = spawn_hvrun(exe, args, &fa, nullptr, &pid);
  posix_spawn_file_actions_destroy(&fa);
  p.write.reset();
  if (rc != 0) throw Error("cannot run " + exe + ": " + std::strerror(rc));
  std::string out = read_to_end(p.read.get());
  int st = 0;
  while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  if (err) *err = out;
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

// hvrun's "hvrun: why\n" -> "why".
std::string last_error_line(std::string s) {
  while (!s.empty() && s.back() == '\n') s.pop_back();
  if (size_t nl = s.rfind('\n'); nl != std::string::npos) s = s.substr(nl + 1);
  if (s.rfind("hvrun: ", 0) == 0) s = s.substr(7);
  return s.empty() ? "hvrun failed" : s;
}

// A resize request's h and w; false when either is not a number.
bool window_size_of(const Request& req, winsize& ws) {
  try {
    ws.ws_row = static_cast<unsigned short>(std::stoul(req.param("h", "0")));
    ws.ws_col = static_cast<unsigned short>(std::stoul(req.param("w", "0")));
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

// write_all for an fd that may be non-blocking (a monitor's pty master).
bool write_waiting(int fd, const char* p, size_t n) {
  while (n > 0) {
    ssize_t k = ::write(fd, p, n);
    if (k < 0 && errno == EINTR) continue;
    if (k < 0 && errno == EAGAIN) {
      pollfd w{fd, POLLOUT, 0};
      ::poll(&w, 1, 1000);
      continue;
    }
    if (k <= 0) return false;
    p += k;
    n -= static_cast<size_t>(k);
  }
  return true;
}

std::string random_hex(size_t n) {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  std::string s;
  while (s.size() < n) {
    char b[17];
    std::snprintf(b, sizeof b, "%016llx", static_cast<unsigned long long>(rng()));
    s += b;
  }
  return s.substr(0, n);
}

bool read_ready(pollfd& p, std::string& out) {
  if (p.fd < 0) return false;
  if (!(p.revents & (POLLIN | POLLHUP | POLLERR))) return true;
  char buf[65536];
  ssize_t n;
  while ((n = ::read(p.fd, buf, sizeof buf)) < 0 && errno == EINTR) {
  }
  if (n <= 0) {
    p.fd = -1;
    return false;
  }
  out.append(buf, static_cast<size_t>(n));
  return true;
}

ScratchFile::ScratchFile(const std::string& root, const std::string& kind) : path(root + "/serve-tmp/" + kind + "-XXXXXX") {
  mkdir_p(root + "/serve-tmp", 0700);
  fd.reset(::mkostemp(path.data(), O_CLOEXEC));
  if (!fd) throw_sys("mkstemp", path);
}

ScratchFile::~ScratchFile() { ::unlink(path.c_str()); }

}  // namespace hvrun::api
