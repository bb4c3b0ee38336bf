// The Docker API's /volumes endpoints over hvrun's named volumes
// (volume/store.hpp, engine/volumes.hpp): list, inspect, create, remove,
// prune. A tenant sees, uses and removes only the volumes it made.
#include "api/docker.hpp"

#include <nlohmann/json.hpp>

#include "api/docker_convert.hpp"
#include "api/docker_shared.hpp"
#include "engine/volumes.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "volume/store.hpp"

namespace hvrun::api {

using nlohmann::json;

void DockerApi::volumes(const Request& req, Connection& conn, const std::vector<std::string>& parts) {
  volume::VolumeStore store(root_);
  const std::string& m = req.method;
  auto mine = [&](const volume::Volume& v) { return req.uid == 0 || v.owner_uid == req.uid; };
  if (parts.size() == 1 && m == "GET") {
    const auto filters = parse_filters(req.param("filters"));
    for (const auto& [k, v] : filters)
      if (k != "name") return fail(conn, 400, "invalid filter \"" + k + "\": hvrun filters volumes by name");
    json out = json::array();
    for (const auto& v : store.list()) {
      if (!mine(v)) continue;
      if (auto f = filters.find("name"); f != filters.end()) {
        bool any = false;
        for (const auto& n : f->second) any = any || v.name.find(n) != std::string::npos;
        if (!any) continue;
      }
      out.push_back(store.describe(v));
    }
    return conn.respond(200, kJson, json{{"Volumes", out}, {"Warnings", json::array()}}.dump());
  }
  if (parts.size() == 2 && parts[1] == "create" && m == "POST") {
    const json body = parse_body(req.body);
    std::string name = string_of(body, "Name");
    if (name.empty()) name = random_hex(32);
    const std::string driver = string_of(body, "Driver");
    if (!driver.empty() && driver != "local") return fail(conn, 400, "invalid driver \"" + driver + "\": hvrun has local");
    if (auto o = body.find("DriverOpts"); o != body.end() && o->is_object() && !o->empty())
      return fail(conn, 400, "invalid DriverOpts: hvrun's local volumes take none");
    const std::map<std::string, std::string> labels = labels_of(body, "Labels");
    if (!volume::valid_volume_name(name))
      return fail(conn, 400, "invalid volume name \"" + name + "\": 2 to 255 of [a-zA-Z0-9_.-], starting with a letter or digit");
    try {
      return conn.respond(201, kJson, store.describe(store.ensure(name, req.uid, labels)).dump());
    } catch (const Error& e) {
      return fail(conn, 409, e.what());  // another tenant's
    }
  }
  if (parts.size() == 2 && parts[1] == "prune" && m == "POST") {
    const auto r = engine::prune_volumes(root_, req.uid);
    return conn.respond(200, kJson, json{{"VolumesDeleted", r.removed}, {"SpaceReclaimed", r.reclaimed}}.dump());
  }
  if (parts.size() != 2) return fail(conn, 404, "page not found: " + m + " " + req.path);
  const std::string& name = parts[1];
  const auto v = store.find(name);
  if (!v || !mine(*v)) return fail(conn, 404, "no such volume: " + name);
  if (m == "GET") return conn.respond(200, kJson, store.describe(*v).dump());
  if (m == "DELETE") {
    try {
      engine::remove_volume(root_, name, req.uid);
    } catch (const Error& e) {
      const std::string what = e.what();
      return fail(conn, what.find("in use") != std::string::npos ? 409 : 500, what);
    }
    return conn.respond(204, "", "");
  }
  return fail(conn, 404, "page not found: " + m + " " + req.path);
}

}  // namespace hvrun::api
