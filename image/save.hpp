// Images out of the store as an archive (`hvrun save`): a docker archive
// (manifest.json with RepoTags, what `docker load` and `podman load` read),
// an OCI layout as a tar (oci-archive) or as a directory (oci-dir).
//
// The layer blobs are the ones each layer came with (Store::layer_blob) and
// the config blob is the stored one, byte for byte: image ids and layer
// digests survive a save and load. Each blob is hashed on the way out and
// the save fails if it no longer matches its digest. The output is
// deterministic (sorted JSON, entries in a fixed order, mtime 0, owner 0:0):
// the same images saved twice give the same bytes.
#pragma once
#include <string>
#include <vector>

#include "image/store.hpp"

namespace hvrun::image {

enum class SaveFormat { DockerArchive, OciArchive, OciDir };

// "docker-archive", "oci-archive" or "oci-dir"; throws naming the choices.
SaveFormat parse_save_format(const std::string& name);

// The name as a fully qualified reference ("bb:1" -> "docker.io/library/bb:1"),
// as OCI annotations and containerd write it.
std::string full_name(const std::string& normalized_ref);

// Writes the images `refs` name to `out`: a file (written beside it and
// renamed into place, so a failed save leaves no partial file and keeps what
// was there), "-" for stdout (archives only), or a new directory for oci-dir
// (refused when it exists and is not empty). An image named by name[:tag]
// carries that name; one named by id carries none (as with docker).
void save_images(const Store& s, const std::vector<std::string>& refs, SaveFormat format, const std::string& out);

}  // namespace hvrun::image
