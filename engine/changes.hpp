// A container's changes to its image: listed (`hvrun diff`), made into a new
// image (`hvrun commit`), or its whole filesystem as a tar (`hvrun export`).
//
// Container mode reads the overlay upper directory (ROOT/containers/<id>/
// upper) against the image's layers. VM mode reads the upper directory kept
// on the VM's writable disk (vm-rw.ext4, /upper inside) without mounting it
// (engine/vm_changes.hpp). Files hvrun itself wrote into the container
// (/etc/hosts, /etc/resolv.conf, /etc/hostname on a network) are not
// changes, as in Docker, where they are bind mounts.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "image/changes.hpp"

namespace hvrun::engine {

// "/a/b/" -> {"/a", "b"}; "/" -> {"/", "."}. Lexical only ("..", "." and
// empty components folded): what the components mean is resolved inside a
// root by whoever opens them (cp, a volume's copy-up).
std::pair<std::string, std::string> split_container_path(const std::string& path);

std::vector<image::Change> container_diff(const std::string& store_root, const std::string& ref);

struct CommitOptions {
  std::string message;                   // -m: the history entry's comment
  std::string author;                    // --author
  std::vector<std::string> changes;      // -c: Dockerfile instructions
  bool pause = true;                     // -p: freeze a running container while its files are read
  std::optional<std::string> reference;  // REPO[:TAG]
  // The history entry's created_by; default: the container's command.
  std::optional<std::string> created_by;
};
// Returns the new image id (hex). Everything the user gave (reference, -c)
// is checked before anything is read or written.
std::string commit_container(const std::string& store_root, const std::string& ref, const CommitOptions& opts);

// Writes the container's merged filesystem as a tar to out_fd.
void export_container(const std::string& store_root, const std::string& ref, int out_fd);

}  // namespace hvrun::engine

namespace hvrun::engine {

// hvrun cp (and the API's /containers/ID/archive): a path of the
// container's file system, resolved inside its root (openat2
// RESOLVE_IN_ROOT: a symlink planted in the container never leads out).
// A running container-mode container is read and written through its own
// root (its tmpfs and volumes included), frozen meanwhile (Docker's answer
// to symlink races); a stopped one through its overlay, mounted in a
// private mount namespace; a microVM's files are read from its writable
// disk (frozen while copied, as commit), and written while it runs by its
// guest-init, which unpacks the archive inside the container's root
// (engine/vm_exec.hpp extract_in_vm), and while it does not run through
// its disk: a copy, its upper copied out, written as a stopped container's,
// written back (engine/vm_changes.hpp write_back_to_ext4), then put in place.
struct PathInfo {
  std::string name;         // the last component ("/" for the root)
  uint32_t mode = 0;        // st_mode
  int64_t size = 0;
  int64_t mtime = 0;        // seconds
  std::string link_target;  // a symlink's
};
// Throws Error "no such file or directory in container X: PATH".
PathInfo stat_in_container(const std::string& store_root, const std::string& ref, const std::string& path);
// A tar of `path` to out_fd: one entry named by its last component and,
// for a directory, what is under it.
// out_fd a file: min_free_space is kept free on its file system.
void copy_from_container(const std::string& store_root, const std::string& ref, const std::string& path, int out_fd,
                         uint64_t min_free_space = 0);
// Unpacks the tar read from in_fd into the container's directory `dir`
// (which must exist), as an image layer is unpacked (image/layer.hpp:
// nothing is written outside `dir`; device nodes are skipped).
// no_dir_swap: Docker's noOverwriteDirNonDir (image/layer.hpp).
void copy_into_container(const std::string& store_root, const std::string& ref, const std::string& dir, int in_fd,
                         bool no_dir_swap = false);

// One regular file's bytes (the sandbox API's files), resolved as above:
// read (at most max_bytes, else Error "... larger than"), or written
// (created or replaced, `mode`, owned by the container's root; its
// directory must exist).
std::string read_file_in_container(const std::string& store_root, const std::string& ref, const std::string& path,
                                   size_t max_bytes);
void write_file_in_container(const std::string& store_root, const std::string& ref, const std::string& path,
                             const std::string& data, unsigned mode = 0644);

}  // namespace hvrun::engine
