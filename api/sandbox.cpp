// hvrun's own sandbox endpoints (/hvrun/v1/sandboxes...), JSON, for programs
// that run untrusted code: make a sandbox (an image, a mode, limits, a TTL),
// exec in it with its output streamed and its exit code, write and read
// files, list, extend the TTL, destroy. A sandbox is a container like any
// other (docker ps shows it), labelled io.hvrun.sandbox; its expiry is the
// label io.hvrun.sandbox.expires (unix seconds; 0: none), so a restarted
// server goes on removing expired sandboxes (start_reaper).
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>

#include "api/docker.hpp"
#include "api/docker_convert.hpp"
#include "api/docker_shared.hpp"
#include "api/sandbox.hpp"
#include "engine/changes.hpp"
#include "engine/engine.hpp"
#include "engine/pause.hpp"
#include "engine/records.hpp"
#include "util/error.hpp"
#include "util/fd.hpp"
#include "util/log.hpp"

namespace hvrun::api {

using nlohmann::json;

int64_t now_s() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

int64_t expires_of(const engine::ContainerConfig& c) {
  auto it = c.labels.find(kExpiresLabel);
  if (it == c.labels.end()) return 0;
  try {
    return std::stoll(it->second);
  } catch (const std::exception&) {
    return 0;
  }
}

json sandbox_json(const engine::ContainerConfig& c, const engine::State& st) {
  const int64_t exp = expires_of(c);
  return {{"id", c.id}, {"name", c.name}, {"image", c.image}, {"mode", engine::to_string(c.mode)},
          {"status", engine::status_of(c, st)}, {"expires_at", exp ? json(exp) : json(nullptr)}};
}

int64_t ttl_of(const json& body) {
  const int64_t ttl = int_of(body, "ttl_seconds");
  if (ttl < 0 || ttl > 365ll * 24 * 3600) throw ApiError(400, "invalid ttl_seconds: 0 (none) to a year");
  return ttl;
}

namespace {

constexpr size_t kMaxFileBytes = 64 << 20;

// JSON text of output bytes (not always UTF-8: invalid bytes become U+FFFD).
std::string chunk(const char* key, const std::string& bytes) {
  return json{{key, bytes}}.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
}

}  // namespace

void DockerApi::start_reaper() {
  std::thread([this] {
    for (;;) {
      std::this_thread::sleep_for(std::chrono::seconds(1));
      try {
        engine::Records rec(root_);
        for (const auto& id : rec.ids()) {
          engine::ContainerConfig c;
          try {
            c = rec.load_config(id);
          } catch (const Error&) {
            continue;
          }
          const int64_t exp = expires_of(c);
          if (!c.labels.count(kSandboxLabel) || exp == 0 || exp > now_s()) continue;
          HVRUN_INFO("serve", "sandbox ", c.name, " expired: removed");
          try {
            engine::remove_container(rec, id, true);
          } catch (const Error& e) {
            HVRUN_WARN("serve", "expired sandbox ", c.name, " not removed: ", e.what());
          }
        }
      } catch (const std::exception& e) {
        HVRUN_WARN("serve", "sandbox reaper: ", e.what());
      }
    }
  }).detach();
}

void DockerApi::sandboxes(const Request& req, Connection& conn, const std::vector<std::string>& parts) {
  // parts: hvrun v1 sandboxes [ID [exec|files|ttl|snapshot|clone]]
  engine::Records rec(root_);
  const std::string& m = req.method;
  if (parts.size() == 3 && m == "GET") {
    json out = json::array();
    for (const auto& id : rec.ids()) {
      try {
        const auto c = rec.load_config(id);
        if (!c.labels.count(kSandboxLabel) || (req.uid != 0 && c.owner_uid != req.uid)) continue;
        out.push_back(sandbox_json(c, rec.refresh(id)));
      } catch (const Error&) {
      }
    }
    return conn.respond(200, kJson, out.dump());
  }
  if (parts.size() == 3 && m == "POST") {
    const json body = parse_body(req.body);
    if (const std::string snap = string_of(body, "snapshot"); !snap.empty())
      return sandbox_restore(req, conn, snap, string_of(body, "name"), ttl_of(body));
    engine::RunOptions o;
    o.image = string_of(body, "image");
    if (o.image.empty()) return fail(conn, 400, "invalid image \"\": an image is required");
    const std::string mode = string_of(body, "mode");
    if (mode == "vm") o.mode = engine::Mode::Vm;
    else if (!mode.empty() && mode != "container") return fail(conn, 400, "invalid mode \"" + mode + "\": container or vm");
    o.name = string_of(body, "name");
    o.memory = string_of(body, "memory");
    o.cpus = string_of(body, "cpus");
    if (int64_t p = int_of(body, "pids_limit"); p > 0) o.pids_limit = std::to_string(p);
    o.env = strings_of(field(body, "env"), "env");
    o.command = strings_of(field(body, "cmd"), "cmd");
    if (o.command.empty()) o.command = {"sleep", "2147483647"};  // (an image without sleep names its own cmd)
    o.net = string_of(body, "network");
    const int64_t ttl = ttl_of(body);
    o.labels = {std::string(kSandboxLabel) + "=1", std::string(kExpiresLabel) + "=" + std::to_string(ttl ? now_s() + ttl : 0)};
    const std::string id = create_for(req, o);
    std::string err;
    if (run_hvrun(exe_, {"--root", root_, "start", id}, &err) != 0) {
      try {
        engine::remove_container(rec, id, true);
      } catch (const Error&) {
      }
      const std::string why = last_error_line(err);
      return fail(conn, status_for(why), why);
    }
    return conn.respond(201, kJson, sandbox_json(rec.load_config(id), rec.refresh(id)).dump());
  }
  if (parts.size() < 4) return fail(conn, 404, "page not found: " + m + " " + req.path);
  // Only the caller's own sandboxes: any other container is "no such sandbox".
  std::string id;
  try {
    id = resolve(req, parts[3]);
  } catch (const Error&) {
    return fail(conn, 404, "no such sandbox: " + parts[3]);
  }
  engine::ContainerConfig c = rec.load_config(id);
  if (!c.labels.count(kSandboxLabel)) return fail(conn, 404, "no such sandbox: " + parts[3]);
  const std::string op = parts.size() > 4 ? parts[4] : "";
  if (parts.size() == 4 && m == "GET") return conn.respond(200, kJson, sandbox_json(c, rec.refresh(id)).dump());
  if (parts.size() == 4 && m == "DELETE") {
    engine::remove_container(rec, id, true);
    return conn.respond(204, "", "");
  }
  if (parts.size() == 5 && op == "ttl" && m == "POST") {
    const int64_t ttl = ttl_of(parse_body(req.body));
    c.labels[kExpiresLabel] = std::to_string(ttl ? now_s() + ttl : 0);
    rec.save_config(c);
    return conn.respond(200, kJson, sandbox_json(c, rec.refresh(id)).dump());
  }
  if (parts.size() == 5 && op == "exec" && m == "POST") return sandbox_exec(req, conn, id);
  if (parts.size() == 5 && op == "snapshot" && m == "POST") return sandbox_snapshot(req, conn, id, false);
  if (parts.size() == 5 && op == "clone" && m == "POST") return sandbox_snapshot(req, conn, id, true);
  if (parts.size() == 5 && op == "files") return sandbox_files(req, conn, id);
  return fail(conn, 404, "page not found: " + m + " " + req.path);
}

// POST .../exec {"cmd": [...], "stdin": "...", "env": [...], "workdir": "",
// "user": "", "timeout_seconds": N}: `hvrun exec` as a child; its output as
// JSON lines ({"stdout": "..."}, {"stderr": "..."}) as it comes, then
// {"exit_code": N} (with "timed_out": true when it was killed for the time).
void DockerApi::sandbox_exec(const Request& req, Connection& conn, const std::string& id) {
  const json body = parse_body(req.body);
  const std::vector<std::string> cmd = strings_of(field(body, "cmd"), "cmd");
  if (cmd.empty()) return fail(conn, 400, "invalid cmd: a command is required");
  const std::string input = string_of(body, "stdin");
  const int64_t timeout = int_of(body, "timeout_seconds");
  if (timeout < 0) return fail(conn, 400, "invalid timeout_seconds: 0 (none) or more");
  std::vector<std::string> args = {"--root", root_, "exec", "-i"};
  for (const auto& e : strings_of(field(body, "env"), "env")) args.insert(args.end(), {"-e", e});
  if (std::string w = string_of(body, "workdir"); !w.empty()) args.insert(args.end(), {"-w", w});
  if (std::string u = string_of(body, "user"); !u.empty()) args.insert(args.end(), {"-u", u});
  args.push_back(id);
  args.insert(args.end(), cmd.begin(), cmd.end());
  if (engine::Records(root_).refresh(id).status != "running")
    return fail(conn, 409, "sandbox " + id.substr(0, 12) + " is not running");
  Pipe in = Pipe::make(), out = Pipe::make(), err = Pipe::make();
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in.read.get(), 0);
  posix_spawn_file_actions_adddup2(&fa, out.write.get(), 1);
  posix_spawn_file_actions_adddup2(&fa, err.write.get(), 2);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);  // its own group: a timeout kills it all
  pid_t pid = 0;
  const int rc = spawn_hvrun(exe_, args, &fa, &attr, &pid);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  in.read.reset();
  out.write.reset();
  err.write.reset();
  if (rc != 0) return fail(conn, 500, std::string("cannot run hvrun exec: ") + std::strerror(rc));
  // stdin: written by a thread (a large input must not stall the output).
  std::thread feed([&in, &input] {
    (void)write_all(in.write.get(), input);
    in.write.reset();
  });
  conn.begin_stream(200, {{"Content-Type", "application/x-ndjson"}});
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout);
  bool timed_out = false, peer = true;
  std::vector<pollfd> p = {{out.read.get(), POLLIN, 0}, {err.read.get(), POLLIN, 0}};
  size_t open = 2;
  while (open > 0) {
    int wait_ms = 500;
    if (timeout > 0) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
      if (left <= 0 && !timed_out) {
        timed_out = true;
        ::kill(-pid, SIGKILL);  // hvrun exec; the process in the container ends with it
      }
      wait_ms = static_cast<int>(std::max<int64_t>(0, std::min<int64_t>(left, 500)));
    }
    if (::poll(p.data(), p.size(), wait_ms) < 0 && errno != EINTR) break;
    if (peer && conn.peer_gone()) {
      peer = false;
      ::kill(-pid, SIGKILL);  // nobody reads it any more
    }
    for (size_t i = 0; i < p.size(); ++i) {
      if (p[i].fd < 0) continue;
      std::string got;
      if (!read_ready(p[i], got)) {
        --open;
        continue;
      }
      if (peer && !got.empty()) peer = conn.write(chunk(i == 0 ? "stdout" : "stderr", got));
    }
  }
  int st = 0;
  while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  feed.join();
  const int code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  json end = {{"exit_code", code}};
  if (timed_out) end["timed_out"] = true;
  if (peer) conn.write(end.dump() + "\n");
}

// GET .../files?path=P: the file's bytes; PUT .../files?path=P[&mode=0644]:
// the body becomes the file (engine/changes.hpp: resolved inside the root).
void DockerApi::sandbox_files(const Request& req, Connection& conn, const std::string& id) {
  const std::string path = req.param("path");
  if (path.empty() || path[0] != '/') return fail(conn, 400, "invalid path \"" + path + "\": an absolute path is required");
  if (req.method == "GET")
    return conn.respond(200, "application/octet-stream", engine::read_file_in_container(root_, id, path, kMaxFileBytes));
  if (req.method == "PUT") {
    unsigned mode = 0644;
    if (std::string ms = req.param("mode"); !ms.empty()) {
      try {
        size_t used = 0;
        mode = static_cast<unsigned>(std::stoul(ms, &used, 8));
        if (used != ms.size() || mode > 07777) throw std::invalid_argument(ms);
      } catch (const std::exception&) {
        return fail(conn, 400, "invalid mode \"" + ms + "\": octal, as 0644");
      }
    }
    if (req.body.size() > kMaxFileBytes) return fail(conn, 413, "file larger than " + std::to_string(kMaxFileBytes) + " bytes");
    engine::write_file_in_container(root_, id, path, req.body, mode);
    return conn.respond(204, "", "");
  }
  return fail(conn, 405, "method not allowed: " + req.method + " " + req.path);
}

}  // namespace hvrun::api
