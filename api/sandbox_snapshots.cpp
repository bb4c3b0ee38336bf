// Sandbox snapshots (/hvrun/v1/...), over engine/snapshots.hpp:
//   POST sandboxes/ID/snapshot {"name", "leave_running"}  saves a microVM
//        sandbox (memory, vCPUs, devices, disk); it stops unless leave_running
//   POST sandboxes/ID/clone {"name", "ttl_seconds"}        a snapshot taken
//        while it runs on (once per run), restored at once as a new sandbox
//   POST sandboxes {"snapshot", "name", "ttl_seconds"}     a new sandbox that
//        goes on from a snapshot (any number: clones)
//   GET snapshots, GET/DELETE snapshots/NAME               the caller's own
// A tenant sees, restores and removes only the snapshots of its own
// sandboxes; a restore counts against its quotas as a create does.
#include <mutex>
#include <nlohmann/json.hpp>

#include "api/docker.hpp"
#include "api/docker_convert.hpp"
#include "api/docker_shared.hpp"
#include "api/sandbox.hpp"
#include "engine/options.hpp"
#include "engine/records.hpp"
#include "engine/snapshots.hpp"
#include "util/error.hpp"

namespace hvrun::api {

using nlohmann::json;

namespace {

json snapshot_json(const engine::SnapshotInfo& s) {
  return {{"name", s.name},
          {"created", s.created},
          {"sandbox", s.container_name.empty() ? s.container_id : s.container_name},
          {"image", s.image},
          {"memory_bytes", s.memory_file_bytes},
          {"host_bytes", s.host_bytes}};
}

// The snapshot, when the caller may use it (its own, or root): else "no such snapshot".
engine::SnapshotInfo own_snapshot(const std::string& root, const Request& req, const std::string& name) {
  engine::SnapshotInfo s = engine::load_snapshot(root, name);
  if (req.uid != 0 && s.config.owner_uid != req.uid) throw ApiError(404, "no such snapshot: " + name);
  return s;
}

// The first line of `out` that is a container id (64 hex digits).
std::string id_in(const std::string& out) {
  size_t i = 0;
  for (size_t nl; i < out.size(); i = nl + 1) {
    nl = out.find('\n', i);
    if (nl == std::string::npos) nl = out.size();
    const std::string line = out.substr(i, nl - i);
    if (line.size() == 64 && line.find_first_not_of("0123456789abcdef") == std::string::npos) return line;
  }
  return "";
}

}  // namespace

void DockerApi::sandbox_snapshot(const Request& req, Connection& conn, const std::string& id, bool clone) {
  const json body = parse_body(req.body);
  engine::Records rec(root_);
  const engine::ContainerConfig c = rec.load_config(id);
  if (c.mode != engine::Mode::Vm)
    return fail(conn, 409, "sandbox " + c.name + " is a container: only a microVM sandbox (\"mode\": \"vm\") has a snapshot");
  // A clone's snapshot gets the engine's name (SANDBOX-N): the one asked for is the new sandbox's.
  const engine::SnapshotInfo s =
      engine::create_snapshot(root_, id, clone ? "" : string_of(body, "name"), clone || bool_of(body, "leave_running"));
  if (!clone) return conn.respond(201, kJson, snapshot_json(s).dump());
  return sandbox_restore(req, conn, s.name, string_of(body, "name"), ttl_of(body));
}

void DockerApi::sandbox_restore(const Request& req, Connection& conn, const std::string& snapshot, const std::string& name,
                                int64_t ttl) {
  const engine::SnapshotInfo s = own_snapshot(root_, req, snapshot);
  std::unique_lock<std::mutex> quota(tenant_mu_, std::defer_lock);
  if (req.uid != 0) {
    quota.lock();
    engine::RunOptions o;
    o.owner_uid = req.uid;
    o.net = "none";
    if (s.config.spec.memory_bytes > 0) o.memory = std::to_string(s.config.spec.memory_bytes);
    check_tenant(o);
  }
  std::vector<std::string> args = {"--root", root_, "snapshot", "restore", "-d", snapshot};
  if (!name.empty()) args.insert(args.end(), {"--name", name});
  std::string out;
  if (run_hvrun(exe_, args, &out, true) != 0) {
    const std::string why = last_error_line(out);
    return fail(conn, status_for(why), why);
  }
  const std::string id = id_in(out);
  if (id.empty()) return fail(conn, 500, "the restore printed no container id: " + last_error_line(out));
  // A sandbox of its own: the label, and an expiry counted from now.
  engine::Records rec(root_);
  engine::ContainerConfig c = rec.load_config(id);
  c.labels[kSandboxLabel] = "1";
  c.labels[kExpiresLabel] = std::to_string(ttl ? now_s() + ttl : 0);
  rec.save_config(c);
  json j = sandbox_json(c, rec.refresh(id));
  j["snapshot"] = snapshot;
  conn.respond(201, kJson, j.dump());
}

void DockerApi::snapshots(const Request& req, Connection& conn, const std::vector<std::string>& parts) {
  // parts: hvrun v1 snapshots [NAME]
  const std::string& m = req.method;
  if (parts.size() == 3 && m == "GET") {
    json out = json::array();
    for (const auto& s : engine::list_snapshots(root_))
      if (req.uid == 0 || s.config.owner_uid == req.uid) out.push_back(snapshot_json(s));
    return conn.respond(200, kJson, out.dump());
  }
  if (parts.size() != 4) return fail(conn, 404, "page not found: " + m + " " + req.path);
  const engine::SnapshotInfo s = own_snapshot(root_, req, parts[3]);
  if (m == "GET") return conn.respond(200, kJson, snapshot_json(s).dump());
  if (m == "DELETE") {
    engine::remove_snapshot(root_, s.name);
    return conn.respond(204, "", "");
  }
  return fail(conn, 404, "page not found: " + m + " " + req.path);
}

}  // namespace hvrun::api
