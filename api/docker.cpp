#include "api/docker.hpp"


#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <atomic>
#include <random>
#include <thread>

#include "api/docker_convert.hpp"
#include "engine/describe.hpp"
#include "engine/engine.hpp"
#include "engine/logs.hpp"
#include "engine/network.hpp"
#include "engine/options.hpp"
#include "engine/pause.hpp"
#include "engine/records.hpp"
#include "image/load.hpp"
#include "image/present.hpp"
#include "image/save.hpp"
#include "image/store.hpp"
#include "util/error.hpp"
#include "util/fd.hpp"
#include "util/fs.hpp"
#include "util/log.hpp"

extern char** environ;

namespace hvrun::api {

using nlohmann::json;

namespace {

constexpr const char* kApiVersion = "1.41";
constexpr const char* kJson = "application/json";
constexpr const char* kRawStream = "application/vnd.docker.raw-stream";

// hvrun's one-line errors, mapped to Docker's statuses and wording.
int status_for(const std::string& m) {
  auto starts = [&](const char* p) { return m.rfind(p, 0) == 0; };
  if (starts("no such container") || starts("no such image") || starts("no such network")) return 404;
  if (m.find("already in use") != std::string::npos || m.find("is not running") != std::string::npos ||
      starts("cannot remove running") || m.find("is paused") != std::string::npos ||
      m.find("has exited") != std::string::npos || m.find("already running") != std::string::npos)
    return 409;
  if (starts("invalid") || starts("unknown") || m.find("invalid value") != std::string::npos) return 400;
  return 500;
}

std::string docker_message(std::string m) {
  // Docker capitalises "No such container: x" and "No such image: x".
  if (m.rfind("no such ", 0) == 0) m[0] = 'N';
  return m;
}

void fail(Connection& conn, int status, const std::string& message) {
  conn.respond(status, kJson, error_body(docker_message(message)));
}

json inspect_of(const engine::ContainerConfig& c, const engine::State& st) {
  json j = engine::inspect_json(c, st);
  // The shapes Docker's clients decode into (Go types).
  j["Name"] = "/" + c.name;
  j["Image"] = "sha256:" + c.image_id;
  j["HostConfig"]["PortBindings"] = port_map(c.publish);
  j["HostConfig"]["Runtime"] = engine::to_string(c.mode);
  j["HostConfig"]["LogConfig"] = {{"Type", "json-file"}, {"Config", json::object()}};
  j["NetworkSettings"]["Ports"] = port_map(c.publish);
  json networks = json::object();
  const auto& n = c.spec.netcfg;
  if (!n.network.empty())
    networks[n.network] = {{"IPAddress", n.address}, {"IPPrefixLen", n.prefix}, {"Gateway", n.gateway}, {"MacAddress", n.mac}};
  j["NetworkSettings"]["Networks"] = networks;
  return j;
}

std::string command_of(const engine::ContainerConfig& c) {
  std::string cmd;
  for (const auto& a : c.spec.args) cmd += (cmd.empty() ? "" : " ") + a;
  return cmd;
}

// Runs hvrun ARGS...; returns its exit status and what it wrote to stderr.
int run_hvrun(const std::string& exe, const std::vector<std::string>& args, std::string* err) {
  Pipe p = Pipe::make();
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, p.write.get(), 2);
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(exe.c_str()));
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, exe.c_str(), &fa, nullptr, argv.data(), environ);
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

}  // namespace

DockerApi::DockerApi(std::string store_root, std::string hvrun_exe, TenantLimits limits)
    : root_(std::move(store_root)), exe_(std::move(hvrun_exe)), limits_(limits) {}

std::string DockerApi::resolve(const Request& req, const std::string& ref) const {
  engine::Records rec(root_);
  if (req.uid == 0) return rec.resolve(ref);
  // Only the caller's own: a name or id prefix that is another tenant's is
  // as absent as one that is nobody's.
  std::string found;
  for (const auto& id : rec.ids()) {
    engine::ContainerConfig c;
    try {
      c = rec.load_config(id);
    } catch (const Error&) {
      continue;
    }
    if (c.owner_uid != req.uid) continue;
    if (c.id == ref || c.name == ref || (ref.size() >= 1 && c.id.rfind(ref, 0) == 0 &&
                                         ref.find_first_not_of("0123456789abcdef") == std::string::npos)) {
      if (c.id == ref || c.name == ref) return c.id;
      if (!found.empty()) throw ApiError(400, "container id prefix \"" + ref + "\" is ambiguous");
      found = c.id;
    }
  }
  if (found.empty()) throw Error("no such container: " + ref);
  return found;
}

void DockerApi::handle(const Request& req, Connection& conn) {
  std::string path = req.path;
  // "/v1.41/containers/json" -> "/containers/json"
  if (path.size() > 2 && path[1] == 'v' && std::isdigit(static_cast<unsigned char>(path[2]))) {
    size_t slash = path.find('/', 1);
    path = slash == std::string::npos ? "/" : path.substr(slash);
  }
  std::vector<std::string> parts;
  for (size_t pos = 1; pos <= path.size();) {
    size_t next = path.find('/', pos);
    if (next == std::string::npos) next = path.size();
    if (next > pos) parts.push_back(path.substr(pos, next - pos));
    pos = next + 1;
  }
  HVRUN_DEBUG("serve", req.method, " ", req.path, " (uid ", req.uid, ")");
  try {
    if (parts.empty()) return fail(conn, 404, "page not found");
    if (parts[0] == "_ping" && parts.size() == 1) {
      if (req.method != "GET" && req.method != "HEAD") return fail(conn, 405, "method not allowed");
      return conn.respond(200, "text/plain; charset=utf-8", req.method == "HEAD" ? "" : "OK",
                          {{"Cache-Control", "no-cache, no-store, must-revalidate"}});
    }
    if (parts[0] == "version" && parts.size() == 1) {
      utsname u{};
      ::uname(&u);
      json v = {{"Version", HVRUN_VERSION_STRING}, {"ApiVersion", kApiVersion}, {"MinAPIVersion", "1.24"},
                {"Os", "linux"}, {"Arch", "amd64"}, {"KernelVersion", u.release}, {"GoVersion", "none (C++)"},
                {"GitCommit", ""}, {"BuildTime", ""},
                {"Components", json::array({{{"Name", "Engine"}, {"Version", HVRUN_VERSION_STRING},
                                             {"Details", {{"ApiVersion", kApiVersion}, {"Os", "linux"}}}}})},
                {"Platform", {{"Name", "hvrun"}}}};
      return conn.respond(200, kJson, v.dump());
    }
    if (parts[0] == "info" && parts.size() == 1) {
      engine::Records rec(root_);
      size_t total = 0, running = 0, paused = 0, stopped = 0;
      for (const auto& id : rec.ids()) {
        try {
          const auto c = rec.load_config(id);
          if (req.uid != 0 && c.owner_uid != req.uid) continue;
          const auto st = rec.refresh(id);
          ++total;
          const std::string s = engine::status_of(c, st);
          if (s == "paused") ++paused;
          else if (s == "running") ++running;
          else if (s == "exited") ++stopped;
        } catch (const Error&) {
        }
      }
      utsname u{};
      ::uname(&u);
      char host[256] = {};
      ::gethostname(host, sizeof host - 1);
      const size_t nimages = image::Store(root_).list().size();
      json i = {{"ID", "hvrun"}, {"Containers", total}, {"ContainersRunning", running}, {"ContainersPaused", paused},
                {"ContainersStopped", stopped}, {"Images", nimages}, {"Driver", "overlay"}, {"KernelVersion", u.release},
                {"OperatingSystem", "hvrun"}, {"OSType", "linux"}, {"Architecture", u.machine},
                {"NCPU", engine::available_cpus()}, {"MemTotal", 0}, {"Name", host}, {"ServerVersion", HVRUN_VERSION_STRING},
                {"DockerRootDir", root_}, {"Runtimes", {{"container", {{"path", "hvrun"}}}, {"vm", {{"path", "hvrun"}}}}},
                {"DefaultRuntime", "container"}, {"CgroupDriver", "cgroupfs"}, {"Debug", false},
                {"SecurityOptions", json::array({"name=seccomp,profile=default"})}, {"Warnings", json::array()}};
      return conn.respond(200, kJson, i.dump());
    }
    if (parts[0] == "containers") return containers(req, conn, parts);
    if (parts[0] == "images") return images(req, conn, parts);
    if (parts[0] == "exec" && parts.size() == 3 && parts[2] == "start" && req.method == "POST")
      return exec_start(req, conn, parts[1]);
    if (parts[0] == "exec" && parts.size() == 3 && parts[2] == "resize" && req.method == "POST")
      return exec_resize(req, conn, parts[1]);
    if (parts[0] == "exec" && parts.size() == 3 && parts[2] == "json" && req.method == "GET")
      return exec_inspect(req, conn, parts[1]);
    return fail(conn, 404, "page not found: " + req.method + " " + req.path);
  } catch (const ApiError& e) {
    if (!conn.responded()) fail(conn, e.status, e.what());
  } catch (const ExitError& e) {
    if (!conn.responded()) fail(conn, status_for(e.what()), e.what());
  } catch (const Error& e) {
    if (!conn.responded()) fail(conn, status_for(e.what()), e.what());
  } catch (const std::exception& e) {
    if (!conn.responded()) fail(conn, 500, e.what());
  }
}

void DockerApi::containers(const Request& req, Connection& conn, const std::vector<std::string>& parts) {
  const std::string& m = req.method;
  if (parts.size() == 2 && parts[1] == "json" && m == "GET") return list(req, conn);
  if (parts.size() == 2 && parts[1] == "create" && m == "POST") return create(req, conn);
  if (parts.size() < 2) return fail(conn, 404, "page not found");
  engine::Records rec(root_);
  const std::string id = resolve(req, parts[1]);
  const std::string op = parts.size() > 2 ? parts[2] : "";
  if (parts.size() == 2 && m == "DELETE") {
    engine::remove_container(rec, id, req.flag("force"));
    return conn.respond(204, "", "");
  }
  if (parts.size() != 3) return fail(conn, 404, "page not found");
  if (op == "json" && m == "GET") {
    return conn.respond(200, kJson, inspect_of(rec.load_config(id), rec.refresh(id)).dump());
  }
  if (op == "start" && m == "POST") {
    const engine::State st = rec.refresh(id);
    if (!st.start_pending && st.status == "running") return conn.respond(304, "", "");
    std::string err;
    if (run_hvrun(exe_, {"--root", root_, "start", id}, &err) != 0) {
      const std::string why = last_error_line(err);
      return fail(conn, status_for(why), why);
    }
    return conn.respond(204, "", "");
  }
  if (op == "wait" && m == "POST") {
    std::string cond = req.param("condition");
    if (cond.empty()) cond = "not-running";
    if (cond != "not-running" && cond != "next-exit" && cond != "removed")
      return fail(conn, 400, "invalid condition \"" + cond + "\": not-running, next-exit or removed");
    // The status line goes out now (Docker's clients read it before the
    // container ends); the body once it has.
    conn.begin_stream(200, {{"Content-Type", kJson}});
    int code = 0;
    std::string error;
    try {
      code = engine::wait_container(rec, id, cond != "not-running", [&] { return conn.peer_gone(); });
      if (cond == "removed") {
        while (is_dir(rec.dir(id)) && !conn.peer_gone()) ::usleep(50 * 1000);
      }
    } catch (const Error& e) {
      error = e.what();
    }
    json body = {{"StatusCode", code}, {"Error", error.empty() ? json(nullptr) : json{{"Message", error}}}};
    conn.write(body.dump() + "\n");
    return;
  }
  if (op == "kill" && m == "POST") {
    const int sig = engine::parse_signal(req.param("signal", "SIGKILL"));
    engine::signal_container(rec, id, sig);
    return conn.respond(204, "", "");
  }
  if (op == "stop" && m == "POST") {
    const engine::State st = rec.refresh(id);
    if (st.status != "running") return conn.respond(304, "", "");
    int t = 10;
    if (std::string ts = req.param("t"); !ts.empty()) {
      try {
        t = std::stoi(ts);
      } catch (const std::exception&) {
        return fail(conn, 400, "invalid t \"" + ts + "\": expected seconds");
      }
    }
    engine::stop_container(rec, id, t < 0 ? 3600 : std::min(t, 3600));  // -1: Docker waits without a limit
    return conn.respond(204, "", "");
  }
  if (op == "logs" && m == "GET") return logs(req, conn, id, false);
  if (op == "attach" && m == "POST") return logs(req, conn, id, true);
  if (op == "exec" && m == "POST") return exec_create(req, conn, id);
  if (op == "resize" && m == "POST") {
    // The pty of an attached -it container (its size is the client's).
    winsize ws{};
    if (!window_size_of(req, ws)) return fail(conn, 400, "invalid h or w: expected numbers");
    if (!rec.load_config(id).spec.tty) return conn.respond(200, "", "");
    // Its monitor hands a -t container's pty to anyone who asks (root only:
    // the record's directory).
    if (UniqueFd pty = engine::attach_stdin(rec, id)) ::ioctl(pty.get(), TIOCSWINSZ, &ws);
    return conn.respond(200, "", "");
  }
  return fail(conn, 404, "page not found: " + m + " " + req.path);
}

void DockerApi::check_tenant(const engine::RunOptions& o) const {
  auto refuse = [](const std::string& why) { throw ApiError(403, "a tenant may not " + why); };
  if (!o.volumes.empty()) refuse("bind host paths (Binds)");
  if (o.privileged) refuse("run privileged containers");
  if (!o.cap_add.empty()) refuse("add capabilities");
  if (!o.security_opts.empty()) refuse("set security options");
  // Only no network or the default one: another network may be another
  // tenant's (and an empty one means the server's own default).
  if (!o.net.empty() && o.net != "none" && o.net != "bridge")
    refuse("join network \"" + o.net + "\" (only none or bridge)");
  if (!o.ulimits.empty()) refuse("set ulimits (the server's own limits apply)");
  for (const auto& t : o.tmpfs) {
    const container::TmpfsMount m = engine::parse_tmpfs(t);
    if (!m.nodev || !m.nosuid) refuse("mount a tmpfs with dev or suid");
  }
  for (const auto& p : engine::parse_ports(o.publish))
    if (p.host_port < 1024) refuse("publish host port " + std::to_string(p.host_port) + " (below 1024)");
  const int64_t memory = o.memory.empty() ? 0 : engine::parse_memory(o.memory);
  if (limits_.max_containers == 0 && limits_.max_memory == 0) return;
  engine::Records rec(root_);
  size_t count = 0;
  int64_t used = 0;
  for (const auto& id : rec.ids()) {
    try {
      const engine::ContainerConfig c = rec.load_config(id);
      if (c.owner_uid != o.owner_uid) continue;
      ++count;
      const engine::State st = rec.refresh(id);
      if (st.status != "exited") used += c.spec.memory_bytes > 0 ? c.spec.memory_bytes : limits_.max_memory;
    } catch (const Error&) {
    }
  }
  if (limits_.max_containers && count >= limits_.max_containers)
    throw ApiError(403, "tenant quota: at most " + std::to_string(limits_.max_containers) +
                            " containers (remove some: docker rm)");
  if (limits_.max_memory) {
    if (memory == 0)
      throw ApiError(403, "tenant quota: give each container a memory limit (-m), " +
                              std::to_string(limits_.max_memory >> 20) + " MiB in all");
    if (used + memory > limits_.max_memory)
      throw ApiError(403, "tenant quota: " + std::to_string((used + memory) >> 20) + " MiB of memory asked, " +
                              std::to_string(limits_.max_memory >> 20) + " MiB allowed");
  }
}

void DockerApi::create(const Request& req, Connection& conn) {
  const json body = parse_body(req.body);
  std::vector<std::string> warnings;
  engine::RunOptions o = run_options_of(body, req.param("name"), warnings);
  o.owner_uid = req.uid;
  // A tenant's quota is counted and its container made under one lock, so
  // that creates at once cannot all pass the same count.
  std::unique_lock<std::mutex> quota(tenant_mu_, std::defer_lock);
  if (req.uid != 0) {
    quota.lock();
    check_tenant(o);
    // No device nodes of its own: without a user namespace a node made in
    // the container is the host's device (cgroup v2 has no device filter here).
    o.cap_drop.push_back("MKNOD");
    // The server's default ($HVRUN_NETWORK) only when it is one a tenant
    // may ask for itself.
    if (o.net.empty()) {
      const char* d = std::getenv("HVRUN_NETWORK");
      o.net = d && std::string(d) == "none" ? "none" : "bridge";
    }
  }
  try {
    image::Store(root_).resolve(o.image);
  } catch (const Error&) {
    // Docker's wording, which its CLI answers by pulling the image.
    std::string ref = o.image;
    if (ref.find(':') == std::string::npos && ref.find('@') == std::string::npos) ref += ":latest";
    return fail(conn, 404, "No such image: " + ref);
  }
  const std::string id = engine::create(root_, o);
  conn.respond(201, kJson, json{{"Id", id}, {"Warnings", warnings}}.dump());
}

void DockerApi::list(const Request& req, Connection& conn) {
  const bool all = req.flag("all");
  const auto filters = parse_filters(req.param("filters"));
  for (const auto& [k, v] : filters)
    if (k != "name" && k != "id" && k != "status" && k != "ancestor")
      return fail(conn, 400, "invalid filter \"" + k + "\": hvrun filters by name, id, status and ancestor");
  engine::Records rec(root_);
  rec.collect_garbage();
  json out = json::array();
  auto ids = rec.ids();
  for (auto it = ids.rbegin(); it != ids.rend(); ++it) {
    engine::ContainerConfig c;
    engine::State st;
    try {
      c = rec.load_config(*it);
      st = rec.refresh(*it);
    } catch (const Error&) {
      continue;
    }
    if (req.uid != 0 && c.owner_uid != req.uid) continue;
    const std::string state = engine::status_of(c, st);
    if (!all && !filters.count("status") && st.status != "running") continue;
    bool match = true;
    for (const auto& [k, values] : filters) {
      bool any = false;
      for (const auto& v : values) {
        if (k == "name") any = c.name.find(v[0] == '/' ? v.substr(1) : v) != std::string::npos;
        else if (k == "id") any = c.id.rfind(v, 0) == 0;
        else if (k == "status") any = state == v;
        else any = c.image == v || c.image_id.rfind(v.rfind("sha256:", 0) == 0 ? v.substr(7) : v, 0) == 0;
        if (any) break;
      }
      match = match && any;
    }
    if (!match) continue;
    json ports = json::array();
    for (const auto& p : engine::parse_ports(c.publish))
      ports.push_back({{"IP", p.host_ip.empty() ? "0.0.0.0" : p.host_ip}, {"PrivatePort", p.port},
                       {"PublicPort", p.host_port}, {"Type", p.proto}});
    out.push_back({{"Id", c.id}, {"Names", json::array({"/" + c.name})}, {"Image", c.image},
                   {"ImageID", "sha256:" + c.image_id}, {"Command", command_of(c)},
                   {"Created", static_cast<int64_t>(engine::parse_rfc3339(c.created))}, {"Ports", ports},
                   {"Labels", json::object()}, {"State", state}, {"Status", engine::status_text(c, st)},
                   {"HostConfig", {{"NetworkMode", c.spec.net == container::NetMode::Bridge ? c.spec.netcfg.network
                                                                                             : container::to_string(c.spec.net)}}},
                   {"NetworkSettings", {{"Networks", json::object()}}}, {"Mounts", json::array()},
                   {"Mode", engine::to_string(c.mode)}});
  }
  conn.respond(200, kJson, out.dump());
}

void DockerApi::logs(const Request& req, Connection& conn, const std::string& id, bool attach) {
  engine::Records rec(root_);
  const engine::ContainerConfig c = rec.load_config(id);
  const bool want_out = req.flag("stdout"), want_err = req.flag("stderr");
  if (!attach && !want_out && !want_err) return fail(conn, 400, "you must choose at least one stream");
  engine::LogReadOptions o;
  o.timestamps = !attach && req.flag("timestamps");
  o.follow = attach ? req.flag("stream") : req.flag("follow");
  o.from_end = attach && !req.flag("logs");
  if (std::string t = req.param("tail", "all"); !attach && t != "all" && !t.empty()) {
    try {
      o.tail = static_cast<size_t>(std::stoull(t));
    } catch (const std::exception&) {
      return fail(conn, 400, "invalid tail \"" + t + "\": a number or all");
    }
  }
  const bool tty = c.spec.tty;
  if (attach && req.headers.count("upgrade"))
    conn.begin_stream(101, {{"Content-Type", kRawStream}, {"Connection", "Upgrade"}, {"Upgrade", "tcp"}});
  else
    conn.begin_stream(200, {{"Content-Type", tty ? kRawStream : "application/vnd.docker.multiplexed-stream"}});
  // stdin=1 on an -i container: the client's input goes to the workload's
  // stdin, handed over by its monitor once it runs (engine::attach_stdin);
  // the client's half-close is stdin's EOF.
  std::thread input;
  std::atomic<bool> output_done{false};
  // However the output ends (an exception included), the input thread is
  // told, unblocked and joined before `conn` goes.
  struct JoinInput {
    std::thread& t;
    std::atomic<bool>& done;
    int fd;
    ~JoinInput() {
      done = true;
      if (t.joinable()) {
        ::shutdown(fd, SHUT_RD);
        t.join();
      }
    }
  } join_input{input, output_done, conn.fd()};
  if (attach && req.flag("stdin") && c.spec.interactive) {
    input = std::thread([this, &conn, &output_done, id] {
      engine::Records r(root_);
      UniqueFd fd;
      while (!fd && !output_done) {
        fd = engine::attach_stdin(r, id);
        if (!fd) ::usleep(20 * 1000);
      }
      if (!fd) return;
      char buf[65536];
      for (;;) {
        pollfd p{conn.fd(), POLLIN, 0};
        if (::poll(&p, 1, 100) == 0) {
          if (output_done) break;
          continue;
        }
        ssize_t n = ::recv(conn.fd(), buf, sizeof buf, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0 || !write_waiting(fd.get(), buf, static_cast<size_t>(n))) break;
      }
    });
  }
  auto still_running = [&] {
    // (an attach's client half-closes when its stdin ends: only a full close ends it)
    if (attach ? conn.peer_closed() : conn.peer_gone()) return false;
    try {
      const engine::State st = rec.refresh(id);
      return st.status != "exited";
    } catch (const Error&) {
      return false;  // removed (--rm): what it wrote is read to the end
    }
  };
  engine::read_logs(
      rec.log_path(id), o,
      [&](const engine::LogEntry& e) {
        const bool err = e.stream == engine::Stream::Stderr;
        if ((err && !want_err) || (!err && !want_out)) return true;
        const std::string text = o.timestamps ? e.time + " " + e.log : e.log;
        return conn.write(tty ? text : frame(e.stream, text));
      },
      still_running);
}

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
  std::vector<char*> argv{const_cast<char*>(exe_.c_str())};
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, exe_.c_str(), &fa, &attr, argv.data(), environ);
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

void DockerApi::images(const Request& req, Connection& conn, const std::vector<std::string>& parts) {
  image::Store store(root_);
  if (parts.size() == 2 && parts[1] == "json" && req.method == "GET") {
    const auto filters = parse_filters(req.param("filters"));
    for (const auto& [k, v] : filters)
      if (k != "reference") return fail(conn, 400, "invalid filter \"" + k + "\": hvrun filters images by reference");
    json out = json::array();
    for (const auto& img : store.list()) {
      std::vector<std::string> tags = img.tags;
      if (auto f = filters.find("reference"); f != filters.end()) {
        // Only the tags that match (Docker's): one image may carry others.
        std::vector<std::string> kept;
        for (const auto& t : img.tags)
          for (const auto& ref : f->second)
            if (t == ref || t.substr(0, t.rfind(':')) == ref) {
              kept.push_back(t);
              break;
            }
        if (kept.empty()) continue;
        tags = kept;
      }
      out.push_back({{"Id", "sha256:" + img.id}, {"ParentId", img.parent.empty() ? "" : "sha256:" + img.parent},
                     {"RepoTags", tags.empty() ? json::array({"<none>:<none>"}) : json(tags)},
                     {"RepoDigests", json::array()}, {"Created", static_cast<int64_t>(engine::parse_rfc3339(img.created))},
                     {"Size", img.size}, {"VirtualSize", img.size}, {"SharedSize", -1}, {"Labels", json::object()},
                     {"Containers", -1}});
    }
    return conn.respond(200, kJson, out.dump());
  }
  if (parts.size() == 2 && parts[1] == "create" && req.method == "POST") {
    // (it would use root's registry logins, and fill the shared store)
    if (req.uid != 0) return fail(conn, 403, "a tenant may not pull images into the shared store (ask root to)");
    return pull(req, conn);
  }
  if (parts.size() == 2 && parts[1] == "get" && req.method == "GET") {
    std::vector<std::string> names;
    for (const auto& [k, v] : req.query_list)
      if (k == "names") names.push_back(v);
    return save(conn, names);
  }
  if (parts.size() == 2 && parts[1] == "load" && req.method == "POST") {
    if (req.uid != 0) return fail(conn, 403, "a tenant may not load images into the shared store");
    return load(req, conn);
  }
  // NAME may hold slashes (library/busybox): /images/NAME/{json,get,tag}, DELETE /images/NAME.
  std::string name;
  const bool op = parts.size() >= 3 && (parts.back() == "json" || parts.back() == "get" || parts.back() == "tag");
  for (size_t i = 1; i + (op ? 1 : 0) < parts.size(); ++i) name += (name.empty() ? "" : "/") + parts[i];
  if (!op && req.method == "DELETE") {
    if (req.uid != 0) return fail(conn, 403, "a tenant may not remove images from the shared store");
    json out = json::array();
    for (const auto& r : store.remove(name, req.flag("force"))) {  // "Untagged: x", "Deleted: sha256:..."
      const size_t colon = r.find(": ");
      if (colon == std::string::npos) out.push_back({{"Deleted", r}});
      else out.push_back({{r.substr(0, colon), r.substr(colon + 2)}});
    }
    return conn.respond(200, kJson, out.dump());
  }
  if (op && parts.back() == "get" && req.method == "GET") return save(conn, {name});
  if (op && parts.back() == "tag" && req.method == "POST") {
    if (req.uid != 0) return fail(conn, 403, "a tenant may not tag images in the shared store");
    std::string dst = req.param("repo");
    if (dst.empty()) return fail(conn, 400, "repository name is required (repo=)");
    if (std::string tag = req.param("tag"); !tag.empty()) dst += ":" + tag;
    store.tag(name, dst);
    return conn.respond(201, "", "");
  }
  if (op && parts.back() == "json" && req.method == "GET")
    return conn.respond(200, kJson, image::inspect_json(store, store.resolve(name)).dump());
  return fail(conn, 404, "page not found: " + req.method + " " + req.path);
}

}  // namespace hvrun::api

namespace hvrun::api {

namespace {

// ROOT/serve-tmp/KIND-XXXXXX, removed when it goes out of scope (the
// store's own tmp/ is swept by image::Store, so not there).
struct ScratchFile {
  std::string path;
  UniqueFd fd;
  ScratchFile(const std::string& root, const std::string& kind) : path(root + "/serve-tmp/" + kind + "-XXXXXX") {
    mkdir_p(root + "/serve-tmp", 0700);
    fd.reset(::mkostemp(path.data(), O_CLOEXEC));
    if (!fd) throw_sys("mkstemp", path);
  }
  ~ScratchFile() { ::unlink(path.c_str()); }
  ScratchFile(const ScratchFile&) = delete;
  ScratchFile& operator=(const ScratchFile&) = delete;
};

}  // namespace

// docker pull: `hvrun pull REF` as a child; Docker's JSON progress stream
// (a status line, then the result or an error message).
void DockerApi::pull(const Request& req, Connection& conn) {
  std::string ref = req.param("fromImage");
  if (ref.empty()) return fail(conn, 400, "fromImage is required (docker import is not served)");
  if (std::string tag = req.param("tag"); !tag.empty()) ref += (tag.rfind("sha256:", 0) == 0 ? "@" : ":") + tag;
  conn.begin_stream(200, {{"Content-Type", kJson}});
  conn.write(json{{"status", "Pulling " + ref}}.dump() + "\r\n");
  std::string err;
  const int rc = run_hvrun(exe_, {"--root", root_, "pull", "-q", ref}, &err);
  if (rc != 0) {
    const std::string why = last_error_line(err);
    conn.write(json{{"errorDetail", {{"message", why}}}, {"error", why}}.dump() + "\r\n");
    return;
  }
  conn.write(json{{"status", "Status: Downloaded image for " + ref}}.dump() + "\r\n");
}

// docker save: the images as a docker-archive tar, written to a scratch
// file of the store and streamed.
void DockerApi::save(Connection& conn, const std::vector<std::string>& names) {
  if (names.empty()) return fail(conn, 400, "no image named (names=)");
  image::Store store(root_);
  for (const auto& n : names) store.resolve(n);  // 404 before anything is written
  ScratchFile tmp(root_, "save");
  image::save_images(store, names, image::SaveFormat::DockerArchive, tmp.path);
  UniqueFd in(::open(tmp.path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!in) throw_sys("open", tmp.path);
  conn.begin_stream(200, {{"Content-Type", "application/x-tar"}});
  char buf[65536];
  for (ssize_t n; (n = ::read(in.get(), buf, sizeof buf)) > 0;)
    if (!conn.write(buf, static_cast<size_t>(n))) return;
}

// docker load: the request body (a tar) into the store.
void DockerApi::load(const Request& req, Connection& conn) {
  ScratchFile tmp(root_, "load");
  if (!write_all(tmp.fd.get(), req.body)) throw_sys("write", tmp.path);
  tmp.fd.reset();
  image::Store store(root_);
  std::vector<std::string> lines;
  try {
    for (const auto& img : image::load_images(store, tmp.path)) {
      if (img.tags.empty()) lines.push_back("Loaded image ID: sha256:" + img.id);
      for (const auto& t : img.tags) lines.push_back("Loaded image: " + t);
    }
  } catch (const Error& e) {
    return fail(conn, 400, e.what());
  }
  conn.begin_stream(200, {{"Content-Type", kJson}});
  for (const auto& l : lines) conn.write(json{{"stream", l + "\n"}}.dump() + "\r\n");
}

}  // namespace hvrun::api
