// What a container changed: its overlay upper directory against the image's
// layers, as `docker diff` lists it (A added, C changed, D deleted), and the
// upper directory as an OCI layer (image/layer.hpp write_layer_tar).
#pragma once
#include <set>
#include <string>
#include <vector>

namespace hvrun::image {

struct Change {
  char kind = 'C';   // 'A', 'C' or 'D'
  std::string path;  // absolute inside the container: "/etc/passwd"
};

// The changes in `upper` (an overlay upper dir, or a layer dir in the same
// format: whiteouts as 0:0 char devices, opaque dirs as
// trusted.overlay.opaque=y) over `lowers` (top layer first), in docker's
// order: a depth-first walk with names sorted, parents before children.
// Like docker's overlay driver: a whiteout is D; an opaque directory that
// hid a lower one is D and what it holds now A; an entry that exists below
// is C (a directory only when its mode, size or mtime differs, or when
// something directly in it was added or deleted); anything else A.
// `skip`: paths relative to upper ("etc/hosts") left out as if not there
// (files hvrun itself wrote, such as /etc/hosts); a directory listed as C
// only because of them is left out too.
std::vector<Change> upper_changes(const std::string& upper, const std::vector<std::string>& lowers,
                                  const std::set<std::string>& skip = {});

// "C /etc", one per line.
std::string format_changes(const std::vector<Change>& changes);

}  // namespace hvrun::image
