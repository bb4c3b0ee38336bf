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
#include <optional>
#include <string>
#include <vector>

#include "image/changes.hpp"

namespace hvrun::engine {

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
