// Named volumes as containers use them: a container's `-v NAME:/path` and
// `--mount type=volume` are resolved to the volume's directory when the
// container is made (the volume made when new, Docker's), and a volume a
// container record still names is never removed.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "engine/records.hpp"
#include "util/lock.hpp"

namespace hvrun::engine {

// The label that marks an anonymous volume (Docker's): one made for a
// container's `-v /path`, `--mount type=volume` without a source, or its
// image's VOLUME, under a random 64-hex name.
inline constexpr const char* kAnonymousVolumeLabel = "com.docker.volume.anonymous";

// Every mount of cfg.spec whose source is a volume name (not a path): the
// volume made if new (owned by cfg.owner_uid; a tenant may use only its
// own) and, while empty, filled with what the image holds at the mount's
// target (Docker's copy-up), its name added to cfg.volumes and the source
// replaced by its directory. A mount without a source, and each of
// `image_volumes` (the image's VOLUMEs) that no mount or tmpfs of cfg.spec
// covers, gets a new anonymous volume. Throws a one-line reason (and then
// leaves no anonymous volume behind).
// The returned lock (the volume store's use lock, shared; none when the
// container names no volume) is the caller's to hold until its record
// names them (Records::create): a `volume rm` or prune in between would
// find no user and remove one.
[[nodiscard]] std::optional<FileLock> resolve_named_volumes(const std::string& store_root, ContainerConfig& cfg,
                                             const std::vector<std::string>& image_volumes = {});

// Removes the anonymous volumes among cfg.volumes that no container names
// any more (Docker's `rm -v`, and the end of a --rm container). Named ones
// stay. Failures are logged, not thrown: the container is gone already.
void remove_anonymous_volumes(const std::string& store_root, const ContainerConfig& cfg);

// The end of a container: its record goes (Records::remove, freeing `name`,
// the name it has now), then, with `anonymous_volumes` (rm -v, --rm), the
// anonymous volumes no other record names.
void remove_record_and_volumes(const Records& rec, const ContainerConfig& cfg, const std::string& name,
                               bool anonymous_volumes);

// Ids of the containers (any state) that name the volume.
std::vector<std::string> volume_users(const Records& rec, const std::string& name);

// Removes a volume. Refused ("volume NAME is in use by container ID") while
// a container names it, and, for `owner_uid` other than root, when it is
// not that user's.
void remove_volume(const std::string& store_root, const std::string& name, uint32_t owner_uid = 0);

struct VolumePruneReport {
  std::vector<std::string> removed;
  uint64_t reclaimed = 0;  // bytes
};
// Removes every volume no container names (for a non-root `owner_uid`: of
// its own only).
VolumePruneReport prune_volumes(const std::string& store_root, uint32_t owner_uid = 0);

}  // namespace hvrun::engine
