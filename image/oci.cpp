#include "image/oci.hpp"

#include <unistd.h>

#include <cerrno>

#include "image/digest.hpp"
#include "util/error.hpp"

namespace hvrun::image {

using json = nlohmann::json;

std::string host_arch() {
#if defined(__x86_64__)
  return "amd64";
#elif defined(__aarch64__)
  return "arm64";
#else
  return "";
#endif
}

std::string short_id(const std::string& id) { return id.substr(0, 12); }

std::string strip_sha(const std::string& s) { return s.rfind("sha256:", 0) == 0 ? s.substr(7) : s; }

std::string digest_hex(const json& desc, const std::string& what) {
  std::string d = desc.is_object() && desc.contains("digest") && desc["digest"].is_string() ? desc["digest"].get<std::string>()
                                                                                               : "";
  if (d.rfind("sha256:", 0) != 0 || !is_hex64(d.substr(7)))
    throw Error(what + ": missing or unsupported digest '" + d + "' (only sha256 is supported)");
  return d.substr(7);
}

json parse_json(const std::string& text, const std::string& what) {
  try {
    return json::parse(text);
  } catch (const json::exception& e) {
    throw Error(what + ": malformed JSON (" + std::string(e.what()) + ")");
  }
}

std::string read_fd_all(int fd, const std::string& name, size_t limit) {
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw_sys("read", name);
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > limit) throw Error(name + ": too large for a JSON document");
  }
  return out;
}

namespace {

std::vector<std::string> strings_or_empty(const json& j, const char* key) {
  std::vector<std::string> out;
  if (!j.contains(key) || !j[key].is_array()) return out;
  for (auto& v : j[key])
    if (v.is_string()) out.push_back(v.get<std::string>());
  return out;
}

}  // namespace

ImageConfig config_from(const json& cfg) {
  ImageConfig c;
  if (!cfg.is_object() || !cfg.contains("config") || !cfg["config"].is_object()) return c;
  const json& k = cfg["config"];
  c.env = strings_or_empty(k, "Env");
  c.entrypoint = strings_or_empty(k, "Entrypoint");
  c.cmd = strings_or_empty(k, "Cmd");
  if (k.contains("WorkingDir") && k["WorkingDir"].is_string()) c.working_dir = k["WorkingDir"];
  if (k.contains("User") && k["User"].is_string()) c.user = k["User"];
  if (k.contains("StopSignal") && k["StopSignal"].is_string()) c.stop_signal = k["StopSignal"];
  if (k.contains("ExposedPorts") && k["ExposedPorts"].is_object())
    for (const auto& [port, _] : k["ExposedPorts"].items()) c.exposed_ports.push_back(port);
  if (k.contains("Volumes") && k["Volumes"].is_object())
    for (const auto& [path, _] : k["Volumes"].items()) c.volumes.push_back(path);
  if (k.contains("Labels") && k["Labels"].is_object())
    for (const auto& [key, v] : k["Labels"].items())
      if (v.is_string()) c.labels[key] = v.get<std::string>();
  return c;
}

std::vector<std::string> diff_ids_of(const json& cfg, const std::string& what) {
  std::vector<std::string> out;
  if (!cfg.is_object() || !cfg.contains("rootfs") || !cfg["rootfs"].is_object()) return out;
  for (auto& d : strings_or_empty(cfg["rootfs"], "diff_ids")) {
    if (d.rfind("sha256:", 0) != 0 || !is_hex64(d.substr(7))) throw Error(what + ": bad diff id '" + d + "'");
    out.push_back(d.substr(7));
  }
  return out;
}

bool is_index_type(const std::string& mt) {
  return mt == "application/vnd.oci.image.index.v1+json" ||
         mt == "application/vnd.docker.distribution.manifest.list.v2+json";
}

}  // namespace hvrun::image
