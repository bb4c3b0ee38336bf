// The OCI / docker image JSON documents: descriptors, indexes, manifests and
// the image config, read with errors that name what was being read.
#pragma once
#include <cstddef>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "image/record.hpp"

namespace hvrun::image {

inline constexpr size_t kMaxJsonBlob = 16u << 20;  // a manifest, index or config
inline constexpr const char* kDefaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

// The OCI platform name of this machine's architecture ("amd64", "arm64").
std::string host_arch();
// The 12-digit form of an id that `images` and `ps` show.
std::string short_id(const std::string& id);
// "sha256:abc" -> "abc"; anything else unchanged.
std::string strip_sha(const std::string& s);
// The hex of a descriptor's sha256 digest; throws naming `what` otherwise.
std::string digest_hex(const nlohmann::json& desc, const std::string& what);
nlohmann::json parse_json(const std::string& text, const std::string& what);
// All of fd, refusing more than `limit` bytes.
std::string read_fd_all(int fd, const std::string& name, size_t limit);
// An OCI image index or a docker manifest list.
bool is_index_type(const std::string& media_type);
// The run-time part of an image config ("config": Env, Cmd, ...).
ImageConfig config_from(const nlohmann::json& cfg);
// rootfs.diff_ids as hex, bottom first.
std::vector<std::string> diff_ids_of(const nlohmann::json& cfg, const std::string& what);

}  // namespace hvrun::image
