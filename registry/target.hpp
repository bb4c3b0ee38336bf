// A reference as a registry sees it: host, repository path and tag, plus
// the OCI/docker media types the pull and push flows speak.
#pragma once
#include <string>

namespace hvrun::registry {

struct Target {
  std::string host;  // "127.0.0.1:5000"; Docker Hub: "registry-1.docker.io"
  std::string repo;  // "team/app"; Docker Hub's official images: "library/x"
  std::string tag;
  std::string name;  // normalized reference, the local tag ("127.0.0.1:5000/team/app:1")
};

// Throws "invalid reference format: ..." for anything that is not a reference.
Target target_of(const std::string& ref);

namespace media {
inline constexpr const char* kOciManifest = "application/vnd.oci.image.manifest.v1+json";
inline constexpr const char* kOciIndex = "application/vnd.oci.image.index.v1+json";
inline constexpr const char* kOciConfig = "application/vnd.oci.image.config.v1+json";
inline constexpr const char* kDockerManifest = "application/vnd.docker.distribution.manifest.v2+json";
inline constexpr const char* kDockerList = "application/vnd.docker.distribution.manifest.list.v2+json";
inline constexpr const char* kDockerConfig = "application/vnd.docker.container.image.v1+json";
inline constexpr const char* kDockerLayerGzip = "application/vnd.docker.image.rootfs.diff.tar.gzip";
inline constexpr const char* kDockerLayerTar = "application/vnd.docker.image.rootfs.diff.tar";
// Accept header for manifest GETs.
inline constexpr const char* kAcceptManifests =
    "Accept: application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, "
    "application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json";
// True for a layer media type hvrun can unpack (tar, gzip, zstd; OCI or docker).
bool is_layer_type(const std::string& mt);
}  // namespace media

}  // namespace hvrun::registry
