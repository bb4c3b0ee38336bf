#include "image/importer.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <memory>

#include <archive.h>
#include <archive_entry.h>

#include "image/digest.hpp"
#include "image/layer.hpp"
#include "image/oci.hpp"
#include "image/reference.hpp"
#include "util/error.hpp"
#include "util/fd.hpp"
#include "util/fs.hpp"

namespace hvrun::image {

using json = nlohmann::json;

Importer::Importer(const Store& s, std::string path, std::string display)
    : s_(s), input_(std::move(path)), display_(std::move(display)) {}

uint64_t Importer::dropped_devices() const {
  uint64_t n = outer_dropped_;
  for (auto& p : images_) n += p.builder->dropped_devices();
  return n;
}

ImageBuilder& Importer::start_image() {
  images_.push_back(Pending{std::make_unique<ImageBuilder>(s_, display_), {}});
  return *images_.back().builder;
}

void Importer::import_rootfs_tar() {
  ImageBuilder& b = start_image();
  UniqueFd fd(::open(input_.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) throw_sys("open", display_);
  b.add_layer(fd.get(), display_);
  b.default_config();
}

void Importer::import_rootfs_dir() {
  ImageBuilder& b = start_image();
  const std::string& path = input_;
  std::string tar = b.staging_dir() + "/dir.tar";
  {
    UniqueFd out(::open(tar.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (!out) throw_sys("create", tar);
    b.note_dropped_devices(write_dir_tar(path, out.get(), s_.max_layer_size(), s_.min_free_space()));
  }
  UniqueFd in(::open(tar.c_str(), O_RDONLY | O_CLOEXEC));
  if (!in) throw_sys("open", tar);
  b.add_layer(in.get(), display_);
  ::unlink(tar.c_str());
  b.default_config();
}

std::string Importer::read_blob(int dirfd, const std::string& hex, const std::string& what) {
  UniqueFd fd = open_in_root(dirfd, "blobs/sha256/" + hex, O_RDONLY);
  if (!fd) throw_sys("open blob", what + " sha256:" + hex);
  std::string data = read_fd_all(fd.get(), what, kMaxJsonBlob);
  std::string got = sha256_hex(data);
  if (got != hex) throw Error(what + ": digest mismatch: expected sha256:" + hex + ", content is sha256:" + got);
  return data;
}

namespace {

// The manifest for this machine among an index's entries: linux/<host arch>,
// else the first without a platform, else the first.
const json& pick_platform(const json& manifests) {
  const json* pick = nullptr;
  for (auto& m : manifests) {
    if (!m.is_object()) continue;
    if (m.contains("platform") && m["platform"].is_object()) {
      auto& p = m["platform"];
      if (p.value("os", "") == "linux" && p.value("architecture", "") == host_arch()) return m;
      continue;
    }
    if (!pick) pick = &m;
  }
  return pick ? *pick : manifests[0];
}

// The name an index entry gives its image: containerd's (docker save >= 25)
// or a ref.name that is more than a bare tag; empty when none.
std::string name_of(const json& desc) {
  if (!desc.is_object() || !desc.contains("annotations") || !desc["annotations"].is_object()) return "";
  const json& ann = desc["annotations"];
  std::string rn = ann.value("io.containerd.image.name", "");
  if (rn.empty()) rn = ann.value("org.opencontainers.image.ref.name", "");
  if (rn.find(':') == std::string::npos && rn.find('/') == std::string::npos) return "";
  try {
    return normalize_ref(rn);
  } catch (const Error&) {
    return "";
  }
}

void add_name(std::vector<std::string>& names, const std::string& n) {
  if (!n.empty() && std::find(names.begin(), names.end(), n) == names.end()) names.push_back(n);
}

}  // namespace

void Importer::import_oci(int dirfd, bool all) {
  const std::string& what = display_;
  UniqueFd ifd = open_in_root(dirfd, "index.json", O_RDONLY);
  if (!ifd) throw_sys("open", what + ": index.json");
  json doc = parse_json(read_fd_all(ifd.get(), what + ": index.json", kMaxJsonBlob), what + ": index.json");
  if (!doc.is_object() || !doc.contains("manifests") || !doc["manifests"].is_array() || doc["manifests"].empty())
    throw Error(what + ": image index lists no manifests");
  const json& ms = doc["manifests"];
  bool platformed = false;
  for (auto& m : ms)
    if (m.is_object() && m.contains("platform")) platformed = true;
  if (all && !platformed) {
    // One image per distinct manifest (an image saved under several names
    // is listed once per name).
    std::vector<std::pair<const json*, std::vector<std::string>>> groups;
    for (auto& m : ms) {
      if (!m.is_object()) continue;
      std::string hex = digest_hex(m, what + ": manifest descriptor");
      auto it = std::find_if(groups.begin(), groups.end(), [&](auto& g) { return digest_hex(*g.first, what) == hex; });
      if (it == groups.end()) {
        groups.push_back({&m, {}});
        it = groups.end() - 1;
      }
      add_name(it->second, name_of(m));
    }
    if (groups.empty()) throw Error(what + ": image index lists no manifests");
    for (auto& [desc, names] : groups) oci_image(dirfd, *desc, names);
    return;
  }
  const json& pick = pick_platform(ms);
  std::vector<std::string> names;
  add_name(names, name_of(pick));
  oci_image(dirfd, pick, names);
}

void Importer::oci_image(int dirfd, const json& top_desc, std::vector<std::string> names) {
  const std::string& what = display_;
  json desc = top_desc;
  json manifest;
  for (int depth = 0;; ++depth) {
    if (depth > 4) throw Error(what + ": image indexes nested too deeply");
    std::string hex = digest_hex(desc, what + ": manifest descriptor");
    std::string blob = read_blob(dirfd, hex, what + ": manifest");
    json m = parse_json(blob, what + ": manifest sha256:" + hex);
    if (is_index_type(desc.value("mediaType", "")) || (m.is_object() && m.contains("manifests"))) {
      if (!m.is_object() || !m.contains("manifests") || !m["manifests"].is_array() || m["manifests"].empty())
        throw Error(what + ": image index lists no manifests");
      desc = pick_platform(m["manifests"]);
      continue;
    }
    manifest = m;
    break;
  }
  if (!manifest.is_object() || !manifest.contains("config") || !manifest.contains("layers") ||
      !manifest["layers"].is_array())
    throw Error(what + ": manifest has no config or layers");
  ImageBuilder& b = start_image();
  images_.back().tags = std::move(names);
  std::string chex = digest_hex(manifest["config"], what + ": config descriptor");
  b.set_config(read_blob(dirfd, chex, what + ": image config"), what + ": image config");
  std::vector<std::string> diffs = diff_ids_of(b.config(), what + ": image config");
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
    b.add_layer(fd.get(), what + ": layer sha256:" + lhex, lhex, diffs[i]);
  }
}

void Importer::import_docker(int dirfd, bool all) {
  const std::string& what = display_;
  UniqueFd mfd = open_in_root(dirfd, "manifest.json", O_RDONLY);
  if (!mfd) throw_sys("open", what + ": manifest.json");
  json man = parse_json(read_fd_all(mfd.get(), what + ": manifest.json", kMaxJsonBlob), what + ": manifest.json");
  if (!man.is_array() || man.empty())
    throw Error(what + ": manifest.json is not a non-empty list of images");
  for (auto& m : man) {
    docker_image(dirfd, m);
    if (!all) break;  // `docker save` of several images: the first one
  }
}

void Importer::docker_image(int dirfd, const json& m) {
  const std::string& what = display_;
  if (!m.is_object()) throw Error(what + ": manifest.json is not a non-empty list of images");
  if (!m.contains("Config") || !m["Config"].is_string() || !m.contains("Layers") || !m["Layers"].is_array())
    throw Error(what + ": manifest.json entry lacks Config or Layers");
  ImageBuilder& b = start_image();
  std::string cpath = m["Config"];
  UniqueFd cfd = open_in_root(dirfd, cpath, O_RDONLY);
  if (!cfd) throw_sys("open", what + ": " + cpath);
  std::string blob = read_fd_all(cfd.get(), what + ": " + cpath, kMaxJsonBlob);
  // The config's file name carries its digest ("<hex>.json" or blobs/sha256/<hex>).
  std::string base = cpath.substr(cpath.rfind('/') == std::string::npos ? 0 : cpath.rfind('/') + 1);
  if (base.size() > 5 && base.substr(base.size() - 5) == ".json") base.resize(base.size() - 5);
  if (is_hex64(base) && sha256_hex(blob) != base)
    throw Error(what + ": " + cpath + ": digest mismatch: content is sha256:" + sha256_hex(blob));
  b.set_config(blob, what + ": " + cpath);
  std::vector<std::string> diffs = diff_ids_of(b.config(), what + ": " + cpath);
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
    b.add_layer(fd.get(), what + ": " + lpath, want_blob, diffs[i]);
  }
  if (m.contains("RepoTags") && m["RepoTags"].is_array())
    for (auto& t : m["RepoTags"])
      if (t.is_string()) {
        try {
          add_name(images_.back().tags, normalize_ref(t.get<std::string>()));
        } catch (const Error&) {
        }
      }
}

int Importer::unpack_outer() {
  UniqueFd fd(::open(input_.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) throw_sys("open", display_);
  outer_ = std::make_unique<Staging>(s_);
  std::string dir = outer_->path() + "/input";
  mkdir_p(dir);
  outer_fd_.reset(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!outer_fd_) throw_sys("open", dir);
  ExtractOptions opt;
  opt.whiteouts = false;
  opt.max_size = s_.max_layer_size();
  opt.min_free_space = s_.min_free_space();
  outer_dropped_ += extract_tar(fd.get(), display_, outer_fd_.get(), opt).dropped_devices;
  return outer_fd_.get();
}

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() > suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// A top-level name that image archives have and root file systems do not.
bool image_archive_name(const std::string& top) {
  if (top == "index.json" || top == "blobs" || top == "repositories" || is_hex64(top)) return true;
  for (const char* ext : {".json", ".tar", ".tar.gz"})
    if (ends_with(top, ext) && is_hex64(top.substr(0, top.size() - std::strlen(ext)))) return true;
  return false;
}

enum class TarKind { Rootfs, Oci, Docker };

// Reads every header of a tar (compressed or not) and looks at the
// top-level names: oci-layout means an OCI layout, else manifest.json a
// docker archive, whatever stands beside them. An archive that cannot be
// read to its end is refused here, before any unpacking.
TarKind sniff_tar(const std::string& path, const std::string& display) {
  struct Free {
    void operator()(archive* a) const { archive_read_free(a); }
  };
  std::unique_ptr<archive, Free> a(archive_read_new());
  if (!a) throw Error("libarchive: out of memory");
  support_compressions(a.get());
  archive_read_support_format_tar(a.get());
  struct stat st;
  if (::stat(path.c_str(), &st) == 0 && st.st_size == 0) throw Error(display + ": empty file, not a tar archive");
  auto why = [&] {
    const char* w = archive_error_string(a.get());
    return std::string(w ? w : "unreadable");
  };
  if (archive_read_open_filename(a.get(), path.c_str(), 1 << 16) != ARCHIVE_OK)
    throw Error(display + ": not a tar archive (" + why() + ")");
  bool oci = false, manifest = false, image_like = false, rootfs_like = false;
  size_t entries = 0;
  archive_entry* e;
  for (;;) {
    int r = archive_read_next_header(a.get(), &e);
    if (r == ARCHIVE_EOF) break;
    if (r < ARCHIVE_WARN) {
      if (entries == 0) throw Error(display + ": not a tar archive (" + why() + ")");
      throw Error(display + ": corrupt or truncated archive after " + std::to_string(entries) + " entries (" + why() + ")");
    }
    ++entries;
    const char* p = archive_entry_pathname(e);
    std::string n = p ? p : "";
    while (n.rfind("./", 0) == 0) n = n.substr(2);
    while (!n.empty() && n[0] == '/') n = n.substr(1);
    std::string top = n.substr(0, n.find('/'));
    if (top.empty() || top == ".") continue;
    if (top == "oci-layout") oci = true;
    else if (top == "manifest.json") manifest = true;
    else if (image_archive_name(top)) image_like = true;
    else rootfs_like = true;
  }
  if (oci) return TarKind::Oci;
  if (manifest) return TarKind::Docker;
  if (image_like && !rootfs_like)
    throw Error(display + ": neither a root file system nor an image archive: it holds image-archive entries "
                          "(blobs, <digest>.tar, ...) but no manifest.json or oci-layout at its top");
  return TarKind::Rootfs;
}

}  // namespace

Importer::Kind Importer::classify(bool archives_only) {
  const char* not_archive = ": not an image archive (no manifest.json or oci-layout at its top); "
                            "a root file system is imported with `hvrun image import`";
  struct stat st;
  if (::stat(input_.c_str(), &st) < 0) throw_sys(archives_only ? "load" : "import", display_);
  if (S_ISDIR(st.st_mode)) {
    UniqueFd dfd(::open(input_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dfd) throw_sys("open", display_);
    if (::faccessat(dfd.get(), "oci-layout", F_OK, AT_SYMLINK_NOFOLLOW) == 0) return Kind::Oci;
    if (::faccessat(dfd.get(), "manifest.json", F_OK, AT_SYMLINK_NOFOLLOW) == 0) return Kind::Docker;
    if (archives_only) throw Error(display_ + not_archive);
    return Kind::RootfsDir;
  }
  if (!S_ISREG(st.st_mode))
    throw Error((archives_only ? "load " : "import ") + display_ + ": not a regular file or directory");
  switch (sniff_tar(input_, display_)) {
    case TarKind::Oci: return Kind::Oci;
    case TarKind::Docker: return Kind::Docker;
    case TarKind::Rootfs: break;
  }
  if (archives_only) throw Error(display_ + not_archive);
  return Kind::RootfsTar;
}

void Importer::stage(Kind k, bool all) {
  if (k == Kind::RootfsTar) return import_rootfs_tar();
  if (k == Kind::RootfsDir) return import_rootfs_dir();
  int dirfd;
  if (is_dir(input_)) {
    outer_fd_.reset(::open(input_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!outer_fd_) throw_sys("open", display_);
    dirfd = outer_fd_.get();
  } else {
    dirfd = unpack_outer();
  }
  if (k == Kind::Oci) import_oci(dirfd, all);
  else import_docker(dirfd, all);
}

std::string Importer::run(const std::optional<std::string>& name, std::vector<std::string>& tags) {
  stage(classify(false), false);
  Pending& p = images_.front();
  tags = name ? std::vector<std::string>{normalize_ref(*name)} : p.tags;
  return p.builder->commit(tags);
}

std::vector<ImportedImage> Importer::load_all() {
  stage(classify(true), true);
  std::vector<ImportedImage> out;
  for (auto& p : images_) out.push_back(ImportedImage{p.builder->commit(p.tags), p.tags});
  return out;
}

}  // namespace hvrun::image
