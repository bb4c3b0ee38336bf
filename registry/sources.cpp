#include "registry/sources.hpp"

#include <nlohmann/json.hpp>

#include "util/fs.hpp"
#include "util/lock.hpp"

namespace hvrun::registry {

using json = nlohmann::json;

namespace {

constexpr size_t kMaxPerBlob = 8;

std::string dir_of(const image::Store& s) { return s.root() + "/registry"; }

json load(const std::string& path) {
  try {
    if (path_exists(path)) {
      json j = json::parse(read_file(path));
      if (j.is_object()) return j;
    }
  } catch (const std::exception&) {
    // A damaged hint file only costs mounts: start afresh.
  }
  return json::object();
}

}  // namespace

std::vector<std::string> blob_sources(const image::Store& s, const std::string& host, const std::string& hex) {
  json j = load(dir_of(s) + "/sources.json");
  std::vector<std::string> out;
  if (!j.contains(hex) || !j[hex].is_array()) return out;
  for (auto& v : j[hex]) {
    if (!v.is_string()) continue;
    std::string hr = v.get<std::string>();
    if (hr.rfind(host + "/", 0) == 0) out.push_back(hr.substr(host.size() + 1));
  }
  return out;
}

void note_sources(const image::Store& s, const std::string& host, const std::string& repo,
                  const std::vector<std::string>& hexes) {
  try {
    std::string d = dir_of(s);
    mkdir_p(d, 0700);
    FileLock lock(d + "/sources.lock", FileLock::Mode::Exclusive);
    json j = load(d + "/sources.json");
    std::string hr = host + "/" + repo;
    for (auto& h : hexes) {
      json list = json::array({hr});
      if (j.contains(h) && j[h].is_array())
        for (auto& v : j[h])
          if (v.is_string() && v != hr && list.size() < kMaxPerBlob) list.push_back(v);
      j[h] = list;
    }
    write_file_atomic(d + "/sources.json", j.dump() + "\n", 0600);
  } catch (const std::exception&) {
    // Only a hint for later pushes.
  }
}

}  // namespace hvrun::registry
