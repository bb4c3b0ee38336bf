// The image store: content-addressed layers, images and tags under one root
// (default /var/lib/hvrun, overridden by --root or HVRUN_ROOT).
//
// Layout (shared with the engine, which owns containers/):
//   ROOT/lock                    flock: exclusive for writers, shared for readers
//   ROOT/layers/<sha256>/diff/   unpacked layer, overlay-ready (whiteouts as
//                                0:0 char devices, opaque dirs as xattr)
//   ROOT/layers/<sha256>/layer.json  {"diff_id", "size", "blob": {"digest",
//                                "size", "media_type"}}
//   ROOT/layers/<sha256>/blob    the layer as distributed: the tar as it came
//                                (plain, gzip or zstd) or, for other
//                                compressions, decompressed; save and push
//                                send it, so digests survive a round trip
//   ROOT/images/<image-id>/image.json   ImageRecord
//   ROOT/repositories.json       {"name:tag": "<image-id>"}
//   ROOT/containers/<id>/config.json    written by the engine; holds "image_id"
//   ROOT/images/<image-id>/config.json  the image config blob (OCI/docker
//                                JSON; its sha256 is the image id)
//   ROOT/vmdisks/<image-id>.ext4 flattened disk for VM mode (image/flatten.hpp)
//   ROOT/tmp/                    staging; an import killed half-way leaves
//                                only garbage here, cleaned at next mutation
//
// Layer digests: a layer is named by the sha256 of its uncompressed tar
// stream (its OCI "diff id"). A directory import is turned into one
// deterministic pax tar first (see write_dir_tar in image/layer.hpp), so the
// same tree always gets the same digest. Rootfs tar/dir imports get a
// generated config without timestamps: importing the same content twice
// gives the same image id.
//
// Commit protocol: an import unpacks into ROOT/tmp/<n>/ (holding a flock on
// ROOT/tmp/<n>.lock) without the store lock, then under the exclusive store
// lock renames layers into ROOT/layers/, the image directory into
// ROOT/images/ (the record is written last, inside it) and finally rewrites
// repositories.json atomically.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "image/record.hpp"
#include "image/reference.hpp"

namespace hvrun::image {

inline constexpr uint64_t kDefaultMaxImageSize = 128ull << 30;  // 128 GiB
inline constexpr uint64_t kDefaultMinFreeSpace = 128ull << 20;  // 128 MiB

// A layer as distributed (save, push): the bytes whose sha256 a manifest
// names, kept since the layer came into the store.
struct LayerBlob {
  std::string path;        // ROOT/layers/<diff id>/blob
  std::string digest;      // sha256 hex
  uint64_t size = 0;       // bytes
  std::string media_type;  // application/vnd.oci.image.layer.v1.tar[+gzip|+zstd]
};

// What an import did that the user should hear about (one warning line).
struct ImportNotes {
  uint64_t dropped_devices = 0;  // device-node entries left out (containers get /dev from a tmpfs)
};

class Store {
 public:
  explicit Store(std::string root);
  // --root flag value if non-empty, else $HVRUN_ROOT, else /var/lib/hvrun.
  static std::string default_root(const std::string& flag = "");

  const std::string& root() const { return root_; }

  // Imports a rootfs tar (plain/gz/zstd/xz), a directory, an OCI layout
  // (dir or tar) or a `docker save` tar. Atomic: all or nothing (a refused
  // import leaves the store as it was). `notes`, when given, gets what the
  // caller should tell the user (device nodes left out).
  ImageRecord import(const std::string& path, const std::optional<std::string>& name, ImportNotes* notes = nullptr);
  std::vector<ImageRecord> list() const;
  // By "name[:tag]", full id, or unique id prefix. Throws "no such image: X".
  ImageRecord resolve(const std::string& ref) const;
  void tag(const std::string& src, const std::string& dst);
  // Removes a tag; the image itself when its last tag goes. Refused while a
  // container uses the image (unless force). Returns what was removed.
  std::vector<std::string> remove(const std::string& ref, bool force = false);

  // Overlay lowerdirs for an image: top layer first.
  std::vector<std::string> layer_dirs(const ImageRecord& img) const;

  // The layer's kept blob. Throws for a layer stored before blobs were kept
  // (re-import or pull the image to get one).
  LayerBlob layer_blob(const std::string& diff_id) const;

  // The image's config blob as stored (JSON text).
  std::string config_blob(const ImageRecord& img) const;

  // Cap on a layer's unpacked size (sum of regular files' apparent sizes).
  // Default: $HVRUN_MAX_LAYER_SIZE (bytes, or with a K/M/G/T suffix), else 64 GiB.
  void set_max_layer_size(uint64_t bytes) { max_layer_size_ = bytes; }
  uint64_t max_layer_size() const { return max_layer_size_; }
  // Cap on an image's unpacked size (all its layers together).
  // Default: $HVRUN_MAX_IMAGE_SIZE (same syntax), else 128 GiB.
  void set_max_image_size(uint64_t bytes) { max_image_size_ = bytes; }
  uint64_t max_image_size() const { return max_image_size_; }
  // Free space an import leaves on the store's file system: it stops with
  // an error before the disk would have less. Default: $HVRUN_MIN_FREE_SPACE
  // (same syntax; 0 turns the check off), else 128 MiB.
  void set_min_free_space(uint64_t bytes) { min_free_space_ = bytes; }
  uint64_t min_free_space() const { return min_free_space_; }

  std::string lock_path() const { return root_ + "/lock"; }
  std::string tmp_dir() const { return root_ + "/tmp"; }
  std::string layer_dir(const std::string& diff_id) const { return root_ + "/layers/" + diff_id; }
  std::string image_dir(const std::string& id) const { return root_ + "/images/" + id; }

 private:
  ImageRecord resolve_locked(const std::string& ref) const;
  ImageRecord import_from(const std::string& path, const std::string& display, const std::optional<std::string>& name,
                          ImportNotes* notes);
  void ensure_layout() const;

  std::string root_;
  uint64_t max_layer_size_;
  uint64_t max_image_size_;
  uint64_t min_free_space_;
};

// What keeps an image: each container record (ROOT/containers/ID/
// config.json, records being created included) and each VM snapshot
// (ROOT/snapshots/NAME/snapshot.json: a restore needs the image's disk),
// as {"container ID" or "snapshot NAME", image id}. A record that cannot
// be read (being written or removed) is left out.
std::vector<std::pair<std::string, std::string>> image_users(const std::string& store_root);

}  // namespace hvrun::image
