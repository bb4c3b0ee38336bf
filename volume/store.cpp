#include "volume/store.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>

#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/lock.hpp"

namespace hvrun::volume {

bool valid_volume_name(const std::string& n) {
  if (n.size() < 2 || n.size() > 255 || !std::isalnum(static_cast<unsigned char>(n[0]))) return false;
  return std::all_of(n.begin(), n.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-';
  });
}

VolumeStore::VolumeStore(const std::string& store_root) : base_(store_root + "/volumes") {}

std::optional<Volume> VolumeStore::find(const std::string& name) const {
  if (!valid_volume_name(name)) return std::nullopt;
  const std::string meta = dir(name) + "/volume.json";
  if (!path_exists(meta)) return std::nullopt;
  auto j = nlohmann::json::parse(read_file(meta), nullptr, false);
  if (j.is_discarded() || !j.is_object()) throw Error("volume " + name + ": " + meta + " is not valid JSON");
  try {
    Volume v = j.get<Volume>();
    v.name = name;
    return v;
  } catch (const nlohmann::json::exception& e) {
    throw Error("volume " + name + ": " + meta + ": " + e.what());
  }
}

Volume VolumeStore::get(const std::string& name) const {
  if (auto v = find(name)) return *v;
  throw Error("no such volume: " + name);
}

Volume VolumeStore::ensure(const std::string& name, uint32_t owner_uid, const std::map<std::string, std::string>& labels,
                           bool* made) {
  if (!valid_volume_name(name))
    throw Error("invalid volume name \"" + name + "\": 2 to 255 of [a-zA-Z0-9_.-], starting with a letter or digit");
  if (made) *made = false;
  mkdir_p(base_, 0700);
  FileLock lock(base_ + "/.lock");
  if (auto v = find(name)) {
    if (owner_uid != 0 && v->owner_uid != owner_uid) throw Error("volume " + name + " belongs to another user");
    return *v;
  }
  // Made whole under a temporary name, then renamed into place: a crash
  // leaves no half-made volume under its real name.
  const std::string tmp = base_ + "/.tmp-" + name;
  remove_all(tmp);
  mkdir_p(tmp + "/_data", 0755);
  Volume v{name, now_rfc3339_nano(), labels, owner_uid};
  write_file_atomic(tmp + "/volume.json", nlohmann::json(v).dump(), 0600);
  if (::rename(tmp.c_str(), dir(name).c_str()) < 0) throw_sys("rename", tmp + " -> " + dir(name));
  if (made) *made = true;
  return v;
}

std::vector<Volume> VolumeStore::list() const {
  std::vector<Volume> out;
  for (const auto& n : list_dir(base_)) {
    try {
      if (auto v = find(n)) out.push_back(*v);
    } catch (const Error&) {
      // unreadable: left out of the list, still removable by name
    }
  }
  std::sort(out.begin(), out.end(), [](const Volume& a, const Volume& b) { return a.name < b.name; });
  return out;
}

void VolumeStore::remove(const std::string& name) {
  if (!valid_volume_name(name) || !is_dir(dir(name))) throw Error("no such volume: " + name);
  FileLock lock(base_ + "/.lock");
  // Renamed out of the way first: a reader never sees half of it.
  const std::string gone = base_ + "/.rm-" + name + "-" + random_hex(4);
  if (::rename(dir(name).c_str(), gone.c_str()) < 0) throw_sys("rename", dir(name) + " -> " + gone);
  remove_all(gone);
}

FileLock VolumeStore::use_lock(FileLock::Mode mode) const {
  mkdir_p(base_, 0700);
  return FileLock(base_ + "/.use.lock", mode);
}

uint64_t VolumeStore::size(const std::string& name) const { return disk_bytes(data_path(name)); }

nlohmann::json VolumeStore::describe(const Volume& v) const {
  return {{"Name", v.name},         {"Driver", "local"}, {"Mountpoint", data_path(v.name)},
          {"CreatedAt", v.created}, {"Labels", v.labels}, {"Scope", "local"}, {"Options", nlohmann::json::object()}};
}

}  // namespace hvrun::volume
