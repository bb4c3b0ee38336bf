// Safe layer extraction: a (possibly compressed) tar stream unpacked into a
// directory so that nothing outside that directory is ever written.
//
// Every path is resolved relative to the layer's directory fd with
// openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS); the last component is
// created with *at() calls that never follow it. So:
//   - absolute names are taken relative to the layer root; names whose
//     lexical ".." climbs above the root are rejected with an error;
//   - symlinks are stored as they are (any target; they are only ever
//     resolved inside the layer), and an entry written "through" a symlink
//     planted earlier in the same archive lands inside the layer;
//   - hard links must name an entry already inside the layer;
//   - an entry under a symlink that does not resolve to a directory inside
//     the layer is refused, naming the symlink and its target;
//   - device nodes and sockets are skipped (device nodes counted, for the
//     caller to say so), except 0:0 character devices (overlayfs
//     whiteouts); FIFOs are kept; setuid/setgid bits are kept;
//   - sparse files keep their holes; the sum of regular files' apparent
//     sizes is capped (max_size, and max_image_size with the layers before)
//     with a clear error; data is written only while the destination's file
//     system keeps min_free_space free (checked at least every 16 MiB);
//   - `.wh.NAME` becomes a 0:0 char device NAME, `.wh..wh..opq` sets
//     trusted.overlay.opaque=y on its directory (other `.wh..wh.*` names are
//     dropped); trusted.overlay.* xattrs in the archive are ignored.
#pragma once
#include <cstdint>
#include <set>
#include <string>

#include "image/extract.hpp"
#include "util/fd.hpp"

struct archive;

namespace hvrun::image {

struct ExtractResult {
  std::string diff_id;      // sha256 hex of the uncompressed tar stream
  std::string blob_digest;  // sha256 hex of the bytes as read (compressed)
  uint64_t size = 0;        // sum of regular files' apparent sizes
  uint64_t dropped_devices = 0;  // character/block device entries skipped
  // What went to keep_fd: its sha256 hex, bytes and OCI media type.
  std::string kept_digest;
  uint64_t kept_size = 0;
  std::string kept_media_type;
};

inline constexpr const char* kLayerTar = "application/vnd.oci.image.layer.v1.tar";
inline constexpr const char* kLayerTarGzip = "application/vnd.oci.image.layer.v1.tar+gzip";
inline constexpr const char* kLayerTarZstd = "application/vnd.oci.image.layer.v1.tar+zstd";

// Reads a tar (plain, gzip, zstd, xz, bzip2...) from src_fd and unpacks it
// into the directory dest_dirfd. `name` is used in error messages.
ExtractResult extract_tar(int src_fd, const std::string& name, int dest_dirfd, const ExtractOptions& opt = {});

// Writes `dir` as a deterministic pax tar to out_fd: entries sorted by name,
// numeric owners only, mtime in whole seconds, no atime/ctime, xattrs sorted
// (trusted.overlay.* left out), hard links kept, sockets and device nodes
// other than 0:0 whiteouts left out (as extract_tar would). Throws if the
// regular files' apparent sizes add up to more than max_size, or when
// writing would leave out_fd's file system with less than min_free_space.
// Returns how many device nodes were left out.
uint64_t write_dir_tar(const std::string& dir, int out_fd, uint64_t max_size = kDefaultMaxLayerSize,
                       uint64_t min_free_space = 0);

// write_dir_tar's tar with choices: an overlay directory as an OCI layer
// (`hvrun commit`): each 0:0 whiteout becomes an empty `.wh.NAME` entry and
// a directory with trusted.overlay.opaque=y gets a `.wh..wh..opq` entry
// right after its own; `exclude` names paths relative to `dir` ("etc/hosts")
// left out with what is under them.
struct LayerTarOptions {
  bool oci_whiteouts = true;
  std::set<std::string> exclude;
  // Owners from id_base to id_base + id_count - 1 are written less id_base:
  // a user-namespaced container's files as it saw them (host uid 100000 is
  // its root, 0 in the layer). 0: owners as they are.
  uint32_t id_base = 0, id_count = 0;
  uint64_t max_size = kDefaultMaxLayerSize;
  uint64_t min_free_space = 0;
};
uint64_t write_layer_tar(const std::string& dir, int out_fd, const LayerTarOptions& opt);

// `docker cp`'s tar of one path: the entry `base` of the directory
// `parent_dirfd` (already resolved safely: open_in_root), named `base`, and
// when it is a directory everything under it ("base/..."), as write_dir_tar
// writes them (symlinks stored, never followed; device nodes left out).
// `as`, when given, is the top entry's name in the tar instead of `base`.
// min_free_space as write_dir_tar's (out_fd a file: a scratch copy).
// id_base/id_count: as LayerTarOptions' (a user-namespaced container's files
// as it sees them).
void write_entry_tar(int parent_dirfd, const std::string& base, int out_fd, const std::string& as = "",
                     uint64_t min_free_space = 0, uint32_t id_base = 0, uint32_t id_count = 0);

// A tar of one regular file `name` holding `data` with permissions `mode`
// (the sandbox API's file write into a microVM, unpacked by its guest).
void write_file_tar(const std::string& name, const std::string& data, unsigned mode, int out_fd);

// Copies in_fd to its end into out_fd (an archive arriving on a pipe, for
// `image import -`), with the same limits as unpacking: more than max_bytes,
// or writing past min_free_space, throws naming `what`. Returns the bytes.
uint64_t spool(int in_fd, int out_fd, const std::string& what, uint64_t max_bytes, uint64_t min_free_space = 0);

// Enables gzip, bzip2, xz, lzma, zstd and lz4 (libarchive, in process) on a reader.
void support_compressions(struct archive* a);

}  // namespace hvrun::image
