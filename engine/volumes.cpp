#include "engine/volumes.hpp"

#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include "container/namespaces.hpp"
#include "engine/changes.hpp"
#include "image/layer.hpp"
#include "util/child.hpp"
#include "util/error.hpp"
#include "util/fd.hpp"
#include "util/fs.hpp"
#include "util/log.hpp"
#include "volume/store.hpp"

namespace hvrun::engine {

namespace {

// Docker's copy-up: a volume made for this container gets what the image
// holds at the mount's target (a directory: its contents, owners, modes).
// The image's layers are mounted as one read-only overlay in a private
// mount namespace; the target is resolved inside it (an image's symlink
// cannot lead out), packed as a tar into a scratch file and unpacked into
// the volume by the hardened layer extractor.
void copy_up(const ContainerConfig& cfg, const std::string& target, const std::string& volume_dir,
             const std::string& data_dir) {
  const auto& lowers = cfg.spec.lowerdirs;
  if (lowers.empty()) return;
  // Lexically split; resolved in the image's root below.
  const auto split = split_container_path(target);
  if (split.second == ".") return;  // the root itself
  const std::string parent = split.first == "/" ? "." : split.first.substr(1);
  const std::string& base = split.second;
  // One layer is its own merged view; more are mounted as a read-only overlay.
  std::string opts = "lowerdir=";
  for (size_t i = 0; i < lowers.size(); ++i) opts += (i ? ":" : "") + lowers[i];
  if (opts.size() > 4000) return;  // too many layers to mount at once: the volume stays empty
  const std::string scratch = volume_dir + "/.copy-up";
  mkdir_p(scratch + "/mnt", 0700);
  UniqueFd tar(::open(scratch.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600));
  if (!tar) throw_sys("open a scratch file in", scratch);
  bool have = false;
  // The image directory's own mode and owners, from the child (the volume's root gets them, as Docker's).
  Pipe root_attrs = Pipe::make();
  try {
    run_in_child(
        [&] {
          if (::unshare(CLONE_NEWNS) < 0) throw_sys("unshare(CLONE_NEWNS)");
          if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) < 0) throw_sys("make / private");
          std::string mnt = scratch + "/mnt";
          if (lowers.size() == 1) mnt = lowers[0];
          else if (::mount("overlay", mnt.c_str(), "overlay", MS_RDONLY, opts.c_str()) < 0)
            throw_sys("mount the layers of image " + cfg.image + " at", mnt);
          UniqueFd root(::open(mnt.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
          UniqueFd dir = image::open_in_root(root.get(), parent, O_RDONLY | O_DIRECTORY);
          struct stat st;
          if (!dir || ::fstatat(dir.get(), base.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode)) return;
          // Entries "./..." for the extraction below, rooted at _data itself.
          image::write_entry_tar(dir.get(), base, tar.get(), ".");
          const uint32_t attrs[3] = {st.st_mode & 07777, st.st_uid, st.st_gid};
          write_all(root_attrs.write.get(), attrs, sizeof attrs);
        },
        "the copy-up into a new volume");
    have = ::lseek(tar.get(), 0, SEEK_END) > 0;
  } catch (...) {
    ::rmdir((scratch + "/mnt").c_str());
    ::rmdir(scratch.c_str());
    throw;
  }
  ::rmdir((scratch + "/mnt").c_str());
  ::rmdir(scratch.c_str());
  if (!have) return;
  if (::lseek(tar.get(), 0, SEEK_SET) < 0) throw_sys("lseek", "the copy-up tar");
  // Into _data itself, resolved inside it: a symlink another container
  // sharing the volume plants meanwhile cannot lead to volume.json.
  UniqueFd data(::open(data_dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!data) throw_sys("open", data_dir);
  image::ExtractOptions o;
  o.whiteouts = false;
  o.keep_root = true;
  // A user-namespaced container's root is host uid kUsernsHostBase: what it
  // finds in its new volume is its own, as its image's files are.
  if (cfg.spec.userns) o.owner_uid = o.owner_gid = container::kUsernsHostBase;
  image::extract_tar(tar.get(), "the copy-up of " + target, data.get(), o);
  root_attrs.write.reset();
  uint32_t attrs[3];
  if (::read(root_attrs.read.get(), attrs, sizeof attrs) == ssize_t(sizeof attrs)) {
    const uid_t uid = cfg.spec.userns ? container::kUsernsHostBase : attrs[1];
    const gid_t gid = cfg.spec.userns ? container::kUsernsHostBase : attrs[2];
    if (::fchown(data.get(), uid, gid) < 0 || ::fchmod(data.get(), attrs[0]) < 0)
      throw_sys("set the owner and mode of", data_dir);
  }
}

}  // namespace

std::optional<FileLock> resolve_named_volumes(const std::string& store_root, ContainerConfig& cfg,
                                              const std::vector<std::string>& image_volumes) {
  auto clean = [](std::string p) {
    while (p.size() > 1 && p.back() == '/') p.pop_back();
    return p;
  };
  // The image's VOLUMEs: each an anonymous volume unless the container
  // mounts something there itself (Docker's).
  for (const auto& v : image_volumes) {
    const std::string t = clean(v);
    if (t.empty() || t[0] != '/' || t == "/") continue;  // not a path a volume can go to
    auto at = [&](const auto& m) { return clean(m.target) == t; };
    if (std::any_of(cfg.spec.mounts.begin(), cfg.spec.mounts.end(), at) ||
        std::any_of(cfg.spec.tmpfs.begin(), cfg.spec.tmpfs.end(), at))
      continue;
    container::BindMount m;
    m.target = t;
    cfg.spec.mounts.push_back(m);
  }
  volume::VolumeStore store(store_root);
  const bool any = std::any_of(cfg.spec.mounts.begin(), cfg.spec.mounts.end(),
                               [](const container::BindMount& m) { return m.source.empty() || m.source[0] != '/'; });
  if (!any) return std::nullopt;
  std::optional<FileLock> in_use(store.use_lock(FileLock::Mode::Shared));
  try {
    for (auto& m : cfg.spec.mounts) {
      if (!m.source.empty() && m.source[0] == '/') continue;
      std::string name = m.source;
      std::map<std::string, std::string> labels;
      if (name.empty()) {
        name = random_hex(32);
        labels[kAnonymousVolumeLabel] = "";
      }
      bool made = false;
      store.ensure(name, cfg.owner_uid, labels, &made);
      if (std::find(cfg.volumes.begin(), cfg.volumes.end(), name) == cfg.volumes.end()) cfg.volumes.push_back(name);
      // A user-namespaced container's root (host uid kUsernsHostBase) owns
      // the volume it makes, as it owns its own files (the copy-up below
      // gives it the image's owners, mapped).
      if (made && cfg.spec.userns &&
          ::chown(store.data_path(name).c_str(), container::kUsernsHostBase, container::kUsernsHostBase) < 0)
        throw_sys("chown", store.data_path(name));
      // Docker's rule: an empty volume (a new one, say) is filled first.
      if (list_dir(store.data_path(name)).empty()) {
        try {
          copy_up(cfg, m.target, store.dir(name), store.data_path(name));
        } catch (const Error& e) {
          throw Error("volume " + (labels.empty() ? name : "for " + m.target) + ": copying the image's " + m.target +
                      " into it: " + e.what());
        }
      }
      m.source = store.data_path(name);
    }
  } catch (...) {
    in_use.reset();  // (the removal takes it exclusively)
    remove_anonymous_volumes(store_root, cfg);
    throw;
  }
  return in_use;
}

void remove_anonymous_volumes(const std::string& store_root, const ContainerConfig& cfg) {
  if (cfg.volumes.empty()) return;
  volume::VolumeStore store(store_root);
  const Records rec(store_root);
  std::optional<FileLock> in_use;
  try {
    in_use.emplace(store.use_lock(FileLock::Mode::Exclusive));
  } catch (const std::exception& e) {
    HVRUN_WARN("engine", "anonymous volumes not removed: ", e.what());
    return;
  }
  for (const auto& name : cfg.volumes) {
    try {
      const auto v = store.find(name);
      if (!v || !v->labels.count(kAnonymousVolumeLabel)) continue;
      if (!volume_users(rec, name).empty()) continue;  // another container mounts it too (Docker's --volumes-from)
      store.remove(name);
    } catch (const std::exception& e) {
      HVRUN_WARN("engine", "anonymous volume ", name.substr(0, 12), " not removed: ", e.what());
    }
  }
}

std::vector<std::string> volume_users(const Records& rec, const std::string& name) {
  std::vector<std::string> out;
  for (const auto& id : rec.ids()) {
    try {
      const ContainerConfig c = rec.load_config(id);
      if (std::find(c.volumes.begin(), c.volumes.end(), name) != c.volumes.end()) out.push_back(id);
    } catch (const Error&) {
      // a record half-made or half-removed
    }
  }
  return out;
}

void remove_volume(const std::string& store_root, const std::string& name, uint32_t owner_uid) {
  volume::VolumeStore store(store_root);
  const volume::Volume v = store.get(name);
  if (owner_uid != 0 && v.owner_uid != owner_uid) throw Error("no such volume: " + name);
  FileLock in_use = store.use_lock(FileLock::Mode::Exclusive);  // no container made meanwhile names it
  const auto users = volume_users(Records(store_root), name);
  if (!users.empty()) throw Error("volume " + name + " is in use by container " + users.front().substr(0, 12));
  store.remove(name);
}

VolumePruneReport prune_volumes(const std::string& store_root, uint32_t owner_uid) {
  VolumePruneReport r;
  volume::VolumeStore store(store_root);
  const Records rec(store_root);
  FileLock in_use = store.use_lock(FileLock::Mode::Exclusive);  // no container made meanwhile names one
  for (const auto& v : store.list()) {
    if (owner_uid != 0 && v.owner_uid != owner_uid) continue;
    if (!volume_users(rec, v.name).empty()) continue;
    const uint64_t bytes = store.size(v.name);
    try {
      store.remove(v.name);
    } catch (const Error&) {
      continue;  // removed meanwhile
    }
    r.removed.push_back(v.name);
    r.reclaimed += bytes;
  }
  return r;
}

void remove_record_and_volumes(const Records& rec, const ContainerConfig& cfg, const std::string& name,
                               bool anonymous_volumes) {
  rec.remove(cfg.id, name);
  if (anonymous_volumes) remove_anonymous_volumes(rec.store_root(), cfg);
}

}  // namespace hvrun::engine
