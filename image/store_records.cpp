#include "image/store_records.hpp"

#include <stdio.h>

#include <cerrno>

#include "image/oci.hpp"
#include "image/reference.hpp"
#include "image/staging.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

namespace hvrun::image {

using json = nlohmann::json;

std::map<std::string, std::string> load_repos(const Store& s) {
  std::string p = s.root() + "/repositories.json";
  std::map<std::string, std::string> out;
  if (!path_exists(p)) return out;
  json j = parse_json(read_file(p), p);
  if (!j.is_object()) throw Error(p + ": corrupt (not a JSON object)");
  for (auto& [k, v] : j.items()) {
    if (!v.is_string()) continue;
    std::string name = k;
    try {
      name = normalize_ref(k);
    } catch (const Error&) {
    }
    if (name == k || !out.count(name)) out[name] = v.get<std::string>();
  }
  return out;
}

void save_repos(const Store& s, const std::map<std::string, std::string>& repos) {
  write_file_atomic(s.root() + "/repositories.json", json(repos).dump(2) + "\n");
}

ImageRecord load_record(const Store& s, const std::string& id, const std::map<std::string, std::string>& repos) {
  std::string p = s.image_dir(id) + "/image.json";
  ImageRecord r;
  try {
    r = parse_json(read_file(p), p).get<ImageRecord>();
  } catch (const json::exception& e) {
    throw Error(p + ": corrupt image record (" + std::string(e.what()) + ")");
  }
  r.id = id;
  r.tags.clear();
  for (auto& [tag, tid] : repos)
    if (tid == id) r.tags.push_back(tag);
  return r;
}

std::set<std::string> used_layers(const Store& s) {
  std::set<std::string> used;
  for (auto& id : list_dir(s.root() + "/images")) {
    try {
      auto r = parse_json(read_file(s.image_dir(id) + "/image.json"), id).get<ImageRecord>();
      used.insert(r.layers.begin(), r.layers.end());
    } catch (const std::exception&) {
    }
  }
  return used;
}

void discard(const Store& s, const std::string& path) {
  std::string t = s.tmp_dir() + "/gc-" + random_hex(6);
  if (::rename(path.c_str(), t.c_str()) < 0) {
    if (errno == ENOENT) return;
    throw_sys("rename", path);
  }
  remove_all(t);
}

void tidy(const Store& s) {
  if (!clean_stale_tmp(s)) return;
  auto used = used_layers(s);
  for (auto& l : list_dir(s.root() + "/layers"))
    if (!used.count(l)) discard(s, s.layer_dir(l));
}

}  // namespace hvrun::image
