// The Docker API's /containers endpoints.
#include "api/docker.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <thread>

#include "api/docker_convert.hpp"
#include "api/docker_shared.hpp"
#include "engine/changes.hpp"
#include "engine/describe.hpp"
#include "engine/engine.hpp"
#include "engine/logs.hpp"
#include "engine/network.hpp"
#include "engine/options.hpp"
#include "engine/pause.hpp"
#include "engine/records.hpp"
#include "engine/usage.hpp"
#include "image/store.hpp"
#include "util/signals.hpp"
#include "util/base64.hpp"
#include "util/error.hpp"
#include "util/fd.hpp"
#include "util/fs.hpp"

namespace hvrun::api {

using nlohmann::json;

json container_summary(const engine::ContainerConfig& c, const engine::State& st, const std::string& store_root) {
  json ports = json::array();
  for (const auto& p : engine::parse_ports(c.publish))
    ports.push_back({{"IP", p.host_ip.empty() ? "0.0.0.0" : p.host_ip}, {"PrivatePort", p.port},
                     {"PublicPort", p.host_port}, {"Type", p.proto}});
  return {{"Id", c.id}, {"Names", json::array({"/" + c.name})}, {"Image", c.image},
          {"ImageID", "sha256:" + c.image_id}, {"Command", command_of(c)},
          {"Created", static_cast<int64_t>(engine::parse_rfc3339(c.created))}, {"Ports", ports},
          {"Labels", c.labels}, {"State", engine::status_of(c, st)}, {"Status", engine::status_text(c, st)},
          {"HostConfig", {{"NetworkMode", c.spec.net == container::NetMode::Bridge ? c.spec.netcfg.network
                                                                                    : container::to_string(c.spec.net)}}},
          {"NetworkSettings", {{"Networks", engine::networks_json(store_root, c)}}}, {"Mounts", json::array()},
          {"Mode", engine::to_string(c.mode)}};
}

namespace {

// stop's and restart's t (seconds before SIGKILL; -1: Docker waits without
// a limit, here an hour); nullopt when it is not a number.
// ?t=SECONDS: false when malformed; `out` stays nullopt without one (the
// container's own --stop-timeout, else 10 s). Docker's -1 (wait for ever)
// waits the longest hvrun allows.
bool stop_timeout(const Request& req, std::optional<int>& out) {
  const std::string ts = req.param("t");
  if (ts.empty()) return true;
  try {
    size_t used = 0;
    const int t = std::stoi(ts, &used);
    if (used != ts.size()) return false;
    out = t < 0 ? engine::kMaxStopTimeout : std::min(t, engine::kMaxStopTimeout);
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

}  // namespace

void DockerApi::containers(const Request& req, Connection& conn, const std::vector<std::string>& parts) {
  const std::string& m = req.method;
  if (parts.size() == 2 && parts[1] == "json" && m == "GET") return list(req, conn);
  if (parts.size() == 2 && parts[1] == "create" && m == "POST") return create(req, conn);
  if (parts.size() < 2) return fail(conn, 404, "page not found");
  engine::Records rec(root_);
  const std::string id = resolve(req, parts[1]);
  const std::string op = parts.size() > 2 ? parts[2] : "";
  if (parts.size() == 2 && m == "DELETE") {
    engine::remove_container(rec, id, req.flag("force"), req.flag("v"));
    return conn.respond(204, "", "");
  }
  if (parts.size() != 3) return fail(conn, 404, "page not found");
  if (op == "json" && m == "GET") {
    return conn.respond(200, kJson, inspect_of(rec.load_config(id), rec.refresh(id), root_).dump());
  }
  if (op == "start" && m == "POST") {
    const engine::State st = rec.refresh(id);
    if (!st.start_pending && st.status == "running") return conn.respond(304, "", "");
    return start_child(req, conn, id, st.status == "exited");
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
  if (op == "changes" && m == "GET") {
    // docker diff: Kind 0 changed, 1 added, 2 deleted.
    json out = json::array();
    for (const auto& c : engine::container_diff(root_, id))
      out.push_back({{"Path", c.path}, {"Kind", c.kind == 'C' ? 0 : c.kind == 'A' ? 1 : 2}});
    return conn.respond(200, kJson, out.dump());
  }
  if (op == "kill" && m == "POST") {
    const int sig = parse_signal(req.param("signal", "SIGKILL"));
    engine::signal_container(rec, id, sig);
    return conn.respond(204, "", "");
  }
  if (op == "stop" && m == "POST") {
    const engine::State st = rec.refresh(id);
    // One waiting to be restarted by its policy is stopped too (its restart called off).
    if (st.status != "running" && !st.restarting) return conn.respond(304, "", "");
    std::optional<int> t;
    if (!stop_timeout(req, t)) return fail(conn, 400, "invalid t \"" + req.param("t") + "\": expected seconds");
    engine::stop_container(rec, id, t);
    return conn.respond(204, "", "");
  }
  if (op == "restart" && m == "POST") {
    std::optional<int> t;
    if (!stop_timeout(req, t)) return fail(conn, 400, "invalid t \"" + req.param("t") + "\": expected seconds");
    if (rec.load_config(id).auto_remove)
      return fail(conn, 409, "container " + id.substr(0, 12) + " is removed when it stops (--rm): it cannot be restarted");
    if (rec.monitor_alive(id)) engine::stop_container(rec, id, t);
    return start_child(req, conn, id, true);
  }
  if (op == "archive") return archive(req, conn, id);
  if (op == "rename" && m == "POST") {
    const std::string name = req.param("name");
    if (name.empty()) return fail(conn, 400, "invalid container name \"\": a new name is required (name=)");
    rec.rename(id, name[0] == '/' ? name.substr(1) : name);
    return conn.respond(204, "", "");
  }
  if (op == "top" && m == "GET") {
    const engine::ProcessTable t = engine::container_top(rec, id);
    // (a process's command line need not be UTF-8)
    return conn.respond(200, kJson,
                        json{{"Titles", t.titles}, {"Processes", t.rows}}.dump(-1, ' ', false, json::error_handler_t::replace));
  }
  if (op == "stats" && m == "GET") return stats(req, conn, id);
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

void DockerApi::start_child(const Request& req, Connection& conn, const std::string& id, bool exited) {
  // An exited container's memory counts again once it runs: a tenant's
  // quota is checked, and the start made, under the quota's lock.
  std::unique_lock<std::mutex> quota(tenant_mu_, std::defer_lock);
  if (req.uid != 0 && exited) {
    quota.lock();
    check_tenant_restart(req.uid, id);
  }
  std::string err;
  if (run_hvrun(exe_, {"--root", root_, "start", id}, &err) != 0) {
    const std::string why = last_error_line(err);
    return fail(conn, status_for(why), why);
  }
  conn.respond(204, "", "");
}

void DockerApi::check_tenant_restart(uint32_t uid, const std::string& id) const {
  if (limits_.max_memory == 0) return;
  engine::Records rec(root_);
  int64_t used = 0, mine = 0;
  for (const auto& other : rec.ids()) {
    try {
      const engine::ContainerConfig c = rec.load_config(other);
      if (c.owner_uid != uid) continue;
      const int64_t m = c.spec.memory_bytes > 0 ? c.spec.memory_bytes : limits_.max_memory;
      if (other == id) mine = m;
      else if (const engine::State st = rec.refresh(other); st.status != "exited" || st.restarting) used += m;
    } catch (const Error&) {
    }
  }
  if (used + mine > limits_.max_memory)
    throw ApiError(403, "tenant quota: " + std::to_string((used + mine) >> 20) + " MiB of memory asked, " +
                            std::to_string(limits_.max_memory >> 20) + " MiB allowed");
}

void DockerApi::check_tenant(const engine::RunOptions& o) const {
  auto refuse = [](const std::string& why) { throw ApiError(403, "a tenant may not " + why); };
  // Named volumes are a tenant's own (the engine refuses another's); host paths are not.
  for (const auto& v : o.volumes)
    if (!v.empty() && v[0] == '/' && v.find(':') != std::string::npos) refuse("bind host paths (Binds)");
  // Read as text, before anything looks at the host: whether a path exists
  // is not a tenant's to learn from the error.
  for (const auto& m : o.mounts) {
    std::istringstream fields(m);
    for (std::string f; std::getline(fields, f, ',');) {
      const size_t eq = f.find('=');
      const std::string k = f.substr(0, eq), v = eq == std::string::npos ? "" : f.substr(eq + 1);
      if ((k == "type" && v == "bind") || ((k == "source" || k == "src") && !v.empty() && v[0] == '/'))
        refuse("bind host paths (Mounts of type bind)");
    }
  }
  if (o.privileged) refuse("run privileged containers");
  // The host's processes (to see, and as root to signal) and shared memory.
  if (o.pid == "host") refuse("share the host's pid namespace (PidMode host)");
  if (o.ipc == "host") refuse("share the host's ipc namespace (IpcMode host)");
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
    if (p.host_port != 0 && p.host_port < 1024)  // 0: a free one, picked by the server
      refuse("publish host port " + std::to_string(p.host_port) + " (below 1024)");
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
      // One waiting for its restart policy counts as running.
      if (st.status != "exited" || st.restarting) used += c.spec.memory_bytes > 0 ? c.spec.memory_bytes : limits_.max_memory;
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
  const std::string id = create_for(req, run_options_of(body, req.param("name"), warnings));
  conn.respond(201, kJson, json{{"Id", id}, {"Warnings", warnings}}.dump());
}

std::string DockerApi::create_for(const Request& req, engine::RunOptions o) {
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
    throw ApiError(404, "No such image: " + ref);
  }
  return engine::create(root_, o);
}

void DockerApi::list(const Request& req, Connection& conn) {
  // limit=N (docker ps -n N, -l): the N newest, of every state (Docker's).
  long limit = -1;
  if (const std::string l = req.param("limit"); !l.empty()) {
    char* end = nullptr;
    limit = std::strtol(l.c_str(), &end, 10);
    if (end == l.c_str() || *end) return fail(conn, 400, "invalid limit \"" + l + "\": a number");
  }
  const bool all = req.flag("all") || limit > 0;
  // (an invalid filter: 400, from the message)
  const engine::ContainerFilter filter = engine::ContainerFilter::parse(parse_filters(req.param("filters")), root_);
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
    if (!all && !filter.has("status") && st.status != "running") continue;
    if (!filter.match(c, st)) continue;
    if (limit > 0 && out.size() >= static_cast<size_t>(limit)) break;
    out.push_back(container_summary(c, st, root_));
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

namespace {

// Go's os.FileMode of a st_mode (the path stat's "mode", which the docker
// CLI decodes).
uint32_t go_file_mode(uint32_t m) {
  uint32_t g = m & 0777;
  if (S_ISDIR(m)) g |= 1u << 31;
  if (S_ISLNK(m)) g |= 1u << 27;
  if (S_ISFIFO(m)) g |= 1u << 25;
  if (S_ISSOCK(m)) g |= 1u << 24;
  if (S_ISBLK(m)) g |= 1u << 26;
  if (S_ISCHR(m)) g |= (1u << 26) | (1u << 21);
  if (m & S_ISUID) g |= 1u << 23;
  if (m & S_ISGID) g |= 1u << 22;
  if (m & S_ISVTX) g |= 1u << 20;
  return g;
}

std::string path_stat_header(const engine::PathInfo& info) {
  char t[32] = "1970-01-01T00:00:00Z";
  std::tm tm{};
  const time_t secs = static_cast<time_t>(info.mtime);
  if (::gmtime_r(&secs, &tm)) std::strftime(t, sizeof t, "%Y-%m-%dT%H:%M:%SZ", &tm);
  const json j = {{"name", info.name}, {"size", info.size}, {"mode", go_file_mode(info.mode)}, {"mtime", t},
                  {"linkTarget", info.link_target}};
  return base64_encode(j.dump(-1, ' ', false, json::error_handler_t::replace));  // (names need not be UTF-8)
}

}  // namespace

// docker cp: HEAD stats a path, GET reads it as a tar, PUT unpacks a tar
// into a directory (engine/changes.hpp: resolved inside the container's root).
void DockerApi::archive(const Request& req, Connection& conn, const std::string& id) {
  const std::string path = req.param("path");
  if (path.empty()) return fail(conn, 400, "path is required (path=)");
  if (req.method == "HEAD" || req.method == "GET") {
    const engine::PathInfo info = engine::stat_in_container(root_, id, path);
    const std::string stat = path_stat_header(info);
    if (req.method == "HEAD") return conn.respond(200, "", "", {{"X-Docker-Container-Path-Stat", stat}});
    ScratchFile tmp(root_, "cp");
    // (the store's disk keeps what image imports keep free: a huge file in
    // the container cannot fill it)
    engine::copy_from_container(root_, id, path, tmp.fd.get(), image::Store(root_).min_free_space());
    if (::lseek(tmp.fd.get(), 0, SEEK_SET) < 0) throw_sys("seek", tmp.path);
    conn.begin_stream(200, {{"Content-Type", "application/x-tar"}, {"X-Docker-Container-Path-Stat", stat}});
    char buf[65536];
    for (ssize_t n; (n = ::read(tmp.fd.get(), buf, sizeof buf)) > 0;)
      if (!conn.write(buf, static_cast<size_t>(n))) return;
    return;
  }
  if (req.method == "PUT") {
    UniqueFd in;
    std::optional<ScratchFile> tmp;  // a body held in memory goes to a file first
    if (!req.body_file.empty()) {
      in.reset(::open(req.body_file.c_str(), O_RDONLY | O_CLOEXEC));
      if (!in) throw_sys("open", req.body_file);
    } else {
      tmp.emplace(root_, "cp");
      if (!write_all(tmp->fd.get(), req.body)) throw_sys("write", tmp->path);
      if (::lseek(tmp->fd.get(), 0, SEEK_SET) < 0) throw_sys("seek", tmp->path);
    }
    engine::copy_into_container(root_, id, path, tmp ? tmp->fd.get() : in.get(), req.flag("noOverwriteDirNonDir"));
    return conn.respond(200, "", "");
  }
  return fail(conn, 405, "method not allowed: " + req.method + " " + req.path);
}

namespace {

// Block I/O as Docker's cgroup v2 stats give it (the CLI sums "read" and
// "write" entries); absent when unknown.
json blkio_stats_of(const engine::ContainerUsage& u) {
  if (u.blk_read < 0) return json::object();
  return {{"io_service_bytes_recursive",
           {{{"major", 0}, {"minor", 0}, {"op", "read"}, {"value", u.blk_read}},
            {{"major", 0}, {"minor", 0}, {"op", "write"}, {"value", u.blk_write}}}}};
}

// The container's own network namespace, as one interface (the CLI sums them).
json networks_of(const engine::ContainerUsage& u) {
  if (u.net_rx < 0) return json::object();
  return {{"eth0", {{"rx_bytes", u.net_rx}, {"tx_bytes", u.net_tx}, {"rx_packets", 0}, {"tx_packets", 0},
                    {"rx_errors", 0}, {"tx_errors", 0}, {"rx_dropped", 0}, {"tx_dropped", 0}}}};
}

json cpu_stats_of(const engine::ContainerUsage& u) {
  return {{"cpu_usage", {{"total_usage", std::max<int64_t>(u.cpu_ns, 0)}, {"usage_in_kernelmode", 0}, {"usage_in_usermode", 0}}},
          {"system_cpu_usage", u.system_cpu_ns}, {"online_cpus", u.online_cpus},
          {"throttling_data", {{"periods", 0}, {"throttled_periods", 0}, {"throttled_time", 0}}}};
}

}  // namespace

// docker stats: Docker's stats document, once (stream=false: two readings
// half a second apart, so that the CPU share has a "before") or every second
// while the client stays and the container runs.
void DockerApi::stats(const Request& req, Connection& conn, const std::string& id) {
  engine::Records rec(root_);
  const engine::ContainerConfig c = rec.load_config(id);
  const bool stream = req.param("stream", "true") != "false" && req.param("stream") != "0";
  auto doc = [&](const engine::ContainerUsage& before, const engine::ContainerUsage& now, const std::string& pre_time,
                 const std::string& time) {
    return json{{"read", time}, {"preread", pre_time}, {"id", id}, {"name", "/" + c.name},
                {"pids_stats", {{"current", std::max<int64_t>(now.pids, 0)}, {"limit", now.pids_limit > 0 ? now.pids_limit : 0}}},
                {"cpu_stats", cpu_stats_of(now)}, {"precpu_stats", cpu_stats_of(before)},
                {"memory_stats", {{"usage", std::max<int64_t>(now.memory_bytes, 0)},
                                  {"limit", now.memory_limit > 0 ? now.memory_limit : now.host_memory},
                                  {"stats", json::object()}}},
                {"blkio_stats", blkio_stats_of(now)}, {"networks", networks_of(now)}, {"num_procs", 0}};
  };
  engine::ContainerUsage before = engine::container_usage(rec, id);
  std::string before_time = now_rfc3339_nano();
  if (!stream) {
    ::usleep(500 * 1000);
    const engine::ContainerUsage now = engine::container_usage(rec, id);
    return conn.respond(200, kJson, doc(before, now, before_time, now_rfc3339_nano()).dump());
  }
  conn.begin_stream(200, {{"Content-Type", kJson}});
  while (!conn.peer_gone()) {
    for (int i = 0; i < 10 && !conn.peer_gone(); ++i) ::usleep(100 * 1000);
    engine::ContainerUsage now;
    try {
      now = engine::container_usage(rec, id);
    } catch (const Error&) {
      return;  // it stopped
    }
    const std::string t = now_rfc3339_nano();
    if (!conn.write(doc(before, now, before_time, t).dump() + "\n")) return;
    before = now;
    before_time = t;
  }
}

}  // namespace hvrun::api
