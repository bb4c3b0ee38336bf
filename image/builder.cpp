#include "image/builder.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>

#include "image/digest.hpp"
#include "image/layer.hpp"
#include "image/oci.hpp"
#include "image/store_records.hpp"
#include "util/error.hpp"
#include "util/fd.hpp"
#include "util/fs.hpp"
#include "util/lock.hpp"

namespace hvrun::image {

using json = nlohmann::json;

namespace {

// The unpacked size of the layers staged so far.
uint64_t total_size(const std::vector<StagedLayer>& layers) {
  uint64_t n = 0;
  for (auto& l : layers) n += l.size;
  return n;
}

}  // namespace

ImageBuilder::ImageBuilder(const Store& s, std::string what) : s_(s), what_(std::move(what)), stage_(s) {
  mkdir_p(stage_.path() + "/layers");
}

const StagedLayer& ImageBuilder::add_layer(int fd, const std::string& what, const std::string& want_blob,
                                           const std::string& want_diff) {
  if (!want_diff.empty() && path_exists(s_.layer_dir(want_diff) + "/layer.json")) {
    // Already in the store: verify the blob without unpacking it again.
    std::string got = sha256_fd(fd, what);
    std::string want = want_blob.empty() ? want_diff : want_blob;
    if (got == want) {
      StagedLayer st{want_diff, 0, false};
      try {
        st.size = parse_json(read_file(s_.layer_dir(want_diff) + "/layer.json"), "layer.json").value("size", 0ull);
      } catch (const std::exception&) {
      }
      if (uint64_t before = total_size(layers_); st.size > s_.max_image_size() || before > s_.max_image_size() - st.size)
        throw Error(what + ": image too large: the unpacked size of its layers would exceed the limit of " +
                    std::to_string(s_.max_image_size()) + " bytes (set HVRUN_MAX_IMAGE_SIZE to change it)");
      layers_.push_back(st);
      return layers_.back();
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
  // The layer as distributed, kept beside its unpacked tree (save and push
  // give back the very digests an image came with).
  UniqueFd keep(::open((dir + "/blob").c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!keep) throw_sys("create", dir + "/blob");
  opt.keep_fd = keep.get();
  ExtractResult res = extract_tar(fd, what, dfd.get(), opt);
  keep.reset();
  dropped_devices_ += res.dropped_devices;
  if (!want_blob.empty() && res.blob_digest != want_blob)
    throw Error(what + ": digest mismatch: manifest says sha256:" + want_blob + ", content is sha256:" +
                res.blob_digest);
  if (!want_diff.empty() && res.diff_id != want_diff)
    throw Error(what + ": diff id mismatch: image config says sha256:" + want_diff + ", layer is sha256:" +
                res.diff_id);
  json lj = {{"diff_id", "sha256:" + res.diff_id},
             {"size", res.size},
             {"blob", {{"digest", "sha256:" + res.kept_digest}, {"size", res.kept_size}, {"media_type", res.kept_media_type}}}};
  write_file_atomic(dir + "/layer.json", lj.dump() + "\n");
  std::string final_dir = stage_.path() + "/layers/" + res.diff_id;
  if (path_exists(final_dir)) remove_all(dir);  // same layer twice in one image
  else if (::rename(dir.c_str(), final_dir.c_str()) < 0) throw_sys("rename", dir);
  layers_.push_back(StagedLayer{res.diff_id, res.size, true});
  return layers_.back();
}

const StagedLayer& ImageBuilder::reuse_layer(const std::string& diff_id) {
  std::string lj = s_.layer_dir(diff_id) + "/layer.json";
  if (!path_exists(lj)) throw Error(what_ + ": layer sha256:" + diff_id + " is not in the store");
  StagedLayer st{diff_id, 0, false};
  try {
    st.size = parse_json(read_file(lj), lj).value("size", 0ull);
  } catch (const std::exception&) {
  }
  layers_.push_back(st);
  return layers_.back();
}

void ImageBuilder::default_config() {
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

void ImageBuilder::set_config(const std::string& blob, const std::string& what) {
  config_ = parse_json(blob, what);
  if (!config_.is_object()) throw Error(what + ": image config is not a JSON object");
  config_blob_ = blob;
}

std::string ImageBuilder::commit(const std::vector<std::string>& tags) {
  const std::string id = sha256_hex(config_blob_);
  ImageRecord rec;
  rec.id = id;
  for (auto& l : layers_) {
    rec.layers.push_back(l.diff_id);
    rec.size += l.size;
  }
  rec.config = config_from(config_);
  rec.parent = parent_;
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
      throw Error(what_ + ": layer sha256:" + l.diff_id + " was removed from the store meanwhile; retry");
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
  return id;
}

}  // namespace hvrun::image
