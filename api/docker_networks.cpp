// The Docker API's /networks endpoints over hvrun's networks (net/store.hpp):
// list, inspect, create, remove, prune, connect and disconnect (engine/
// network.hpp). Creating and removing are root's; a tenant may connect its
// own containers to the default network only.
#include "api/docker.hpp"

#include <nlohmann/json.hpp>

#include "api/docker_convert.hpp"
#include "api/docker_shared.hpp"
#include "engine/network.hpp"
#include "engine/records.hpp"
#include "net/store.hpp"
#include "util/error.hpp"

namespace hvrun::api {

using nlohmann::json;

namespace {

json network_json(net::NetworkStore& store, const net::Network& n, const engine::Records& rec, uint32_t uid) {
  json containers = json::object();
  for (const auto& l : store.leases(n.name)) {
    try {
      if (uid != 0 && rec.load_config(l.container).owner_uid != uid) continue;
    } catch (const Error&) {
      continue;
    }
    const std::string prefix = n.subnet.substr(n.subnet.find('/'));
    containers[l.container] = {{"Name", l.name}, {"IPv4Address", l.address + prefix}, {"MacAddress", ""},
                               {"EndpointID", ""}, {"IPv6Address", ""}};
  }
  return {{"Name", n.name}, {"Id", n.name}, {"Created", n.created}, {"Scope", "local"}, {"Driver", "bridge"},
          {"EnableIPv6", false}, {"Internal", false}, {"Attachable", false}, {"Ingress", false},
          {"IPAM", {{"Driver", "default"}, {"Options", json::object()},
                    {"Config", json::array({{{"Subnet", n.subnet}, {"Gateway", n.gateway}}})}}},
          {"Containers", containers}, {"Options", {{"com.docker.network.bridge.name", n.bridge}}},
          {"Labels", json::object()}};
}

}  // namespace

void DockerApi::networks(const Request& req, Connection& conn, const std::vector<std::string>& parts) {
  net::NetworkStore store(root_);
  engine::Records rec(root_);
  const std::string& m = req.method;
  if (parts.size() == 1 && m == "GET") {
    const auto filters = parse_filters(req.param("filters"));
    for (const auto& [k, v] : filters)
      if (k != "name") return fail(conn, 400, "invalid filter \"" + k + "\": hvrun filters networks by name");
    json out = json::array();
    for (const auto& n : store.list()) {
      if (auto f = filters.find("name"); f != filters.end()) {
        bool any = false;
        for (const auto& v : f->second) any = any || n.name.find(v) != std::string::npos;
        if (!any) continue;
      }
      out.push_back(network_json(store, n, rec, req.uid));
    }
    return conn.respond(200, kJson, out.dump());
  }
  if (parts.size() == 2 && parts[1] == "create" && m == "POST") {
    if (req.uid != 0) return fail(conn, 403, "a tenant may not create networks (the default one is every tenant's)");
    const json body = parse_body(req.body);
    const std::string name = string_of(body, "Name");
    if (name.empty()) return fail(conn, 400, "invalid network name \"\": a name is required");
    std::string subnet;
    if (auto ipam = body.find("IPAM"); ipam != body.end() && ipam->is_object()) {
      if (auto cfg = ipam->find("Config"); cfg != ipam->end() && cfg->is_array() && !cfg->empty() && (*cfg)[0].is_object())
        subnet = string_of((*cfg)[0], "Subnet");
    }
    const std::string driver = string_of(body, "Driver");
    if (!driver.empty() && driver != "bridge") return fail(conn, 400, "invalid driver \"" + driver + "\": hvrun has bridge");
    const net::Network n = store.create(name, subnet);
    return conn.respond(201, kJson, json{{"Id", n.name}, {"Warning", ""}}.dump());
  }
  if (parts.size() == 2 && parts[1] == "prune" && m == "POST") {
    if (req.uid != 0) return fail(conn, 403, "a tenant may not remove networks");
    return conn.respond(200, kJson, json{{"NetworksDeleted", store.prune()}}.dump());
  }
  if (parts.size() < 2) return fail(conn, 404, "page not found: " + m + " " + req.path);
  const std::string& name = parts[1];
  if (parts.size() == 2 && m == "GET") return conn.respond(200, kJson, network_json(store, store.get(name), rec, req.uid).dump());
  if (parts.size() == 2 && m == "DELETE") {
    if (req.uid != 0) return fail(conn, 403, "a tenant may not remove networks");
    store.remove(name);
    return conn.respond(204, "", "");
  }
  if (parts.size() == 3 && (parts[2] == "connect" || parts[2] == "disconnect") && m == "POST") {
    store.get(name);  // 404 first
    const json body = parse_body(req.body);
    const std::string id = resolve(req, string_of(body, "Container"));  // a tenant's own only
    if (req.uid != 0 && name != net::kDefaultNetwork)
      return fail(conn, 403, "a tenant may connect its containers to the default network only");
    if (parts[2] == "disconnect") {
      engine::disconnect_network(rec, id, name);
      return conn.respond(200, "", "");
    }
    std::vector<std::string> aliases;
    if (auto ec = body.find("EndpointConfig"); ec != body.end() && ec->is_object())
      if (auto al = ec->find("Aliases"); al != ec->end() && al->is_array())
        for (const auto& a : *al) {
          if (!a.is_string()) return fail(conn, 400, "invalid EndpointConfig.Aliases: strings are expected");
          aliases.push_back(a.get<std::string>());
        }
    engine::connect_network(rec, id, name, aliases);
    return conn.respond(200, "", "");
  }
  return fail(conn, 404, "page not found: " + m + " " + req.path);
}

}  // namespace hvrun::api
