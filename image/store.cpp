// Image store: see store.hpp for the layout and the commit protocol.
#include "image/store.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <tuple>

#include "image/digest.hpp"
#include "image/importer.hpp"
#include "image/layer.hpp"
#include "image/oci.hpp"
#include "image/staging.hpp"
#include "image/store_records.hpp"
#include "util/error.hpp"
#include "util/fd.hpp"
#include "util/fs.hpp"
#include "util/lock.hpp"

namespace hvrun::image {

using json = nlohmann::json;

namespace {

uint64_t parse_size(const std::string& s) {
  if (s.empty()) throw Error("invalid size: empty");
  size_t pos = 0;
  unsigned long long v = 0;
  try {
    v = std::stoull(s, &pos);
  } catch (const std::exception&) {
    throw Error("invalid size: " + s);
  }
  std::string suf = s.substr(pos);
  uint64_t mul = 1;
  if (suf.empty() || suf == "B") mul = 1;
  else if (suf == "K" || suf == "k" || suf == "KiB") mul = 1ull << 10;
  else if (suf == "M" || suf == "m" || suf == "MiB") mul = 1ull << 20;
  else if (suf == "G" || suf == "g" || suf == "GiB") mul = 1ull << 30;
  else if (suf == "T" || suf == "t" || suf == "TiB") mul = 1ull << 40;
  else throw Error("invalid size: " + s + " (use bytes or a K/M/G/T suffix)");
  return v * mul;
}

}  // namespace

Store::Store(std::string root)
    : root_(std::move(root)),
      max_layer_size_(kDefaultMaxLayerSize),
      max_image_size_(kDefaultMaxImageSize),
      min_free_space_(kDefaultMinFreeSpace) {
  auto from_env = [](const char* var, uint64_t& out) {
    const char* e = std::getenv(var);
    if (!e || !*e) return;
    try {
      out = parse_size(e);
    } catch (const Error& err) {
      throw Error(std::string(var) + ": " + err.what());
    }
  };
  from_env("HVRUN_MAX_LAYER_SIZE", max_layer_size_);
  from_env("HVRUN_MAX_IMAGE_SIZE", max_image_size_);
  from_env("HVRUN_MIN_FREE_SPACE", min_free_space_);
}

std::string Store::default_root(const std::string& flag) {
  if (!flag.empty()) return flag;
  if (const char* env = std::getenv("HVRUN_ROOT"); env && *env) return env;
  return "/var/lib/hvrun";
}

void Store::ensure_layout() const {
  for (const char* sub : {"", "/layers", "/images", "/tmp"}) {
    std::string p = root_ + sub;
    if (::mkdir(p.c_str(), 0700) < 0 && errno != EEXIST) {
      if (errno == ENOENT) mkdir_p(p);
      else throw_sys("mkdir", p);
    }
  }
}

ImageRecord Store::import(const std::string& path, const std::optional<std::string>& name, ImportNotes* notes) {
  if (name) normalize_ref(*name);  // bad names fail before any work
  if (path == "-") {
    // An archive on stdin (`docker save x | hvrun image import -`): spooled
    // into a staging file (the formats need to look at it more than once),
    // imported from there, and the file goes with the staging dir.
    ensure_layout();
    Staging spool_dir(*this);
    const std::string file = spool_dir.path() + "/stdin";
    {
      UniqueFd out(::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
      if (!out) throw_sys("create", file);
      if (spool(STDIN_FILENO, out.get(), "stdin", max_image_size(), min_free_space()) == 0)
        throw Error("import -: nothing on stdin (pipe an image archive in, e.g. docker save IMAGE | hvrun image import -)");
    }
    return import_from(file, "stdin", name, notes);
  }
  struct stat st;
  if (::stat(path.c_str(), &st) < 0) throw_sys("import", path);
  return import_from(path, path, name, notes);
}

ImageRecord Store::import_from(const std::string& path, const std::string& display,
                               const std::optional<std::string>& name, ImportNotes* notes) {
  ensure_layout();
  {
    FileLock lock(lock_path(), FileLock::Mode::Exclusive);
    tidy(*this);
  }
  std::vector<std::string> tags;
  std::string id;
  {
    Importer imp(*this, path, display);
    id = imp.run(name, tags);
    if (notes) notes->dropped_devices = imp.dropped_devices();
  }
  FileLock lock(lock_path(), FileLock::Mode::Shared);
  return load_record(*this, id, load_repos(*this));
}

std::vector<ImageRecord> Store::list() const {
  if (!is_dir(root_)) return {};
  FileLock lock(lock_path(), FileLock::Mode::Shared);
  auto repos = load_repos(*this);
  std::vector<ImageRecord> out;
  for (auto& id : list_dir(root_ + "/images")) {
    if (!is_hex64(id) || !path_exists(image_dir(id) + "/image.json")) continue;
    out.push_back(load_record(*this, id, repos));
  }
  std::sort(out.begin(), out.end(), [](const ImageRecord& a, const ImageRecord& b) {
    return a.created != b.created ? a.created > b.created : a.id < b.id;
  });
  return out;
}

ImageRecord Store::resolve_locked(const std::string& ref) const {
  auto repos = load_repos(*this);
  try {
    std::string n = normalize_ref(ref);
    if (auto it = repos.find(n); it != repos.end()) return load_record(*this, it->second, repos);
  } catch (const Error&) {
    // not a name: maybe an id
  }
  std::string hex = strip_sha(ref);
  bool hexish = !hex.empty() && hex.size() <= 64 &&
                std::all_of(hex.begin(), hex.end(), [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) && !std::isupper(static_cast<unsigned char>(c)); });
  if (hexish) {
    if (hex.size() == 64 && path_exists(image_dir(hex) + "/image.json")) return load_record(*this, hex, repos);
    std::vector<std::string> hits;
    for (auto& id : list_dir(root_ + "/images"))
      if (is_hex64(id) && id.rfind(hex, 0) == 0 && path_exists(image_dir(id) + "/image.json")) hits.push_back(id);
    if (hits.size() == 1) return load_record(*this, hits[0], repos);
    if (hits.size() > 1) throw Error("ambiguous image id prefix: " + ref + " matches " + std::to_string(hits.size()) + " images");
  }
  throw Error("no such image: " + ref);
}

ImageRecord Store::resolve(const std::string& ref) const {
  if (!is_dir(root_)) throw Error("no such image: " + ref);
  FileLock lock(lock_path(), FileLock::Mode::Shared);
  return resolve_locked(ref);
}

void Store::tag(const std::string& src, const std::string& dst) {
  std::string d = normalize_ref(dst);
  if (!is_dir(root_)) throw Error("no such image: " + src);
  ensure_layout();
  FileLock lock(lock_path(), FileLock::Mode::Exclusive);
  tidy(*this);
  ImageRecord img = resolve_locked(src);
  auto repos = load_repos(*this);
  repos[d] = img.id;
  save_repos(*this, repos);
}

std::vector<std::string> Store::remove(const std::string& ref, bool force) {
  if (!is_dir(root_)) throw Error("no such image: " + ref);
  ensure_layout();
  FileLock lock(lock_path(), FileLock::Mode::Exclusive);
  tidy(*this);
  ImageRecord img = resolve_locked(ref);
  auto repos = load_repos(*this);
  std::vector<std::string> out;
  std::string as_name;
  try {
    as_name = normalize_ref(ref);
  } catch (const Error&) {
  }
  bool by_name = !as_name.empty() && repos.count(as_name) && repos[as_name] == img.id;
  if (by_name && img.tags.size() > 1) {
    repos.erase(as_name);
    save_repos(*this, repos);
    return {"Untagged: " + as_name};
  }
  if (!by_name && img.tags.size() > 1 && !force)
    throw Error("image " + short_id(img.id) + " is referenced by " + std::to_string(img.tags.size()) +
                " tags; remove them by name, or use -f");
  if (!force) {
    for (const auto& [user, id] : image_users(root_)) {
      if (id != img.id) continue;
      const bool snapshot = user.rfind("snapshot ", 0) == 0;
      throw Error("image " + ref + " (" + short_id(img.id) + ") is in use by " +
                  (snapshot ? user : user.substr(0, 10 + 12)) + "; remove the " + (snapshot ? "snapshot" : "container") +
                  " first, or use -f");
    }
  }
  for (auto& t : img.tags) {
    repos.erase(t);
    out.push_back("Untagged: " + t);
  }
  save_repos(*this, repos);
  discard(*this, image_dir(img.id));
  ::unlink((root_ + "/vmdisks/" + img.id + ".ext4").c_str());
  ::unlink((root_ + "/vmdisks/" + img.id + ".lock").c_str());
  out.push_back("Deleted: sha256:" + img.id);
  auto used = used_layers(*this);
  for (auto& l : img.layers)
    if (!used.count(l) && path_exists(layer_dir(l))) {
      discard(*this, layer_dir(l));
      used.insert(l);  // deleted once
    }
  return out;
}

std::vector<std::string> Store::layer_dirs(const ImageRecord& img) const {
  std::vector<std::string> out;
  out.reserve(img.layers.size());
  for (auto it = img.layers.rbegin(); it != img.layers.rend(); ++it) out.push_back(layer_dir(*it) + "/diff");
  return out;
}

LayerBlob Store::layer_blob(const std::string& diff_id) const {
  std::string dir = layer_dir(diff_id);
  json lj;
  try {
    lj = parse_json(read_file(dir + "/layer.json"), dir + "/layer.json");
  } catch (const Error& e) {
    throw Error("layer sha256:" + diff_id + ": " + e.what());
  }
  if (!lj.is_object() || !lj.contains("blob") || !lj["blob"].is_object() || !path_exists(dir + "/blob"))
    throw Error("layer sha256:" + diff_id + " has no kept blob (stored by an older hvrun); remove the image and import or pull it again");
  const json& b = lj["blob"];
  LayerBlob out;
  out.path = dir + "/blob";
  out.digest = digest_hex(b, "layer sha256:" + diff_id + " blob");
  out.size = b.value("size", 0ull);
  out.media_type = b.value("media_type", std::string(kLayerTar));
  return out;
}

std::string Store::config_blob(const ImageRecord& img) const { return read_file(image_dir(img.id) + "/config.json"); }

std::vector<std::pair<std::string, std::string>> image_users(const std::string& store_root) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& [kind, dir, file] : {std::tuple<const char*, const char*, const char*>{"container ", "/containers/", "/config.json"},
                                        {"snapshot ", "/snapshots/", "/snapshot.json"}}) {
    const std::string base = store_root + dir;
    if (!path_exists(base)) continue;
    for (const auto& name : list_dir(base)) {
      if (name.empty() || name[0] == '.') continue;  // a snapshot being made
      const std::string p = base + name + file;
      try {
        if (!path_exists(p)) continue;
        json c = json::parse(read_file(p));
        if (c.is_object() && c.contains("image_id") && c["image_id"].is_string())
          out.emplace_back(kind + name, c["image_id"].get<std::string>());
      } catch (const std::exception&) {
        // being written or removed right now
      }
    }
  }
  return out;
}

}  // namespace hvrun::image
