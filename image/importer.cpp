#include "image/importer.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

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
    : s_(s), input_(std::move(path)), display_(std::move(display)), builder_(s, display_) {}

void Importer::import_rootfs_tar() {
  UniqueFd fd(::open(input_.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) throw_sys("open", display_);
  builder_.add_layer(fd.get(), display_);
  builder_.default_config();
}

void Importer::import_rootfs_dir() {
  const std::string& path = input_;
  std::string tar = builder_.staging_dir() + "/dir.tar";
  {
    UniqueFd out(::open(tar.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (!out) throw_sys("create", tar);
    builder_.note_dropped_devices(write_dir_tar(path, out.get(), s_.max_layer_size(), s_.min_free_space()));
  }
  UniqueFd in(::open(tar.c_str(), O_RDONLY | O_CLOEXEC));
  if (!in) throw_sys("open", tar);
  builder_.add_layer(in.get(), display_);
  ::unlink(tar.c_str());
  builder_.default_config();
}

std::string Importer::read_blob(int dirfd, const std::string& hex, const std::string& what) {
  UniqueFd fd = open_in_root(dirfd, "blobs/sha256/" + hex, O_RDONLY);
  if (!fd) throw_sys("open blob", what + " sha256:" + hex);
  std::string data = read_fd_all(fd.get(), what, kMaxJsonBlob);
  std::string got = sha256_hex(data);
  if (got != hex) throw Error(what + ": digest mismatch: expected sha256:" + hex + ", content is sha256:" + got);
  return data;
}

void Importer::import_oci(int dirfd) {
  const std::string& what = display_;
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
  builder_.set_config(read_blob(dirfd, chex, what + ": image config"), what + ": image config");
  std::vector<std::string> diffs = diff_ids_of(builder_.config(), what + ": image config");
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
    builder_.add_layer(fd.get(), what + ": layer sha256:" + lhex, lhex, diffs[i]);
  }
}

void Importer::import_docker(int dirfd) {
  const std::string& what = display_;
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
  builder_.set_config(blob, what + ": " + cpath);
  std::vector<std::string> diffs = diff_ids_of(builder_.config(), what + ": " + cpath);
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
    builder_.add_layer(fd.get(), what + ": " + lpath, want_blob, diffs[i]);
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

void Importer::unpack_outer() {
  UniqueFd fd(::open(input_.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) throw_sys("open", display_);
  std::string dir = builder_.staging_dir() + "/input";
  mkdir_p(dir);
  UniqueFd dfd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dfd) throw_sys("open", dir);
  ExtractOptions opt;
  opt.whiteouts = false;
  opt.max_size = s_.max_layer_size();
  opt.min_free_space = s_.min_free_space();
  builder_.note_dropped_devices(extract_tar(fd.get(), display_, dfd.get(), opt).dropped_devices);
}

namespace {

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

}  // namespace

std::string Importer::run(const std::optional<std::string>& name, std::vector<std::string>& tags) {
  struct stat st;
  if (::stat(input_.c_str(), &st) < 0) throw_sys("import", display_);
  if (S_ISDIR(st.st_mode)) {
    UniqueFd dfd(::open(input_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dfd) throw_sys("open", display_);
    if (::faccessat(dfd.get(), "oci-layout", F_OK, 0) == 0) import_oci(dfd.get());
    else if (::faccessat(dfd.get(), "manifest.json", F_OK, 0) == 0 &&
             ::faccessat(dfd.get(), "bin", F_OK, AT_SYMLINK_NOFOLLOW) != 0)
      import_docker(dfd.get());
    else import_rootfs_dir();
  } else if (S_ISREG(st.st_mode)) {
    Kind k = sniff_tar(input_);
    if (k == Kind::RootfsTar) {
      import_rootfs_tar();
    } else {
      unpack_outer();
      UniqueFd dfd(::open((builder_.staging_dir() + "/input").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
      if (!dfd) throw_sys("open", builder_.staging_dir() + "/input");
      if (k == Kind::Oci) import_oci(dfd.get());
      else import_docker(dfd.get());
    }
  } else {
    throw Error("import " + display_ + ": not a regular file or directory");
  }
  tags = name ? std::vector<std::string>{normalize_ref(*name)} : found_tags_;
  return builder_.commit(tags);
}

}  // namespace hvrun::image
