// Image archives into the store (`hvrun load`): a docker archive (docker
// save, podman save, hvrun save), an OCI layout as a tar or a directory.
// Every image in the archive is loaded with the names it carries; a root
// file system tar is refused (that is `hvrun image import`).
#pragma once
#include <string>
#include <vector>

#include "image/importer.hpp"
#include "image/store.hpp"

namespace hvrun::image {

// `path` "-" reads the archive from stdin (spooled into the store's tmp).
// All or nothing: a bad archive adds nothing and changes nothing.
std::vector<ImportedImage> load_images(const Store& s, const std::string& path, ImportNotes* notes = nullptr);

}  // namespace hvrun::image
