#include "api/docker_convert.hpp"

#include <algorithm>
#include <cstdio>

#include "engine/network.hpp"
#include "engine/records.hpp"

namespace hvrun::api {

using nlohmann::json;

namespace {

// Docker's bodies nest a few levels; a deeper document is refused while it
// is parsed (copying or freeing a deeply nested one recurses per level).
constexpr int kMaxDepth = 32;

json parse_bounded(const std::string& text, const char* what) {
  const json::parser_callback_t limit = [what](int depth, json::parse_event_t, json&) {
    if (depth > kMaxDepth)
      throw ApiError(400, std::string("invalid ") + what + ": nested deeper than " + std::to_string(kMaxDepth) + " levels");
    return true;
  };
  return json::parse(text, limit);
}

}  // namespace

const json& field(const json& obj, const char* name) {
  static const json kNull;
  if (!obj.is_object()) return kNull;
  auto it = obj.find(name);
  return it == obj.end() ? kNull : *it;
}

json parse_body(const std::string& body) {
  if (body.empty()) return json::object();
  try {
    json j = parse_bounded(body, "JSON body");
    if (!j.is_object()) throw ApiError(400, "invalid JSON body: expected an object");
    return j;
  } catch (const json::parse_error& e) {
    throw ApiError(400, std::string("invalid JSON body: ") + e.what());
  }
}

std::vector<std::string> strings_of(const json& j, const char* field) {
  std::vector<std::string> out;
  if (j.is_null()) return out;
  if (j.is_string()) return {j.get<std::string>()};
  if (!j.is_array()) throw ApiError(400, std::string("invalid ") + field + ": expected an array of strings");
  for (const auto& v : j) {
    if (!v.is_string()) throw ApiError(400, std::string("invalid ") + field + ": expected an array of strings");
    out.push_back(v.get<std::string>());
  }
  return out;
}

std::map<std::string, std::string> labels_of(const json& obj, const char* field) {
  std::map<std::string, std::string> out;
  auto it = obj.find(field);
  if (it == obj.end() || it->is_null()) return out;
  auto bad = [&] { return ApiError(400, std::string("invalid ") + field + ": expected an object of strings"); };
  if (!it->is_object()) throw bad();
  for (const auto& [k, v] : it->items()) {
    if (!v.is_string() || k.empty()) throw bad();
    out[k] = v.get<std::string>();
  }
  return out;
}

std::string string_of(const json& obj, const char* field) {
  auto it = obj.find(field);
  if (it == obj.end() || it->is_null()) return "";
  if (!it->is_string()) throw ApiError(400, std::string("invalid ") + field + ": expected a string");
  return it->get<std::string>();
}

bool bool_of(const json& obj, const char* field) {
  auto it = obj.find(field);
  if (it == obj.end() || it->is_null()) return false;
  if (!it->is_boolean()) throw ApiError(400, std::string("invalid ") + field + ": expected true or false");
  return it->get<bool>();
}

int64_t int_of(const json& obj, const char* field) {
  auto it = obj.find(field);
  if (it == obj.end() || it->is_null()) return 0;
  if (!it->is_number_integer()) throw ApiError(400, std::string("invalid ") + field + ": expected an integer");
  return it->get<int64_t>();
}

engine::RunOptions run_options_of(const json& body, const std::string& name, std::vector<std::string>& warnings) {
  engine::RunOptions o;
  o.name = name;
  o.image = string_of(body, "Image");
  if (o.image.empty()) throw ApiError(400, "config has no Image");
  o.command = strings_of(field(body, "Cmd"), "Cmd");
  if (auto it = body.find("Entrypoint"); it != body.end() && !it->is_null()) {
    o.entrypoint = strings_of(*it, "Entrypoint");
    if (*o.entrypoint == std::vector<std::string>{""}) o.entrypoint->clear();  // docker run --entrypoint ""
  }
  // "K" alone would take the server's own value: the client resolves those.
  for (const auto& e : strings_of(field(body, "Env"), "Env"))
    if (e.find('=') != std::string::npos) o.env.push_back(e);
  if (std::string w = string_of(body, "WorkingDir"); !w.empty()) o.workdir = w;
  if (std::string u = string_of(body, "User"); !u.empty()) o.user = u;
  o.hostname = string_of(body, "Hostname");
  o.tty = bool_of(body, "Tty");
  o.stop_signal = string_of(body, "StopSignal");
  if (auto it = body.find("StopTimeout"); it != body.end() && !it->is_null()) {
    const int64_t t = int_of(body, "StopTimeout");
    if (t < 0 || t > engine::kMaxStopTimeout)
      throw ApiError(400, "invalid StopTimeout " + std::to_string(t) + ": must be 0 to " +
                              std::to_string(engine::kMaxStopTimeout) + " seconds");
    o.stop_timeout = static_cast<int>(t);
  }
  o.interactive = bool_of(body, "OpenStdin");
  for (const auto& [k, v] : labels_of(body, "Labels")) o.labels.push_back(k + "=" + v);
  static const json kEmpty = json::object();
  const json& hc = field(body, "HostConfig").is_null() ? kEmpty : field(body, "HostConfig");
  if (!hc.is_object()) throw ApiError(400, "invalid HostConfig: expected an object");
  const std::string runtime = string_of(hc, "Runtime");
  if (runtime == "vm") o.mode = engine::Mode::Vm;
  else if (runtime.empty() || runtime == "container" || runtime == "runc") o.mode = engine::Mode::Container;
  else throw ApiError(400, "unknown runtime \"" + runtime + "\": hvrun has container and vm");
  o.volumes = strings_of(field(hc, "Binds"), "Binds");
  // Config.Volumes (docker run -v /path): anonymous volumes, unless a Bind
  // goes to the same path.
  if (auto it = body.find("Volumes"); it != body.end() && !it->is_null()) {
    if (!it->is_object()) throw ApiError(400, "invalid Volumes: expected an object of paths");
    for (const auto& item : it->items()) {
      const std::string path = item.key();  // (not a structured binding: clang 14 cannot capture one)
      if (path.empty() || path[0] != '/') throw ApiError(400, "invalid Volumes: \"" + path + "\" is not an absolute path");
      const bool bound = std::any_of(o.volumes.begin(), o.volumes.end(), [&](const std::string& b) {
        const size_t c = b.find(':');
        return c != std::string::npos && b.substr(c + 1, b.find(':', c + 1) - c - 1) == path;
      });
      if (!bound) o.volumes.push_back(path);
    }
  }
  o.auto_remove = bool_of(hc, "AutoRemove");
  o.privileged = bool_of(hc, "Privileged");
  o.userns = string_of(hc, "UsernsMode");
  for (auto [field, slot] : {std::pair{"PidMode", &o.pid}, {"IpcMode", &o.ipc}})
    if (std::string v = string_of(hc, field); v == "host") *slot = v;
  o.read_only = bool_of(hc, "ReadonlyRootfs");
  o.cap_add = strings_of(field(hc, "CapAdd"), "CapAdd");
  o.cap_drop = strings_of(field(hc, "CapDrop"), "CapDrop");
  o.security_opts = strings_of(field(hc, "SecurityOpt"), "SecurityOpt");
  if (int64_t m = int_of(hc, "Memory"); m > 0) o.memory = std::to_string(m);
  if (int64_t n = int_of(hc, "NanoCpus"); n > 0) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.9g", static_cast<double>(n) / 1e9);
    o.cpus = buf;
  }
  if (int64_t p = int_of(hc, "PidsLimit"); p > 0) o.pids_limit = std::to_string(p);
  const std::string net = string_of(hc, "NetworkMode");
  if (!net.empty() && net != "default") o.net = net;
  o.init = bool_of(hc, "Init");
  o.add_hosts = strings_of(field(hc, "ExtraHosts"), "ExtraHosts");
  o.dns = strings_of(field(hc, "Dns"), "Dns");
  o.dns_search = strings_of(field(hc, "DnsSearch"), "DnsSearch");
  o.dns_options = strings_of(field(hc, "DnsOptions"), "DnsOptions");
  // Asked for and not done: said in the create's Warnings (the docker CLI
  // prints them), never silently dropped.
  if (auto it = hc.find("Mounts"); it != hc.end() && !it->is_null()) {
    if (!it->is_array()) throw ApiError(400, "invalid Mounts: expected an array");
    for (const auto& mt : *it) {
      if (!mt.is_object()) throw ApiError(400, "invalid Mounts: expected objects");
      std::string type = string_of(mt, "Type");
      std::string s = "type=" + (type.empty() ? std::string("volume") : type) + ",target=" + string_of(mt, "Target");
      if (std::string src = string_of(mt, "Source"); !src.empty()) s += ",source=" + src;
      if (bool_of(mt, "ReadOnly")) s += ",readonly";
      if (auto t = mt.find("TmpfsOptions"); t != mt.end() && t->is_object()) {
        if (int64_t size = int_of(*t, "SizeBytes"); size > 0) s += ",tmpfs-size=" + std::to_string(size);
        if (int64_t mode = int_of(*t, "Mode"); mode > 0) {
          char buf[16];
          std::snprintf(buf, sizeof buf, "%o", static_cast<unsigned>(mode));
          s += std::string(",tmpfs-mode=") + buf;
        }
      }
      if (auto b = mt.find("BindOptions"); b != mt.end() && b->is_object())
        if (std::string p = string_of(*b, "Propagation"); !p.empty()) s += ",bind-propagation=" + p;
      o.mounts.push_back(s);
    }
  }
  for (const char* f : {"Devices", "Sysctls", "DeviceRequests"}) {
    auto it = hc.find(f);
    if (it != hc.end() && !it->is_null() && !it->empty()) warnings.push_back(std::string(f) + " is not supported by hvrun yet: ignored");
  }
  for (const char* f : {"PidMode", "IpcMode", "UTSMode", "CgroupnsMode", "UsernsMode"})
    if (std::string v = string_of(hc, f); !v.empty() && v != "private" && v != "default" && v != "shareable" &&
                                          !(v == "host" && (std::string(f) == "PidMode" || std::string(f) == "IpcMode")))
      warnings.push_back(std::string(f) + " \"" + v + "\" is not supported by hvrun yet: ignored");
  o.publish_all = bool_of(hc, "PublishAllPorts");
  if (auto rp = hc.find("RestartPolicy"); rp != hc.end() && !rp->is_null()) {
    if (!rp->is_object()) throw ApiError(400, "invalid RestartPolicy: expected an object");
    const std::string name = string_of(*rp, "Name");
    const int64_t max = int_of(*rp, "MaximumRetryCount");
    if (!name.empty()) o.restart = name + (name == "on-failure" && max > 0 ? ":" + std::to_string(max) : "");
  }
  // An object, an array or nothing: anything else is the client's mistake.
  auto shaped = [&](const char* field, bool object) {
    auto it = hc.find(field);
    if (it == hc.end() || it->is_null()) return false;
    if (object ? !it->is_object() : !it->is_array())
      throw ApiError(400, std::string("invalid ") + field + (object ? ": expected an object" : ": expected an array"));
    return true;
  };
  if (shaped("Tmpfs", true))
    for (const auto& [path, opts] : hc["Tmpfs"].items()) {
      if (!opts.is_string()) throw ApiError(400, "invalid Tmpfs for " + path + ": expected a string of options");
      o.tmpfs.push_back(path + (opts.get<std::string>().empty() ? "" : ":" + opts.get<std::string>()));
    }
  if (shaped("Ulimits", false))
    for (const auto& u : hc["Ulimits"]) {
      if (!u.is_object()) throw ApiError(400, "invalid Ulimits: expected objects");
      o.ulimits.push_back(string_of(u, "Name") + "=" + std::to_string(int_of(u, "Soft")) + ":" +
                          std::to_string(int_of(u, "Hard")));
    }
  if (shaped("PortBindings", true))
    for (const auto& [port, binds] : hc["PortBindings"].items()) {
      if (!binds.is_array()) throw ApiError(400, "invalid PortBindings for " + port);
      for (const auto& b : binds) {
        if (!b.is_object()) throw ApiError(400, "invalid PortBindings for " + port);
        const std::string ip = string_of(b, "HostIp"), hport = string_of(b, "HostPort");
        // No host port: a free one, picked when the container is made.
        o.publish.push_back((ip.empty() ? "" : ip + ":") + (hport.empty() ? "0" : hport) + ":" + port);
      }
    }
  return o;
}

json port_map(const std::vector<std::string>& publish) {
  json m = json::object();
  for (const auto& p : engine::parse_ports(publish)) {
    m[std::to_string(p.port) + "/" + p.proto].push_back(
        {{"HostIp", p.host_ip.empty() ? "0.0.0.0" : p.host_ip}, {"HostPort", std::to_string(p.host_port)}});
  }
  return m;
}

std::map<std::string, std::vector<std::string>> parse_filters(const std::string& s) {
  std::map<std::string, std::vector<std::string>> out;
  if (s.empty()) return out;
  json j;
  try {
    j = parse_bounded(s, "filters");
  } catch (const json::parse_error& e) {
    throw ApiError(400, std::string("invalid filters: ") + e.what());
  }
  if (!j.is_object()) throw ApiError(400, "invalid filters: expected an object");
  for (const auto& [k, v] : j.items()) {
    if (v.is_array()) {
      for (const auto& x : v)
        if (x.is_string()) out[k].push_back(x.get<std::string>());
    } else if (v.is_object()) {
      for (const auto& [x, on] : v.items())
        if (on.is_boolean() && on.get<bool>()) out[k].push_back(x);
    } else {
      throw ApiError(400, "invalid filter \"" + k + "\"");
    }
  }
  return out;
}

std::string frame(engine::Stream s, const std::string& data) {
  std::string f(8, '\0');
  f[0] = s == engine::Stream::Stderr ? 2 : 1;
  const uint32_t n = static_cast<uint32_t>(data.size());
  f[4] = static_cast<char>(n >> 24);
  f[5] = static_cast<char>(n >> 16);
  f[6] = static_cast<char>(n >> 8);
  f[7] = static_cast<char>(n);
  return f + data;
}

}  // namespace hvrun::api
