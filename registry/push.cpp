#include "registry/push.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <nlohmann/json.hpp>
#include <thread>

#include "image/digest.hpp"
#include "image/layer.hpp"
#include "registry/sources.hpp"
#include "registry/target.hpp"
#include "util/error.hpp"
#include "util/fd.hpp"
#include "util/log.hpp"

namespace hvrun::registry {

using json = nlohmann::json;

namespace {

std::string with_digest(const std::string& location, const std::string& hex) {
  return location + (location.find('?') == std::string::npos ? "?" : "&") + "digest=sha256%3A" + hex;
}

bool blob_exists(Client& c, const Target& t, const std::string& hex) {
  Request r;
  r.method = "HEAD";
  r.target = "/v2/" + t.repo + "/blobs/sha256:" + hex;
  Response resp = c.send(r);
  if (resp.status == 200) return true;
  if (resp.status == 404) return false;
  c.fail(r, resp, "blob sha256:" + hex);
}

// Starts an upload session, or mounts the blob from `from` (returns "" then).
std::string start_upload(Client& c, const Target& t, const std::string& hex, const std::string& from) {
  Request r;
  r.method = "POST";
  r.target = "/v2/" + t.repo + "/blobs/uploads/";
  if (!from.empty()) r.target += "?mount=sha256%3A" + hex + "&from=" + from;
  Response resp = c.send(r);
  if (resp.status == 201 && !from.empty()) return "";
  if (resp.status != 202) c.fail(r, resp, "blob sha256:" + hex + ": start upload");
  std::string loc = resp.header("location");
  if (loc.empty()) throw Error(t.host + ": upload session without a Location");
  return loc;
}

void finish_upload(Client& c, const std::string& location, const std::string& hex, int fd, uint64_t size,
                   const std::string* body, const std::function<void(uint64_t)>& on_bytes) {
  Request r;
  r.method = "PUT";
  r.target = with_digest(location, hex);
  r.headers.push_back("Content-Type: application/octet-stream");
  if (body) {
    r.body = *body;
  } else {
    r.upload_fd = fd;
    r.upload_size = size;
    r.on_upload = on_bytes;
  }
  Response resp = c.send(r);
  if (resp.status != 201) c.fail(r, resp, "blob sha256:" + hex + ": upload");
}

std::string docker_layer_type(const std::string& oci, const std::string& what) {
  if (oci == image::kLayerTarGzip) return media::kDockerLayerGzip;
  if (oci == image::kLayerTar) return media::kDockerLayerTar;
  throw Error(what + ": a " + oci + " layer cannot go in a docker schema 2 manifest; push with --format oci");
}

}  // namespace

PushResult push(const image::Store& s, const std::string& local, const std::string& dest, const PushOptions& opt,
                Progress& progress) {
  if (opt.format != "oci" && opt.format != "docker" && opt.format != "v2s2")
    throw Error("--format " + opt.format + ": use oci or docker");
  bool docker = opt.format != "oci";
  Target t = target_of(dest);
  image::ImageRecord img = s.resolve(local);
  std::string config = s.config_blob(img);
  std::string chex = image::sha256_hex(config);

  struct Blob {
    image::LayerBlob lb;
    std::vector<std::string> from;
    size_t line = 0;
    std::string error;
  };
  std::vector<Blob> blobs;
  for (auto& d : img.layers) blobs.push_back(Blob{s.layer_blob(d), {}, 0, {}});
  Client c(t.host, opt.client);
  c.add_scope("repository:" + t.repo + ":pull,push");
  for (auto& b : blobs)
    for (auto& r : blob_sources(s, t.host, b.lb.digest))
      if (r != t.repo) {
        b.from.push_back(r);
        c.add_scope("repository:" + r + ":pull");
      }
  progress.message("The push refers to repository [" + t.host + "/" + t.repo + "]");
  try {
    c.ping();
  } catch (const Error& e) {
    if (t.host != registry_host("")) throw;
    throw Error(std::string(e.what()) + " (the name '" + dest + "' has no registry host, so it means Docker Hub; " +
                "name a registry: hvrun push IMAGE HOST[:PORT]/NAME[:TAG])");
  }
  for (auto& b : blobs) b.line = progress.add(b.lb.digest.substr(0, 12), "Preparing", b.lb.size);

  std::atomic<size_t> next{0};
  std::atomic<bool> abort{false};
  auto worker = [&] {
    for (;;) {
      size_t k = next.fetch_add(1);
      if (k >= blobs.size() || abort.load()) return;
      Blob& b = blobs[k];
      try {
        bool dup = false;
        for (size_t i = 0; i < k; ++i) dup |= blobs[i].lb.digest == b.lb.digest;
        if (dup || blob_exists(c, t, b.lb.digest)) {
          progress.status(b.line, "Layer already exists");
          continue;
        }
        // A mount that fails (202) opens an ordinary upload session: use it.
        std::string loc;
        bool mounted = false;
        if (!b.from.empty()) {
          loc = start_upload(c, t, b.lb.digest, b.from.front());
          mounted = loc.empty();
        }
        if (mounted) {
          progress.status(b.line, "Mounted from " + b.from.front());
          continue;
        }
        if (loc.empty()) loc = start_upload(c, t, b.lb.digest, "");
        UniqueFd fd(::open(b.lb.path.c_str(), O_RDONLY | O_CLOEXEC));
        if (!fd) throw_sys("open", b.lb.path);
        progress.status(b.line, "Waiting");
        finish_upload(c, loc, b.lb.digest, fd.get(), b.lb.size, nullptr,
                      [&](uint64_t n) { progress.bytes(b.line, "Pushing", n); });
        progress.status(b.line, "Pushed");
      } catch (const std::exception& e) {
        b.error = e.what();
        abort.store(true);
        return;
      }
    }
  };
  {
    std::vector<std::thread> threads;
    int n = std::max(1, std::min<int>(opt.parallel, static_cast<int>(blobs.size())));
    for (int i = 0; i < n && !blobs.empty(); ++i) threads.emplace_back(worker);
    for (auto& th : threads) th.join();
  }
  for (auto& b : blobs)
    if (!b.error.empty()) throw Error(t.name + ": " + b.error);

  if (!blob_exists(c, t, chex)) {
    std::string loc = start_upload(c, t, chex, "");
    finish_upload(c, loc, chex, -1, config.size(), &config, {});
  }
  json m;
  m["schemaVersion"] = 2;
  m["mediaType"] = docker ? media::kDockerManifest : media::kOciManifest;
  m["config"] = {{"mediaType", docker ? media::kDockerConfig : media::kOciConfig},
                 {"digest", "sha256:" + chex},
                 {"size", config.size()}};
  json layers = json::array();
  for (auto& b : blobs)
    layers.push_back({{"mediaType", docker ? docker_layer_type(b.lb.media_type, t.name) : b.lb.media_type},
                      {"digest", "sha256:" + b.lb.digest},
                      {"size", b.lb.size}});
  m["layers"] = layers;
  std::string body = m.dump(3);
  Request r;
  r.method = "PUT";
  r.target = "/v2/" + t.repo + "/manifests/" + t.tag;
  r.headers.push_back(std::string("Content-Type: ") + (docker ? media::kDockerManifest : media::kOciManifest));
  r.body = body;
  Response resp = c.send(r);
  if (resp.status != 201) c.fail(r, resp, t.name + ": manifest");
  PushResult res;
  res.name = t.name;
  res.digest = "sha256:" + image::sha256_hex(body);
  res.size = body.size();
  std::vector<std::string> hexes;
  for (auto& b : blobs) hexes.push_back(b.lb.digest);
  note_sources(s, t.host, t.repo, hexes);
  HVRUN_INFO("registry", "pushed ", t.name, " ", res.digest);
  return res;
}

}  // namespace hvrun::registry
