// Image store: see store.hpp for the layout and the commit protocol.
#include "image/store.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <map>
#include <set>

#include <archive.h>
#include <archive_entry.h>

#include "image/digest.hpp"
#include "image/layer.hpp"
#include "image/staging.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/lock.hpp"

namespace hvrun::image {

using json = nlohmann::json;

namespace {

constexpr size_t kMaxJsonBlob = 16u << 20;
const char* kDefaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

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

bool lower_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

bool valid_path_component(const std::string& c) {
  // [a-z0-9]+ ((\.|_|__|-+) [a-z0-9]+)*
  if (c.empty() || !lower_alnum(c.front()) || !lower_alnum(c.back())) return false;
  for (size_t i = 0; i < c.size(); ++i) {
    char ch = c[i];
    if (lower_alnum(ch)) continue;
    if (ch == '.' || ch == '_' || ch == '-') {
      if (ch == '.' && !lower_alnum(c[i + 1])) return false;
      if (ch == '_' && !(lower_alnum(c[i + 1]) || (c[i + 1] == '_' && lower_alnum(c[i + 2])))) return false;
      if (ch == '_' && c[i + 1] == '_') ++i;
      continue;
    }
    return false;
  }
  return true;
}

bool valid_domain(const std::string& d) {
  std::string host = d, port;
  if (auto p = d.find(':'); p != std::string::npos) {
    host = d.substr(0, p);
    port = d.substr(p + 1);
    if (port.empty() || port.size() > 5 || !std::all_of(port.begin(), port.end(), ::isdigit)) return false;
  }
  if (host.empty()) return false;
  for (char c : host)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-')) return false;
  return true;
}

std::string host_arch() {
#if defined(__x86_64__)
  return "amd64";
#elif defined(__aarch64__)
  return "arm64";
#else
  return "";
#endif
}

std::string short_id(const std::string& id) { return id.substr(0, 12); }

std::string strip_sha(const std::string& s) { return s.rfind("sha256:", 0) == 0 ? s.substr(7) : s; }

std::string digest_hex(const json& desc, const std::string& what) {
  std::string d = desc.is_object() && desc.contains("digest") && desc["digest"].is_string() ? desc["digest"].get<std::string>()
                                                                                               : "";
  if (d.rfind("sha256:", 0) != 0 || !is_hex64(d.substr(7)))
    throw Error(what + ": missing or unsupported digest '" + d + "' (only sha256 is supported)");
  return d.substr(7);
}

json parse_json(const std::string& text, const std::string& what) {
  try {
    return json::parse(text);
  } catch (const json::exception& e) {
    throw Error(what + ": malformed JSON (" + std::string(e.what()) + ")");
  }
}

std::string read_fd_all(int fd, const std::string& name, size_t limit) {
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw_sys("read", name);
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > limit) throw Error(name + ": too large for a JSON document");
  }
  return out;
}

std::vector<std::string> strings_or_empty(const json& j, const char* key) {
  std::vector<std::string> out;
  if (!j.contains(key) || !j[key].is_array()) return out;
  for (auto& v : j[key])
    if (v.is_string()) out.push_back(v.get<std::string>());
  return out;
}

ImageConfig config_from(const json& cfg) {
  ImageConfig c;
  if (!cfg.is_object() || !cfg.contains("config") || !cfg["config"].is_object()) return c;
  const json& k = cfg["config"];
  c.env = strings_or_empty(k, "Env");
  c.entrypoint = strings_or_empty(k, "Entrypoint");
  c.cmd = strings_or_empty(k, "Cmd");
  if (k.contains("WorkingDir") && k["WorkingDir"].is_string()) c.working_dir = k["WorkingDir"];
  if (k.contains("User") && k["User"].is_string()) c.user = k["User"];
  return c;
}

std::vector<std::string> diff_ids_of(const json& cfg, const std::string& what) {
  std::vector<std::string> out;
  if (!cfg.is_object() || !cfg.contains("rootfs") || !cfg["rootfs"].is_object()) return out;
  for (auto& d : strings_or_empty(cfg["rootfs"], "diff_ids")) {
    if (d.rfind("sha256:", 0) != 0 || !is_hex64(d.substr(7))) throw Error(what + ": bad diff id '" + d + "'");
    out.push_back(d.substr(7));
  }
  return out;
}

std::vector<std::string> list_dir(const std::string& path) {
  std::vector<std::string> out;
  DIR* d = ::opendir(path.c_str());
  if (!d) {
    if (errno == ENOENT) return out;
    throw_sys("opendir", path);
  }
  while (dirent* de = ::readdir(d)) {
    std::string n = de->d_name;
    if (n != "." && n != "..") out.push_back(n);
  }
  ::closedir(d);
  return out;
}

std::map<std::string, std::string> load_repos(const Store& s) {
  std::string p = s.root() + "/repositories.json";
  std::map<std::string, std::string> out;
  if (!path_exists(p)) return out;
  json j = parse_json(read_file(p), p);
  if (!j.is_object()) throw Error(p + ": corrupt (not a JSON object)");
  for (auto& [k, v] : j.items()) {
    if (!v.is_string()) continue;
    // Names stored before normalisation took the familiar form
    // (docker.io/library/x:2) are read as they are now written (x:2).
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

struct Staged {
  std::string diff_id;
  uint64_t size = 0;
  bool in_stage = false;  // unpacked into the staging dir (else: reused from the store)
};

class Importer {
 public:
  Importer(const Store& s, const std::string& path) : s_(s), input_(path), stage_(s) {
    mkdir_p(stage_.path() + "/layers");
  }

  ImageRecord run(const std::optional<std::string>& name, std::vector<std::string>& tags);
  uint64_t dropped_devices() const { return dropped_devices_; }

 private:
  Staged stage_layer(int fd, const std::string& what, const std::string& want_blob, const std::string& want_diff);
  void import_rootfs_tar(const std::string& path);
  void import_rootfs_dir(const std::string& path);
  void import_oci(int dirfd, const std::string& what);
  void import_docker(int dirfd, const std::string& what);
  void unpack_outer(const std::string& path);
  std::string read_blob(int dirfd, const std::string& hex, const std::string& what);
  void set_config(const std::string& blob, const std::string& what);
  void default_config();
  void commit(std::vector<std::string>& tags);

  const Store& s_;
  std::string input_;
  Staging stage_;
  std::vector<Staged> layers_;
  std::string config_blob_;
  json config_;
  std::vector<std::string> found_tags_;
  int counter_ = 0;
  uint64_t dropped_devices_ = 0;
};

// The unpacked size of the layers staged so far.
uint64_t total_size(const std::vector<Staged>& layers) {
  uint64_t n = 0;
  for (auto& l : layers) n += l.size;
  return n;
}

Staged Importer::stage_layer(int fd, const std::string& what, const std::string& want_blob,
                             const std::string& want_diff) {
  if (!want_diff.empty() && path_exists(s_.layer_dir(want_diff) + "/layer.json")) {
    // Already in the store: verify the blob without unpacking it again.
    std::string got = sha256_fd(fd, what);
    std::string want = want_blob.empty() ? want_diff : want_blob;
    if (got == want) {
      Staged st{want_diff, 0, false};
      try {
        st.size = parse_json(read_file(s_.layer_dir(want_diff) + "/layer.json"), "layer.json").value("size", 0ull);
      } catch (const std::exception&) {
      }
      if (uint64_t before = total_size(layers_); st.size > s_.max_image_size() || before > s_.max_image_size() - st.size)
        throw Error(what + ": image too large: the unpacked size of its layers would exceed the limit of " +
                    std::to_string(s_.max_image_size()) + " bytes (set HVRUN_MAX_IMAGE_SIZE to change it)");
      return st;
    }
    if (!want_blob.empty())
      throw Error(what + ": digest mismatch: manifest says sha256:" + want_blob + ", content is sha256:" + got);
    if (::lseek(fd, 0, SEEK_SET) < 0) throw_sys("seek", what);
  }
  std::string dir = stage_.path() + "/layers/new-" + std::to_string(counter_++);
  mkdir_p(dir + "/diff");
  UniqueFd dfd(::open((dir + "/diff").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dfd) throw_sys("open", dir + "/diff");
  ExtractOptions opt;
  opt.max_size = s_.max_layer_size();
  opt.max_image_size = s_.max_image_size();
  opt.image_size_before = total_size(layers_);
  opt.min_free_space = s_.min_free_space();
  ExtractResult res = extract_tar(fd, what, dfd.get(), opt);
  dropped_devices_ += res.dropped_devices;
  if (!want_blob.empty() && res.blob_digest != want_blob)
    throw Error(what + ": digest mismatch: manifest says sha256:" + want_blob + ", content is sha256:" +
                res.blob_digest);
  if (!want_diff.empty() && res.diff_id != want_diff)
    throw Error(what + ": diff id mismatch: image config says sha256:" + want_diff + ", layer is sha256:" +
                res.diff_id);
  json lj = {{"diff_id", "sha256:" + res.diff_id}, {"size", res.size}};
  write_file_atomic(dir + "/layer.json", lj.dump() + "\n");
  std::string final_dir = stage_.path() + "/layers/" + res.diff_id;
  if (path_exists(final_dir)) remove_all(dir);  // same layer twice in one image
  else if (::rename(dir.c_str(), final_dir.c_str()) < 0) throw_sys("rename", dir);
  return Staged{res.diff_id, res.size, true};
}

void Importer::default_config() {
  json cfg;
  cfg["architecture"] = host_arch();
  cfg["os"] = "linux";
  cfg["config"] = {{"Env", {kDefaultPath}}, {"Cmd", {"/bin/sh"}}};
  json ids = json::array();
  for (auto& l : layers_) ids.push_back("sha256:" + l.diff_id);
  cfg["rootfs"] = {{"type", "layers"}, {"diff_ids", ids}};
  config_ = cfg;
  config_blob_ = cfg.dump();
}

void Importer::set_config(const std::string& blob, const std::string& what) {
  config_ = parse_json(blob, what);
  if (!config_.is_object()) throw Error(what + ": image config is not a JSON object");
  config_blob_ = blob;
}

void Importer::import_rootfs_tar(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) throw_sys("open", path);
  layers_.push_back(stage_layer(fd.get(), path, "", ""));
  default_config();
}

void Importer::import_rootfs_dir(const std::string& path) {
  std::string tar = stage_.path() + "/dir.tar";
  {
    UniqueFd out(::open(tar.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (!out) throw_sys("create", tar);
    dropped_devices_ += write_dir_tar(path, out.get(), s_.max_layer_size(), s_.min_free_space());
  }
  UniqueFd in(::open(tar.c_str(), O_RDONLY | O_CLOEXEC));
  if (!in) throw_sys("open", tar);
  layers_.push_back(stage_layer(in.get(), path, "", ""));
  ::unlink(tar.c_str());
  default_config();
}

std::string Importer::read_blob(int dirfd, const std::string& hex, const std::string& what) {
  UniqueFd fd = open_in_root(dirfd, "blobs/sha256/" + hex, O_RDONLY);
  if (!fd) throw_sys("open blob", what + " sha256:" + hex);
  std::string data = read_fd_all(fd.get(), what, kMaxJsonBlob);
  std::string got = sha256_hex(data);
  if (got != hex) throw Error(what + ": digest mismatch: expected sha256:" + hex + ", content is sha256:" + got);
  return data;
}

bool is_index_type(const std::string& mt) {
  return mt == "application/vnd.oci.image.index.v1+json" ||
         mt == "application/vnd.docker.distribution.manifest.list.v2+json";
}

void Importer::import_oci(int dirfd, const std::string& what) {
  UniqueFd ifd = open_in_root(dirfd, "index.json", O_RDONLY);
  if (!ifd) throw_sys("open", what + ": index.json");
  json doc = parse_json(read_fd_all(ifd.get(), what + ": index.json", kMaxJsonBlob), what + ": index.json");
  json manifest;
  for (int depth = 0;; ++depth) {
    if (depth > 4) throw Error(what + ": image indexes nested too deeply");
    if (!doc.is_object() || !doc.contains("manifests") || !doc["manifests"].is_array() || doc["manifests"].empty())
      throw Error(what + ": image index lists no manifests");
    const json* pick = nullptr;
    for (auto& m : doc["manifests"]) {
      if (!m.is_object()) continue;
      if (m.contains("platform") && m["platform"].is_object()) {
        auto& p = m["platform"];
        if (p.value("os", "") == "linux" && p.value("architecture", "") == host_arch()) {
          pick = &m;
          break;
        }
        continue;
      }
      if (!pick) pick = &m;
    }
    if (!pick) pick = &doc["manifests"][0];
    if (depth == 0 && pick->contains("annotations") && (*pick)["annotations"].is_object()) {
      // A full name: containerd's (docker save >= 25) or a ref.name that is
      // more than a bare tag.
      const json& ann = (*pick)["annotations"];
      std::string rn = ann.value("io.containerd.image.name", "");
      if (rn.empty()) rn = ann.value("org.opencontainers.image.ref.name", "");
      for (const char* pre : {"docker.io/library/", "docker.io/"})
        if (rn.rfind(pre, 0) == 0) rn = rn.substr(std::strlen(pre));
      if (rn.find(':') != std::string::npos || rn.find('/') != std::string::npos) {
        try {
          found_tags_.push_back(normalize_ref(rn));
        } catch (const Error&) {
        }
      }
    }
    std::string hex = digest_hex(*pick, what + ": manifest descriptor");
    std::string blob = read_blob(dirfd, hex, what + ": manifest");
    json m = parse_json(blob, what + ": manifest sha256:" + hex);
    if (is_index_type(pick->value("mediaType", "")) || (m.is_object() && m.contains("manifests"))) {
      doc = m;
      continue;
    }
    manifest = m;
    break;
  }
  if (!manifest.is_object() || !manifest.contains("config") || !manifest.contains("layers") ||
      !manifest["layers"].is_array())
    throw Error(what + ": manifest has no config or layers");
  std::string chex = digest_hex(manifest["config"], what + ": config descriptor");
  set_config(read_blob(dirfd, chex, what + ": image config"), what + ": image config");
  std::vector<std::string> diffs = diff_ids_of(config_, what + ": image config");
  if (diffs.size() != manifest["layers"].size())
    throw Error(what + ": manifest lists " + std::to_string(manifest["layers"].size()) +
                " layers but the image config has " + std::to_string(diffs.size()) + " diff ids");
  for (size_t i = 0; i < diffs.size(); ++i) {
    const json& d = manifest["layers"][i];
    std::string lhex = digest_hex(d, what + ": layer descriptor");
    std::string mt = d.value("mediaType", "");
    if (mt.find("nondistributable") != std::string::npos || mt.find("foreign") != std::string::npos)
      throw Error(what + ": layer sha256:" + lhex + " is a foreign layer (" + mt + "), not included in the image");
    UniqueFd fd = open_in_root(dirfd, "blobs/sha256/" + lhex, O_RDONLY);
    if (!fd) throw_sys("open layer blob", what + " sha256:" + lhex);
    layers_.push_back(stage_layer(fd.get(), what + ": layer sha256:" + lhex, lhex, diffs[i]));
  }
}

void Importer::import_docker(int dirfd, const std::string& what) {
  UniqueFd mfd = open_in_root(dirfd, "manifest.json", O_RDONLY);
  if (!mfd) throw_sys("open", what + ": manifest.json");
  json man = parse_json(read_fd_all(mfd.get(), what + ": manifest.json", kMaxJsonBlob), what + ": manifest.json");
  if (!man.is_array() || man.empty() || !man[0].is_object())
    throw Error(what + ": manifest.json is not a non-empty list of images");
  const json& m = man[0];  // `docker save` of several images: the first one
  if (!m.contains("Config") || !m["Config"].is_string() || !m.contains("Layers") || !m["Layers"].is_array())
    throw Error(what + ": manifest.json entry lacks Config or Layers");
  std::string cpath = m["Config"];
  UniqueFd cfd = open_in_root(dirfd, cpath, O_RDONLY);
  if (!cfd) throw_sys("open", what + ": " + cpath);
  std::string blob = read_fd_all(cfd.get(), what + ": " + cpath, kMaxJsonBlob);
  // The config's file name carries its digest ("<hex>.json" or blobs/sha256/<hex>).
  std::string base = cpath.substr(cpath.rfind('/') == std::string::npos ? 0 : cpath.rfind('/') + 1);
  if (base.size() > 5 && base.substr(base.size() - 5) == ".json") base.resize(base.size() - 5);
  if (is_hex64(base) && sha256_hex(blob) != base)
    throw Error(what + ": " + cpath + ": digest mismatch: content is sha256:" + sha256_hex(blob));
  set_config(blob, what + ": " + cpath);
  std::vector<std::string> diffs = diff_ids_of(config_, what + ": " + cpath);
  if (diffs.size() != m["Layers"].size())
    throw Error(what + ": manifest.json lists " + std::to_string(m["Layers"].size()) +
                " layers but the image config has " + std::to_string(diffs.size()) + " diff ids");
  for (size_t i = 0; i < diffs.size(); ++i) {
    if (!m["Layers"][i].is_string()) throw Error(what + ": manifest.json: layer path is not a string");
    std::string lpath = m["Layers"][i];
    UniqueFd fd = open_in_root(dirfd, lpath, O_RDONLY);
    if (!fd) throw_sys("open layer", what + ": " + lpath);
    std::string lbase = lpath.substr(lpath.rfind('/') == std::string::npos ? 0 : lpath.rfind('/') + 1);
    std::string want_blob = lpath.find("blobs/sha256/") != std::string::npos && is_hex64(lbase) ? lbase : "";
    layers_.push_back(stage_layer(fd.get(), what + ": " + lpath, want_blob, diffs[i]));
  }
  if (m.contains("RepoTags") && m["RepoTags"].is_array())
    for (auto& t : m["RepoTags"])
      if (t.is_string()) {
        try {
          found_tags_.push_back(normalize_ref(t.get<std::string>()));
        } catch (const Error&) {
        }
      }
}

void Importer::unpack_outer(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) throw_sys("open", path);
  std::string dir = stage_.path() + "/input";
  mkdir_p(dir);
  UniqueFd dfd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dfd) throw_sys("open", dir);
  ExtractOptions opt;
  opt.whiteouts = false;
  opt.max_size = s_.max_layer_size();
  opt.min_free_space = s_.min_free_space();
  dropped_devices_ += extract_tar(fd.get(), path, dfd.get(), opt).dropped_devices;
}

enum class Kind { RootfsTar, RootfsDir, Oci, Docker };

// Looks at a tar's top-level names: an OCI layout has oci-layout, a docker
// save has manifest.json; anything else (bin/, etc/...) is a rootfs.
Kind sniff_tar(const std::string& path) {
  struct Free {
    void operator()(archive* a) const { archive_read_free(a); }
  };
  std::unique_ptr<archive, Free> a(archive_read_new());
  support_compressions(a.get());
  archive_read_support_format_tar(a.get());
  if (archive_read_open_filename(a.get(), path.c_str(), 1 << 16) != ARCHIVE_OK) return Kind::RootfsTar;
  bool oci = false, manifest = false;
  archive_entry* e;
  while (archive_read_next_header(a.get(), &e) == ARCHIVE_OK) {
    const char* p = archive_entry_pathname(e);
    std::string n = p ? p : "";
    while (n.rfind("./", 0) == 0) n = n.substr(2);
    std::string top = n.substr(0, n.find('/'));
    if (top == "oci-layout") oci = true;
    else if (top == "manifest.json") manifest = true;
    else if (top.empty() || top == "." || top == "index.json" || top == "blobs" || top == "repositories" ||
             is_hex64(top) || (top.size() > 5 && top.substr(top.size() - 5) == ".json"))
      ;
    else return Kind::RootfsTar;
  }
  if (oci) return Kind::Oci;
  if (manifest) return Kind::Docker;
  return Kind::RootfsTar;
}

ImageRecord Importer::run(const std::optional<std::string>& name, std::vector<std::string>& tags) {
  struct stat st;
  if (::stat(input_.c_str(), &st) < 0) throw_sys("import", input_);
  if (S_ISDIR(st.st_mode)) {
    UniqueFd dfd(::open(input_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dfd) throw_sys("open", input_);
    if (::faccessat(dfd.get(), "oci-layout", F_OK, 0) == 0) import_oci(dfd.get(), input_);
    else if (::faccessat(dfd.get(), "manifest.json", F_OK, 0) == 0 &&
             ::faccessat(dfd.get(), "bin", F_OK, AT_SYMLINK_NOFOLLOW) != 0)
      import_docker(dfd.get(), input_);
    else import_rootfs_dir(input_);
  } else if (S_ISREG(st.st_mode)) {
    Kind k = sniff_tar(input_);
    if (k == Kind::RootfsTar) {
      import_rootfs_tar(input_);
    } else {
      unpack_outer(input_);
      UniqueFd dfd(::open((stage_.path() + "/input").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
      if (!dfd) throw_sys("open", stage_.path() + "/input");
      if (k == Kind::Oci) import_oci(dfd.get(), input_);
      else import_docker(dfd.get(), input_);
    }
  } else {
    throw Error("import " + input_ + ": not a regular file or directory");
  }
  tags = name ? std::vector<std::string>{normalize_ref(*name)} : found_tags_;
  commit(tags);
  ImageRecord r;
  r.id = sha256_hex(config_blob_);
  return r;
}

void Importer::commit(std::vector<std::string>& tags) {
  const std::string id = sha256_hex(config_blob_);
  ImageRecord rec;
  rec.id = id;
  for (auto& l : layers_) {
    rec.layers.push_back(l.diff_id);
    rec.size += l.size;
  }
  rec.config = config_from(config_);
  rec.created = config_.contains("created") && config_["created"].is_string() ? config_["created"].get<std::string>()
                                                                               : now_rfc3339_nano();
  std::string img_stage = stage_.path() + "/image";
  mkdir_p(img_stage);
  write_file_atomic(img_stage + "/config.json", config_blob_);
  write_file_atomic(img_stage + "/image.json", json(rec).dump(2) + "\n");

  FileLock lock(s_.lock_path(), FileLock::Mode::Exclusive);
  for (auto& l : layers_) {
    std::string dst = s_.layer_dir(l.diff_id);
    if (path_exists(dst)) continue;
    std::string src = stage_.path() + "/layers/" + l.diff_id;
    if (!l.in_stage || !path_exists(src))
      throw Error("import " + input_ + ": layer sha256:" + l.diff_id + " was removed from the store meanwhile; retry");
    if (::rename(src.c_str(), dst.c_str()) < 0) throw_sys("rename", dst);
  }
  std::string idir = s_.image_dir(id);
  if (!path_exists(idir + "/image.json")) {
    if (path_exists(idir)) remove_all(idir);
    if (::rename(img_stage.c_str(), idir.c_str()) < 0) throw_sys("rename", idir);
  }
  if (!tags.empty()) {
    auto repos = load_repos(s_);
    for (auto& t : tags) repos[t] = id;
    save_repos(s_, repos);
  }
}

// Image ids whose records remain, and the layers they use.
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

// Moves a path into tmp (atomic) and deletes it there.
void discard(const Store& s, const std::string& path) {
  std::string t = s.tmp_dir() + "/gc-" + random_hex(6);
  if (::rename(path.c_str(), t.c_str()) < 0) {
    if (errno == ENOENT) return;
    throw_sys("rename", path);
  }
  remove_all(t);
}

// With the exclusive lock held: after a crash, drops layers no image uses
// (a commit killed between moving layers in and writing the image record).
void tidy(const Store& s) {
  if (!clean_stale_tmp(s)) return;
  auto used = used_layers(s);
  for (auto& l : list_dir(s.root() + "/layers"))
    if (!used.count(l)) discard(s, s.layer_dir(l));
}

}  // namespace

std::string normalize_ref(const std::string& ref) {
  auto bad = [&](const std::string& why) -> Error {
    return Error("invalid reference format: '" + ref + "': " + why);
  };
  if (ref.empty()) throw bad("empty name");
  if (ref.size() > 255) throw bad("longer than 255 characters");
  if (ref.find('@') != std::string::npos) throw bad("digest references are not supported");
  std::string name = ref, tag = "latest";
  size_t colon = ref.rfind(':');
  size_t slash = ref.rfind('/');
  if (colon != std::string::npos && (slash == std::string::npos || colon > slash)) {
    name = ref.substr(0, colon);
    tag = ref.substr(colon + 1);
  }
  if (tag.empty() || tag.size() > 128) throw bad("tag must be 1 to 128 characters");
  if (!(std::isalnum(static_cast<unsigned char>(tag[0])) || tag[0] == '_')) throw bad("tag must start with a letter, digit or '_'");
  for (char c : tag)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-'))
      throw bad("tag may only contain letters, digits, '_', '.' and '-'");
  std::vector<std::string> comps;
  size_t i = 0;
  while (true) {
    size_t j = name.find('/', i);
    comps.push_back(name.substr(i, j == std::string::npos ? std::string::npos : j - i));
    if (j == std::string::npos) break;
    i = j + 1;
  }
  for (size_t k = 0; k < comps.size(); ++k) {
    bool domain_ok = k == 0 && comps.size() > 1 &&
                     (comps[0].find_first_of(".:") != std::string::npos || comps[0] == "localhost") &&
                     valid_domain(comps[0]);
    if (domain_ok) continue;
    if (!valid_path_component(comps[k]))
      throw bad("repository name must be lowercase letters, digits and separators ('.', '_', '__', '-'), "
                "in '/'-separated parts");
  }
  // Docker Hub names in their familiar form, as `docker images` shows them:
  // docker.io/library/x, index.docker.io/library/x and library/x are x;
  // docker.io/u/x is u/x. One form everywhere (import, lookup, tag, rm), so
  // an image is found by whichever spelling it was imported or asked for.
  if (comps.size() >= 2 && (comps[0] == "docker.io" || comps[0] == "index.docker.io" ||
                            comps[0] == "registry-1.docker.io"))
    comps.erase(comps.begin());
  if (comps.size() == 2 && comps[0] == "library") comps.erase(comps.begin());
  name.clear();
  for (const auto& c : comps) name += (name.empty() ? "" : "/") + c;
  if (comps.size() == 1 && is_hex64(name)) throw bad("a 64-digit hex name is reserved for image ids");
  return name + ":" + tag;
}

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
    try {
      return import(file, name, notes);
    } catch (const Error& e) {
      std::string m = e.what();  // the user gave stdin, not the staging file
      for (size_t at; (at = m.find(file)) != std::string::npos;) m.replace(at, file.size(), "stdin");
      throw Error(m, e.code());
    }
  }
  struct stat st;
  if (::stat(path.c_str(), &st) < 0) throw_sys("import", path);
  ensure_layout();
  {
    FileLock lock(lock_path(), FileLock::Mode::Exclusive);
    tidy(*this);
  }
  std::vector<std::string> tags;
  std::string id;
  {
    Importer imp(*this, path);
    id = imp.run(name, tags).id;
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
    for (auto& cid : list_dir(root_ + "/containers")) {
      std::string cp = root_ + "/containers/" + cid + "/config.json";
      if (!path_exists(cp)) continue;
      try {
        json c = json::parse(read_file(cp));
        if (c.is_object() && c.value("image_id", "") == img.id)
          throw Error("image " + ref + " (" + short_id(img.id) + ") is in use by container " + cid.substr(0, 12) +
                      "; remove the container first, or use -f");
      } catch (const json::exception&) {
      }
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

std::string Store::config_blob(const ImageRecord& img) const { return read_file(image_dir(img.id) + "/config.json"); }

}  // namespace hvrun::image
