// The Docker API's exec endpoints: `hvrun exec` run as a child of the server.
#include "api/docker.hpp"

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <nlohmann/json.hpp>

#include "api/docker_convert.hpp"
#include "api/docker_shared.hpp"
#include "engine/engine.hpp"
#include "engine/records.hpp"
#include "util/error.hpp"
#include "util/fd.hpp"

namespace hvrun::api {

using nlohmann::json;

void DockerApi::exec_create(const Request& req, Connection& conn, const std::string& id) {
  const json body = parse_body(req.body);
  Exec x;
  x.container_id = id;
  x.owner_uid = req.uid;
  x.cmd = strings_of(field(body, "Cmd"), "Cmd");
  if (x.cmd.empty()) return fail(conn, 400, "no exec command specified");
  for (const auto& e : strings_of(field(body, "Env"), "Env"))
    if (e.find('=') != std::string::npos) x.env.push_back(e);
  x.user = string_of(body, "User");
  x.workdir = string_of(body, "WorkingDir");
  x.tty = bool_of(body, "Tty");
  x.attach_stdin = bool_of(body, "AttachStdin");
  const engine::State st = engine::Records(root_).refresh(id);
  if (st.status != "running") return fail(conn, 409, "container " + id.substr(0, 12) + " is not running");
  const std::string exec_id = random_hex(64);
  {
    std::lock_guard<std::mutex> g(mu_);
    // Finished execs are kept for their exit code; the oldest go past 1000.
    if (execs_.size() >= 1000)
      for (auto it = execs_.begin(); it != execs_.end() && execs_.size() >= 1000;)
        it = it->second.ran && !it->second.running ? execs_.erase(it) : std::next(it);
    if (execs_.size() >= 1000) return fail(conn, 503, "too many exec sessions at once");
    execs_[exec_id] = x;
  }
  conn.respond(201, kJson, json{{"Id", exec_id}}.dump());
}

void DockerApi::exec_start(const Request& req, Connection& conn, const std::string& exec_id) {
  const json body = parse_body(req.body);
  Exec x;
  {
    std::lock_guard<std::mutex> g(mu_);
    auto it = execs_.find(exec_id);
    if (it == execs_.end() || (req.uid != 0 && it->second.owner_uid != req.uid))
      return fail(conn, 404, "No such exec instance: " + exec_id);
    if (it->second.ran) return fail(conn, 409, "exec " + exec_id.substr(0, 12) + " has already run");
    it->second.ran = it->second.running = true;
    x = it->second;
  }
  const bool detach = bool_of(body, "Detach");
  std::vector<std::string> args = {"--root", root_, "exec"};
  if (x.tty) args.push_back("-t");
  if (detach) args.push_back("-d");
  for (const auto& e : x.env) args.insert(args.end(), {"-e", e});
  if (!x.user.empty()) args.insert(args.end(), {"-u", x.user});
  if (!x.workdir.empty()) args.insert(args.end(), {"-w", x.workdir});
  args.push_back(x.container_id);
  args.insert(args.end(), x.cmd.begin(), x.cmd.end());
  if (detach) {
    std::string err;
    const int rc = run_hvrun(exe_, args, &err);
    {
      std::lock_guard<std::mutex> g(mu_);
      execs_[exec_id].running = false;
    }
    if (rc != 0) return fail(conn, status_for(last_error_line(err)), last_error_line(err));
    return conn.respond(200, "", "");
  }
  // Attached: `hvrun exec` runs as a child of this server. Its stdout and
  // stderr come back framed (Docker's stdcopy) or, with a tty, raw from a
  // pty whose slave is its terminal (so that -it works as at a shell); the
  // client's input on the hijacked connection goes to its stdin.
  if (x.attach_stdin) args.insert(args.begin() + 3, "-i");
  Pipe out, err, in;
  UniqueFd master;
  std::string slave;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  if (x.tty) {
    master.reset(::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC));
    if (!master || ::grantpt(master.get()) < 0 || ::unlockpt(master.get()) < 0) throw_sys("open a pty for exec");
    slave = ::ptsname(master.get());
    // A session of its own whose controlling terminal is the slave.
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID);
    posix_spawn_file_actions_addopen(&fa, 0, slave.c_str(), O_RDWR, 0);
    posix_spawn_file_actions_adddup2(&fa, 0, 1);
    posix_spawn_file_actions_adddup2(&fa, 0, 2);
  } else {
    out = Pipe::make();
    err = Pipe::make();
    if (x.attach_stdin) {
      in = Pipe::make();
      posix_spawn_file_actions_adddup2(&fa, in.read.get(), 0);
    } else {
      posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    }
    posix_spawn_file_actions_adddup2(&fa, out.write.get(), 1);
    posix_spawn_file_actions_adddup2(&fa, err.write.get(), 2);
  }
  pid_t pid = 0;
  const int rc = spawn_hvrun(exe_, args, &fa, &attr, &pid);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  out.write.reset();
  err.write.reset();
  in.read.reset();
  if (rc != 0) {
    std::lock_guard<std::mutex> g(mu_);
    execs_[exec_id].running = false;
    execs_[exec_id].exit_code = 126;
    return fail(conn, 500, std::string("cannot run hvrun exec: ") + std::strerror(rc));
  }
  {
    std::lock_guard<std::mutex> g(mu_);
    execs_[exec_id].pty_master = master.get();
  }
  if (req.headers.count("upgrade"))
    conn.begin_stream(101, {{"Content-Type", kRawStream}, {"Connection", "Upgrade"}, {"Upgrade", "tcp"}});
  else
    conn.begin_stream(200, {{"Content-Type", kRawStream}});
  // fds: the client (its input), then the output sources.
  std::vector<pollfd> p = {{x.attach_stdin ? conn.fd() : -1, POLLIN, 0}};
  if (x.tty) p.push_back({master.get(), POLLIN, 0});
  else p.insert(p.end(), {{out.read.get(), POLLIN, 0}, {err.read.get(), POLLIN, 0}});
  size_t open = p.size() - 1;
  char buf[65536];
  bool peer = true;
  while (open > 0) {
    if (::poll(p.data(), p.size(), -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (p[0].fd >= 0 && (p[0].revents & (POLLIN | POLLHUP | POLLERR))) {
      ssize_t n = ::recv(p[0].fd, buf, sizeof buf, 0);
      if (n > 0) {
        (void)write_all(x.tty ? master.get() : in.write.get(), buf, static_cast<size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        p[0].fd = -1;      // the client closed its side: stdin's EOF
        in.write.reset();  // (a tty gets none: Docker's too)
      }
    }
    for (size_t i = 1; i < p.size(); ++i) {
      if (p[i].fd < 0 || !(p[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t n = ::read(p[i].fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {  // EOF, or EIO once the pty's last slave is closed
        p[i].fd = -1;
        --open;
        continue;
      }
      const std::string data(buf, static_cast<size_t>(n));
      if (peer)
        peer = conn.write(x.tty ? data : frame(i == 1 ? engine::Stream::Stdout : engine::Stream::Stderr, data));
    }
  }
  int st = 0;
  while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  std::lock_guard<std::mutex> g(mu_);
  execs_[exec_id].running = false;
  execs_[exec_id].pty_master = -1;
  execs_[exec_id].exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

void DockerApi::exec_resize(const Request& req, Connection& conn, const std::string& exec_id) {
  winsize ws{};
  if (!window_size_of(req, ws)) return fail(conn, 400, "invalid h or w: expected numbers");
  std::lock_guard<std::mutex> g(mu_);
  auto it = execs_.find(exec_id);
  if (it == execs_.end() || (req.uid != 0 && it->second.owner_uid != req.uid))
    return fail(conn, 404, "No such exec instance: " + exec_id);
  // The pty's foreground group (hvrun exec) gets SIGWINCH and passes the
  // size on into the container.
  if (it->second.pty_master >= 0) ::ioctl(it->second.pty_master, TIOCSWINSZ, &ws);
  conn.respond(200, "", "");
}

void DockerApi::exec_inspect(const Request& req, Connection& conn, const std::string& exec_id) {
  Exec x;
  {
    std::lock_guard<std::mutex> g(mu_);
    auto it = execs_.find(exec_id);
    if (it == execs_.end() || (req.uid != 0 && it->second.owner_uid != req.uid))
      return fail(conn, 404, "No such exec instance: " + exec_id);
    x = it->second;
  }
  json j = {{"ID", exec_id}, {"Running", x.running}, {"ExitCode", x.ran && !x.running ? json(x.exit_code) : json(nullptr)},
            {"ContainerID", x.container_id}, {"OpenStdin", x.attach_stdin}, {"OpenStdout", true}, {"OpenStderr", true},
            {"ProcessConfig", {{"tty", x.tty}, {"entrypoint", x.cmd.empty() ? "" : x.cmd[0]},
                               {"arguments", x.cmd.size() > 1 ? json(std::vector<std::string>(x.cmd.begin() + 1, x.cmd.end())) : json::array()},
                               {"user", x.user}}},
            {"Pid", 0}};
  conn.respond(200, kJson, j.dump());
}

}  // namespace hvrun::api
