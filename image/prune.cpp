#include "image/prune.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>

#include "image/digest.hpp"
#include "image/store_records.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/lock.hpp"

namespace hvrun::image {

namespace fs = std::filesystem;

std::set<std::string> images_in_use(const Store& s) {
  std::set<std::string> out;
  for (auto& [user, id] : image_users(s.root())) out.insert(std::move(id));
  return out;
}

namespace {

std::string vmdisk(const Store& s, const std::string& id) { return s.root() + "/vmdisks/" + id + ".ext4"; }

// Every image record, skipping unreadable ones (a record half-removed).
std::vector<ImageRecord> records(const Store& s, const std::map<std::string, std::string>& repos) {
  std::vector<ImageRecord> out;
  for (const auto& id : list_dir(s.root() + "/images")) {
    if (!is_hex64(id) || !path_exists(s.image_dir(id) + "/image.json")) continue;
    try {
      out.push_back(load_record(s, id, repos));
    } catch (const Error&) {
    }
  }
  std::sort(out.begin(), out.end(), [](const ImageRecord& a, const ImageRecord& b) { return a.id < b.id; });
  return out;
}

}  // namespace

PruneReport prune_images(const Store& s, bool all) {
  PruneReport r;
  if (!is_dir(s.root())) return r;
  mkdir_p(s.tmp_dir(), 0700);
  FileLock lock(s.lock_path(), FileLock::Mode::Exclusive);
  tidy(s);
  auto repos = load_repos(s);
  auto in_use = images_in_use(s);
  std::vector<ImageRecord> victims;
  for (auto& rec : records(s, repos))
    if (!in_use.count(rec.id) && (all || rec.tags.empty())) victims.push_back(std::move(rec));
  bool untagged = false;
  for (const auto& v : victims)
    for (const auto& t : v.tags) untagged |= repos.erase(t) > 0;
  if (untagged) save_repos(s, repos);  // names go first: a crash now leaves untagged images, never dangling names
  for (const auto& v : victims) {
    for (const auto& t : v.tags) r.lines.push_back("untagged: " + t);
    r.reclaimed += disk_bytes(s.image_dir(v.id)) + disk_bytes(vmdisk(s, v.id));
    discard(s, s.image_dir(v.id));
    ::unlink(vmdisk(s, v.id).c_str());
    ::unlink((s.root() + "/vmdisks/" + v.id + ".lock").c_str());
    r.lines.push_back("deleted: sha256:" + v.id);
  }
  auto used = used_layers(s);
  auto layers = list_dir(s.root() + "/layers");
  std::sort(layers.begin(), layers.end());
  for (const auto& l : layers) {
    if (used.count(l)) continue;
    r.reclaimed += disk_bytes(s.layer_dir(l));
    discard(s, s.layer_dir(l));
    r.lines.push_back("deleted: sha256:" + l);
  }
  return r;
}

StoreUsage store_usage(const Store& s) {
  StoreUsage u;
  if (!is_dir(s.root())) return u;
  FileLock lock(s.lock_path(), FileLock::Mode::Shared);
  auto repos = load_repos(s);
  auto in_use = images_in_use(s);
  std::set<std::string> used, used_active;
  for (const auto& rec : records(s, repos)) {
    bool active = in_use.count(rec.id) > 0;
    uint64_t b = disk_bytes(s.image_dir(rec.id)) + disk_bytes(vmdisk(s, rec.id));
    ++u.images.total;
    u.images.size += b;
    if (active) ++u.images.active;
    else u.images.reclaimable += b;
    used.insert(rec.layers.begin(), rec.layers.end());
    if (active) used_active.insert(rec.layers.begin(), rec.layers.end());
  }
  for (const auto& l : list_dir(s.root() + "/layers")) {
    uint64_t b = disk_bytes(s.layer_dir(l));
    ++u.layers.total;
    u.layers.size += b;
    if (used.count(l)) {
      ++u.layers.active;
      u.images.size += b;
      if (!used_active.count(l)) u.images.reclaimable += b;
    } else {
      u.layers.reclaimable += b;
    }
  }
  return u;
}

}  // namespace hvrun::image
