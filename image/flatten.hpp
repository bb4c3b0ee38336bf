// Flattened ext4 disk of an image, for VM mode.
#pragma once
#include <string>

#include "image/store.hpp"

namespace hvrun::image {

// Returns ROOT/vmdisks/<image-id>.ext4, building it on first use: the image's
// layers are merged bottom-first into a staging dir (files hard-linked from
// the layers, whiteouts and opaque dirs applied), then
// `mkfs.ext4 -q -d STAGING -L hvrun-image FILE SIZE` with
// SIZE = content * 1.3 + 16 MiB. Written to a temp name and renamed, so a
// crash never leaves a partial disk under the final name. Removed with the
// image (Store::remove).
std::string ensure_vm_disk(const Store& store, const ImageRecord& img);

// Formats `disk` (made or truncated) as ext4 holding a copy of the directory
// `tree` (`mkfs.ext4 -d`), sized as ensure_vm_disk's. hvrun-oci's microVMs
// boot on a disk of their bundle's root made this way.
void make_tree_disk(const std::string& tree, const std::string& disk, const std::string& label);

// Merges one layer directory (overlay format) onto dst: exposed for tests.
void apply_layer(const std::string& layer_dir, const std::string& dst);

}  // namespace hvrun::image
