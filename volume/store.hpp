// Named volumes on disk, shared by every hvrun process:
//   ROOT/volumes/.lock              flock: held while volumes are made or removed
//   ROOT/volumes/.use.lock          flock: shared while a container that names
//                                   volumes is made, exclusive while a volume
//                                   is checked for users and removed
//   ROOT/volumes/<name>/volume.json Volume
//   ROOT/volumes/<name>/_data       what a container sees (Docker's layout)
// A volume is a plain directory that outlives its containers; the engine
// binds `_data` where a container asks (in a microVM: a 9p share), and
// refuses to remove one that a container record still names.
#pragma once
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "util/lock.hpp"

namespace hvrun::volume {

struct Volume {
  std::string name;
  std::string created;  // RFC 3339
  std::map<std::string, std::string> labels;
  uint32_t owner_uid = 0;  // who made it (an API tenant sees and uses only its own; root all)
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(Volume, name, created, labels, owner_uid)

// Docker's volume names: [a-zA-Z0-9][a-zA-Z0-9_.-]+ (2 to 255 characters
// here: "a" alone would read as a path's drive letter to Docker's CLI).
bool valid_volume_name(const std::string& name);

class VolumeStore {
 public:
  explicit VolumeStore(const std::string& store_root);

  // Makes it, or returns the one of that name (Docker's create is
  // idempotent). Throws on a bad name, and when `owner_uid` (not root) is
  // not the existing one's owner: "volume NAME belongs to another user".
  // `made`, when given, says whether it was made now.
  Volume ensure(const std::string& name, uint32_t owner_uid, const std::map<std::string, std::string>& labels = {},
                bool* made = nullptr);
  // Throws "no such volume: NAME".
  Volume get(const std::string& name) const;
  std::optional<Volume> find(const std::string& name) const;
  std::vector<Volume> list() const;  // by name
  // The volume's own directory (volume.json, _data, a copy-up's scratch).
  std::string dir(const std::string& name) const { return base_ + "/" + name; }
  // The directory a container mounts.
  std::string data_path(const std::string& name) const { return dir(name) + "/_data"; }
  // Removes it and its data. The caller checks that nothing uses it.
  void remove(const std::string& name);
  // Bytes of its data (st_blocks), for system df and prune.
  uint64_t size(const std::string& name) const;
  // As `docker volume inspect` shows it (hvrun volume inspect, the API).
  nlohmann::json describe(const Volume& v) const;
  // The use lock (the store's directory made when missing): see above.
  FileLock use_lock(FileLock::Mode mode) const;

 private:
  std::string base_;
};

}  // namespace hvrun::volume
