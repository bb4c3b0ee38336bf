// The Docker API: routing, the system endpoints and who may see which container.
#include "api/docker.hpp"

#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <optional>
#include <nlohmann/json.hpp>

#include "api/docker_convert.hpp"
#include "api/docker_shared.hpp"
#include "engine/engine.hpp"
#include "engine/events.hpp"
#include "engine/options.hpp"
#include "engine/pause.hpp"
#include "engine/records.hpp"
#include "image/store.hpp"
#include "util/error.hpp"
#include "util/log.hpp"

namespace hvrun::api {

using nlohmann::json;

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
    if (parts[0] == "events" && parts.size() == 1 && req.method == "GET") return events(req, conn);
    if (parts[0] == "system" && parts.size() == 2 && parts[1] == "df" && req.method == "GET") {
      // docker system df: the images and the caller's containers (sizes of
      // containers' own writes are not measured: 0).
      json images = json::array(), containers = json::array();
      int64_t layers = 0;
      for (const auto& img : image::Store(root_).list()) {
        images.push_back(image_summary(img, img.tags));
        layers += img.size;
      }
      engine::Records rec(root_);
      for (const auto& id : rec.ids()) {
        try {
          const auto c = rec.load_config(id);
          if (req.uid != 0 && c.owner_uid != req.uid) continue;
          json j = container_summary(c, rec.refresh(id), root_);
          j["SizeRw"] = 0;
          j["SizeRootFs"] = 0;
          containers.push_back(j);
        } catch (const Error&) {
        }
      }
      return conn.respond(200, kJson, json{{"LayersSize", layers}, {"Images", images}, {"Containers", containers},
                                           {"Volumes", json::array()}, {"BuildCache", json::array()}}.dump());
    }
    if (parts[0] == "images") return images(req, conn, parts);
    if (parts[0] == "build" && parts.size() == 1 && req.method == "POST") return build(req, conn);
    if (parts[0] == "networks") return networks(req, conn, parts);
    if (parts[0] == "volumes") return volumes(req, conn, parts);
    if (parts[0] == "hvrun" && parts.size() >= 3 && parts[1] == "v1" && parts[2] == "sandboxes")
      return sandboxes(req, conn, parts);
    if (parts[0] == "hvrun" && parts.size() >= 3 && parts[1] == "v1" && parts[2] == "snapshots")
      return snapshots(req, conn, parts);
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

// docker events: container create, start, die and destroy, from the
// store's event log (engine/events.hpp) as it grows from now on (no
// history: since/until are not served). Filters: type, event, container.
void DockerApi::events(const Request& req, Connection& conn) {
  const auto filters = parse_filters(req.param("filters"));
  for (const auto& [k, v] : filters)
    if (k != "type" && k != "event" && k != "container")
      return fail(conn, 400, "invalid filter \"" + k + "\": hvrun filters events by type, event and container");
  auto any_of = [&](const char* key, const std::function<bool(const std::string&)>& match) {
    auto f = filters.find(key);
    return f == filters.end() || std::any_of(f->second.begin(), f->second.end(), match);
  };
  const bool containers = any_of("type", [](const std::string& t) { return t == "container"; });
  // since/until: Unix time as the docker CLI sends it ("1733500000.123456789").
  auto time_of = [&](const char* key) -> std::optional<int64_t> {
    const std::string v = req.param(key);
    if (v.empty()) return std::nullopt;
    const size_t dot = v.find('.');
    const std::string secs = v.substr(0, dot), frac = dot == std::string::npos ? "" : v.substr(dot + 1);
    auto digits = [](const std::string& d) { return d.find_first_not_of("0123456789") == std::string::npos; };
    if (secs.empty() || secs.size() > 10 || !digits(secs) || frac.size() > 9 || !digits(frac))
      throw ApiError(400, std::string("invalid ") + key + " \"" + v + "\": expected Unix seconds[.nanoseconds]");
    return std::stoll(secs) * 1000000000 + (frac.empty() ? 0 : std::stoll(frac + std::string(9 - frac.size(), '0')));
  };
  const std::optional<int64_t> since = time_of("since"), until = time_of("until");
  auto now_nano = [] {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  };
  engine::EventFollower follow(engine::Records(root_).base(), since);
  conn.begin_stream(200, {{"Content-Type", kJson}});
  while (!conn.peer_gone()) {
    const std::optional<engine::Event> e = follow.next(200);
    // until: the stream ends once that time has passed and nothing older is left.
    if (until && (e ? e->time_nano > *until : now_nano() > *until)) return;
    if (!e || !containers) continue;  // (only container events happen here)
    if (req.uid != 0 && e->owner_uid != req.uid) continue;
    if (!any_of("event", [&](const std::string& a) { return a == e->action; })) continue;
    if (!any_of("container", [&](const std::string& c) { return c == e->name || (!c.empty() && e->id.rfind(c, 0) == 0); }))
      continue;
    json attrs = {{"image", e->image}, {"name", e->name}};
    if (e->action == "die") attrs["exitCode"] = std::to_string(e->exit_code);
    const json j = {{"status", e->action}, {"id", e->id}, {"from", e->image}, {"Type", "container"},
                    {"Action", e->action}, {"Actor", {{"ID", e->id}, {"Attributes", attrs}}}, {"scope", "local"},
                    {"time", e->time_nano / 1000000000}, {"timeNano", e->time_nano}};
    if (!conn.write(j.dump() + "\n")) return;
  }
}

}  // namespace hvrun::api
