#include "registry/auth.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>

#include "util/error.hpp"
#include "util/fs.hpp"

namespace hvrun::registry {

using json = nlohmann::json;

namespace {

const char* kB64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string home() {
  const char* h = std::getenv("HOME");
  return h && *h ? h : "/root";
}

json read_auths(const std::string& path) {
  if (!path_exists(path)) return json::object();
  json doc;
  try {
    doc = json::parse(read_file(path));
  } catch (const json::exception& e) {
    throw Error(path + ": not valid JSON: " + e.what());
  }
  if (!doc.is_object()) throw Error(path + ": not a JSON object");
  return doc;
}

// "host", "https://host", "https://host/v1/" all name one registry.
std::string key_host(std::string k) {
  for (const char* p : {"https://", "http://"})
    if (k.rfind(p, 0) == 0) k = k.substr(std::string(p).size());
  if (auto s = k.find('/'); s != std::string::npos) k.resize(s);
  if (k == "index.docker.io" || k == "docker.io") k = "registry-1.docker.io";
  return k;
}

std::optional<Credentials> find_in(const json& doc, const std::string& host) {
  if (!doc.contains("auths") || !doc["auths"].is_object()) return std::nullopt;
  for (auto& [k, v] : doc["auths"].items()) {
    if (key_host(k) != host || !v.is_object()) continue;
    std::string a = v.value("auth", "");
    if (a.empty()) continue;
    std::string dec = base64_decode(a);
    auto c = dec.find(':');
    if (c == std::string::npos) continue;
    return Credentials{dec.substr(0, c), dec.substr(c + 1)};
  }
  return std::nullopt;
}

void write_auths(const std::string& path, const json& doc) {
  auto slash = path.rfind('/');
  if (slash != std::string::npos && slash > 0) mkdir_p(path.substr(0, slash), 0700);
  write_file_atomic(path, doc.dump(2) + "\n", 0600);
  ::chmod(path.c_str(), 0600);
}

}  // namespace

std::string auth_file_path() {
  if (const char* f = std::getenv("REGISTRY_AUTH_FILE"); f && *f) return f;
  if (const char* x = std::getenv("XDG_CONFIG_HOME"); x && *x) return std::string(x) + "/hvrun/auth.json";
  return home() + "/.config/hvrun/auth.json";
}

std::optional<Credentials> load_credentials(const std::string& host) {
  if (auto c = find_in(read_auths(auth_file_path()), host)) return c;
  if (std::getenv("REGISTRY_AUTH_FILE")) return std::nullopt;
  try {
    return find_in(read_auths(home() + "/.docker/config.json"), host);
  } catch (const Error&) {
    return std::nullopt;  // docker's file is docker's business
  }
}

void store_credentials(const std::string& host, const Credentials& c) {
  std::string path = auth_file_path();
  json doc = read_auths(path);
  if (!doc.contains("auths") || !doc["auths"].is_object()) doc["auths"] = json::object();
  doc["auths"][host] = {{"auth", base64_encode(c.user + ":" + c.password)}};
  write_auths(path, doc);
}

bool remove_credentials(const std::string& host) {
  std::string path = auth_file_path();
  json doc = read_auths(path);
  if (!doc.contains("auths") || !doc["auths"].is_object()) return false;
  bool found = false;
  for (auto it = doc["auths"].begin(); it != doc["auths"].end();) {
    if (key_host(it.key()) == host) {
      it = doc["auths"].erase(it);
      found = true;
    } else {
      ++it;
    }
  }
  if (found) write_auths(path, doc);
  return found;
}

std::string base64_encode(const std::string& in) {
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    for (int s = 18; s >= 0; s -= 6) out += kB64[(v >> s) & 63];
  }
  if (i + 1 == in.size()) {
    uint32_t v = uint8_t(in[i]) << 16;
    out += kB64[(v >> 18) & 63];
    out += kB64[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == in.size()) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8);
    out += kB64[(v >> 18) & 63];
    out += kB64[(v >> 12) & 63];
    out += kB64[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

std::string base64_decode(const std::string& in) {
  std::string out;
  uint32_t v = 0;
  int bits = 0;
  for (char c : in) {
    if (c == '=' || c == '\n' || c == '\r') continue;
    const char* p = c ? std::strchr(kB64, c) : nullptr;
    if (!p) throw Error("credentials: bad base64 in the auth file");
    v = (v << 6) | uint32_t(p - kB64);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += char((v >> bits) & 0xff);
    }
  }
  return out;
}

}  // namespace hvrun::registry
