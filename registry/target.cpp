#include "registry/target.hpp"

#include "image/reference.hpp"
#include "registry/client.hpp"

namespace hvrun::registry {

Target target_of(const std::string& ref) {
  image::Reference r = image::parse_reference(ref);
  Target t;
  t.host = registry_host(r.domain);
  t.repo = r.path;
  if (r.domain.empty() && t.repo.find('/') == std::string::npos) t.repo = "library/" + t.repo;
  t.tag = r.tag;
  t.name = r.str();
  return t;
}

bool media::is_layer_type(const std::string& mt) {
  return mt == "application/vnd.oci.image.layer.v1.tar" || mt == "application/vnd.oci.image.layer.v1.tar+gzip" ||
         mt == "application/vnd.oci.image.layer.v1.tar+zstd" || mt == kDockerLayerGzip || mt == kDockerLayerTar ||
         mt == "application/vnd.docker.image.rootfs.diff.tar.zstd";
}

}  // namespace hvrun::registry
