#include "builder/cache.hpp"

#include "image/digest.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

namespace hvrun::builder {

std::string cache_key(const std::string& parent_id, const std::vector<std::string>& parts) {
  std::string s = "hvrun-build-cache-v1\nparent " + parent_id + "\n";
  for (const auto& p : parts) s += std::to_string(p.size()) + ":" + p + "\n";  // length-prefixed: no ambiguity
  return image::sha256_hex(s);
}

BuildCache::BuildCache(const image::Store& store) : store_(store), dir_(store.root() + "/build-cache") {}

std::optional<std::string> BuildCache::lookup(const std::string& key) const {
  const std::string p = dir_ + "/" + key;
  if (!path_exists(p)) return std::nullopt;
  std::string id;
  try {
    id = read_file(p);
  } catch (const Error&) {
    return std::nullopt;
  }
  while (!id.empty() && (id.back() == '\n' || id.back() == ' ')) id.pop_back();
  if (!image::is_hex64(id)) return std::nullopt;
  try {
    return store_.resolve(id).id;
  } catch (const Error&) {
    return std::nullopt;  // the image was removed since
  }
}

std::set<std::string> BuildCache::image_ids() const {
  std::set<std::string> ids;
  if (!is_dir(dir_)) return ids;
  for (const auto& k : list_dir(dir_)) {
    try {
      std::string id = read_file(dir_ + "/" + k);
      while (!id.empty() && id.back() == '\n') id.pop_back();
      if (image::is_hex64(id)) ids.insert(id);
    } catch (const Error&) {
    }
  }
  return ids;
}

void BuildCache::record(const std::string& key, const std::string& image_id) const {
  mkdir_p(dir_, 0700);
  write_file_atomic(dir_ + "/" + key, image_id + "\n", 0600);
}

}  // namespace hvrun::builder
