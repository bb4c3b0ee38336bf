#include "registry/pull.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <nlohmann/json.hpp>
#include <thread>

#include "image/builder.hpp"
#include "image/digest.hpp"
#include "image/oci.hpp"
#include "image/store_records.hpp"
#include "registry/blob_lock.hpp"
#include "registry/sources.hpp"
#include "registry/target.hpp"
#include "util/error.hpp"
#include "util/fd.hpp"
#include "util/fs.hpp"
#include "util/lock.hpp"
#include "util/log.hpp"

namespace hvrun::registry {

using json = nlohmann::json;

namespace {

std::string strip_params(const std::string& ct) {
  std::string s = ct.substr(0, ct.find(';'));
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s;
}

struct Manifest {
  json doc;
  std::string media_type;
  std::string digest;  // hex of the body
};

// GET /v2/<repo>/manifests/<ref>; `want_hex`, when set, must be the body's sha256.
Manifest get_manifest(Client& c, const Target& t, const std::string& ref, const std::string& want_hex) {
  Request r;
  r.target = "/v2/" + t.repo + "/manifests/" + ref;
  r.headers.push_back(media::kAcceptManifests);
  r.max_body = image::kMaxJsonBlob;
  Response resp = c.send(r);
  std::string what = t.host + "/" + t.repo + (want_hex.empty() ? ":" + ref : "@" + ref);
  if (resp.status != 200) c.fail(r, resp, what);
  Manifest m;
  m.digest = image::sha256_hex(resp.body);
  if (!want_hex.empty() && m.digest != want_hex)
    throw Error(what + ": digest mismatch: asked for sha256:" + want_hex + ", the registry sent sha256:" + m.digest);
  std::string dh = resp.header("docker-content-digest");
  if (want_hex.empty() && dh.rfind("sha256:", 0) == 0 && dh.substr(7) != m.digest)
    throw Error(what + ": digest mismatch: the registry says " + dh + ", the manifest is sha256:" + m.digest);
  m.doc = image::parse_json(resp.body, what + ": manifest");
  if (!m.doc.is_object()) throw Error(what + ": manifest is not a JSON object");
  m.media_type = strip_params(resp.header("content-type"));
  std::string body_mt = m.doc.value("mediaType", "");
  if (!body_mt.empty()) m.media_type = body_mt;
  if (m.media_type.empty() || m.media_type == "application/json" || m.media_type == "text/plain") {
    // Neither the header nor the body says: guess from the shape.
    if (m.doc.contains("manifests")) m.media_type = media::kOciIndex;
    else if (m.doc.contains("config") && m.doc.contains("layers")) m.media_type = media::kOciManifest;
  }
  bool known = m.media_type == media::kOciManifest || m.media_type == media::kDockerManifest ||
               image::is_index_type(m.media_type);
  if (!known)
    throw Error(what + ": unsupported manifest media type '" + m.media_type +
                "' (hvrun reads OCI and docker schema 2 manifests and indexes)");
  return m;
}

// The entry of an index for linux/<host arch>.
std::string pick_platform(const json& index, const std::string& what) {
  if (!index.contains("manifests") || !index["manifests"].is_array())
    throw Error(what + ": image index lists no manifests");
  std::string arch = image::host_arch();
  std::vector<std::string> seen;
  for (auto& m : index["manifests"]) {
    if (!m.is_object() || !m.contains("platform") || !m["platform"].is_object()) continue;
    auto& p = m["platform"];
    std::string os = p.value("os", ""), a = p.value("architecture", "");
    seen.push_back(os + "/" + a);
    if (os == "linux" && a == arch) return image::digest_hex(m, what + ": index entry");
  }
  std::string list;
  for (auto& s : seen) list += (list.empty() ? "" : ", ") + s;
  throw Error(what + ": no image for linux/" + arch + " in the index (it has: " + (list.empty() ? "none" : list) + ")");
}

// Downloads a blob into `path`, verifying its sha256 and size as it comes.
void download_blob(Client& c, const Target& t, const std::string& hex, uint64_t size, const std::string& path,
                   const std::function<void(uint64_t)>& on_bytes, const std::atomic<bool>& abort) {
  UniqueFd out(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (!out) throw_sys("create", path);
  image::Sha256 sha;
  uint64_t got = 0;
  std::string what = "layer sha256:" + hex;
  bool over = false;
  Request r;
  r.target = "/v2/" + t.repo + "/blobs/sha256:" + hex;
  r.sink = [&](const char* p, size_t n) {
    if (abort.load()) return false;
    got += n;
    if (size && got > size) {
      over = true;
      return false;
    }
    sha.update(p, n);
    if (!write_all(out.get(), p, n)) throw_sys("write", path);
    if (on_bytes) on_bytes(got);
    return true;
  };
  Response resp;
  try {
    resp = c.send(r);
  } catch (const Error&) {
    if (over) throw Error(what + ": the registry sent more than the " + std::to_string(size) + " bytes the manifest says");
    if (abort.load()) throw Error("aborted");
    throw;
  }
  if (resp.status != 200) c.fail(r, resp, what);
  std::string dig = sha.hex();
  if (dig != hex)
    throw Error(what + ": digest mismatch: the manifest says sha256:" + hex + ", the registry sent sha256:" + dig +
                " (nothing was stored)");
  if (size && got != size)
    throw Error(what + ": size mismatch: the manifest says " + std::to_string(size) + " bytes, the registry sent " +
                std::to_string(got));
}

// The store's directories, and what a killed import or pull left in tmp/
// cleaned (under the exclusive store lock, as every mutation does).
void prepare_store(const image::Store& s) {
  for (const char* sub : {"", "/layers", "/images", "/tmp"}) mkdir_p(s.root() + sub, 0700);
  FileLock lock(s.lock_path(), FileLock::Mode::Exclusive);
  image::tidy(s);
}

struct LayerJob {
  std::string hex, diff, media_type;
  uint64_t size = 0;
  size_t line = 0;
  bool reuse = false;
  std::string file;
  // download state
  bool done = false;
  std::string error;
};

}  // namespace

PullResult pull(const image::Store& s, const std::string& ref, const PullOptions& opt, Progress& progress) {
  Target t = target_of(ref);
  PullResult res;
  res.name = t.name;
  Client c(t.host, opt.client);
  c.add_scope("repository:" + t.repo + ":pull");
  std::string what = t.host + "/" + t.repo + ":" + t.tag;

  Manifest top;
  try {
    top = get_manifest(c, t, t.tag, "");
  } catch (const Error& e) {
    // "busybox" means Docker Hub: say so when it cannot be reached.
    if (t.host != registry_host("") || std::string(e.what()).find("/v2/:") == std::string::npos) throw;
    throw Error(std::string(e.what()) + " (the name '" + ref + "' has no registry host, so it means Docker Hub; " +
                "name a registry: HOST[:PORT]/NAME[:TAG])");
  }
  res.digest = "sha256:" + top.digest;
  Manifest man = top;
  if (image::is_index_type(top.media_type)) {
    std::string hex = pick_platform(top.doc, what);
    man = get_manifest(c, t, "sha256:" + hex, hex);
    if (image::is_index_type(man.media_type)) throw Error(what + ": nested image indexes are not supported");
  }
  if (!man.doc.contains("config") || !man.doc["config"].is_object() || !man.doc.contains("layers") ||
      !man.doc["layers"].is_array())
    throw Error(what + ": manifest has no config or layers");
  progress.message(t.tag + ": Pulling from " + t.repo);

  // The config, verified.
  std::string chex = image::digest_hex(man.doc["config"], what + ": config descriptor");
  std::string config;
  {
    Request r;
    r.target = "/v2/" + t.repo + "/blobs/sha256:" + chex;
    r.max_body = image::kMaxJsonBlob;
    Response resp = c.send(r);
    if (resp.status != 200) c.fail(r, resp, what + ": image config");
    std::string got = image::sha256_hex(resp.body);
    if (got != chex)
      throw Error(what + ": image config: digest mismatch: the manifest says sha256:" + chex + ", the registry sent sha256:" + got +
                  " (nothing was stored)");
    config = std::move(resp.body);
  }
  prepare_store(s);
  image::ImageBuilder builder(s, what);
  builder.set_config(config, what + ": image config");
  std::vector<std::string> diffs = image::diff_ids_of(builder.config(), what + ": image config");
  const json& layers = man.doc["layers"];
  if (diffs.size() != layers.size())
    throw Error(what + ": the manifest lists " + std::to_string(layers.size()) + " layers but the image config has " +
                std::to_string(diffs.size()) + " diff ids");

  std::vector<LayerJob> jobs(layers.size());
  for (size_t i = 0; i < layers.size(); ++i) {
    LayerJob& j = jobs[i];
    j.hex = image::digest_hex(layers[i], what + ": layer descriptor");
    j.diff = diffs[i];
    j.media_type = layers[i].value("mediaType", "");
    j.size = layers[i].value("size", 0ull);
    if (j.media_type.find("nondistributable") != std::string::npos || j.media_type.find("foreign") != std::string::npos)
      throw Error(what + ": layer sha256:" + j.hex + " is a foreign layer (" + j.media_type + "), not served by the registry");
    if (!media::is_layer_type(j.media_type))
      throw Error(what + ": layer sha256:" + j.hex + ": unsupported layer media type '" + j.media_type + "'");
    j.reuse = path_exists(s.layer_dir(j.diff) + "/layer.json");
  }
  // Per-blob locks in one global order (sorted), so that two pulls never
  // wait on each other crosswise; then look again: whoever held a lock may
  // have committed that layer meanwhile.
  std::vector<size_t> order;
  for (size_t i = 0; i < jobs.size(); ++i)
    if (!jobs[i].reuse) order.push_back(i);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return jobs[a].hex < jobs[b].hex; });
  std::vector<BlobLock> locks;
  std::string last;
  for (size_t i : order) {
    if (jobs[i].hex == last) continue;
    last = jobs[i].hex;
    locks.emplace_back(s.tmp_dir(), jobs[i].hex, [&] {
      progress.message(jobs[i].hex.substr(0, 12) + ": Waiting (another pull is downloading this layer)");
    });
  }
  for (auto& j : jobs) {
    if (!j.reuse) j.reuse = path_exists(s.layer_dir(j.diff) + "/layer.json");
    j.line = progress.add(j.hex.substr(0, 12), j.reuse ? "Already exists" : "Pulling fs layer", j.size);
  }
  // Is this very image already here under this name?
  bool have_image = path_exists(s.image_dir(image::sha256_hex(config)) + "/image.json");

  // Downloads: a few workers; the main thread unpacks in order.
  std::mutex mu;
  std::condition_variable cv;
  std::atomic<bool> abort{false};
  std::atomic<size_t> next{0};
  std::vector<size_t> todo;
  for (size_t i = 0; i < jobs.size(); ++i)
    if (!jobs[i].reuse) {
      // The same blob twice in one image: one download.
      bool dup = false;
      for (size_t k : todo) dup |= jobs[k].hex == jobs[i].hex;
      if (!dup) todo.push_back(i);
      jobs[i].file = builder.staging_dir() + "/download-" + jobs[i].hex;
    }
  auto worker = [&] {
    for (;;) {
      size_t k = next.fetch_add(1);
      if (k >= todo.size() || abort.load()) return;
      LayerJob& j = jobs[todo[k]];
      std::string err;
      try {
        // A broken connection or a 5xx is tried again (twice, after 1 and
        // 2 s), as docker does; a digest mismatch is not.
        for (int attempt = 1;; ++attempt) {
          try {
            download_blob(c, t, j.hex, j.size, j.file, [&](uint64_t n) { progress.bytes(j.line, "Downloading", n); }, abort);
            break;
          } catch (const TransientError& e) {
            if (attempt >= 3 || abort.load()) throw;
            HVRUN_INFO("registry", "layer ", j.hex, ": ", e.what(), "; retrying");
            progress.status(j.line, "Retrying in " + std::to_string(attempt) + " second" + (attempt > 1 ? "s" : ""));
            for (int k = 0; k < attempt * 10 && !abort.load(); ++k) std::this_thread::sleep_for(std::chrono::milliseconds(100));
          }
        }
        progress.status(j.line, "Download complete");
      } catch (const std::exception& e) {
        err = e.what();
        abort.store(true);
      }
      std::lock_guard<std::mutex> g(mu);
      for (auto& o : jobs)
        if (o.hex == j.hex && !o.reuse) {
          o.done = true;
          o.error = err;
        }
      cv.notify_all();
    }
  };
  std::vector<std::thread> threads;
  struct Joiner {
    std::vector<std::thread>& th;
    std::atomic<bool>& abort;
    ~Joiner() {
      abort.store(true);
      for (auto& x : th)
        if (x.joinable()) x.join();
    }
  } joiner{threads, abort};
  int n = std::max(1, std::min<int>(opt.parallel, static_cast<int>(todo.size())));
  for (int i = 0; i < n && !todo.empty(); ++i) threads.emplace_back(worker);

  for (size_t i = 0; i < jobs.size(); ++i) {
    LayerJob& j = jobs[i];
    if (j.reuse) {
      builder.reuse_layer(j.diff);
      continue;
    }
    {
      std::unique_lock<std::mutex> g(mu);
      // Done, or some download failed ("aborted" only follows a real error:
      // wait for that one, to report it).
      auto failed = [&]() -> const LayerJob* {
        for (auto& o : jobs)
          if (o.done && !o.error.empty() && o.error != "aborted") return &o;
        return nullptr;
      };
      cv.wait(g, [&] { return (j.done && j.error.empty()) || failed(); });
      if (const LayerJob* f = failed()) throw Error(what + ": " + f->error);
    }
    progress.status(j.line, "Extracting");
    UniqueFd fd(::open(j.file.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) throw_sys("open", j.file);
    builder.add_layer(fd.get(), what + ": layer sha256:" + j.hex, j.hex, j.diff);
    fd.reset();
    bool later = false;  // the same blob again further up
    for (size_t k = i + 1; k < jobs.size(); ++k) later |= jobs[k].hex == j.hex && !jobs[k].reuse;
    if (!later) ::unlink(j.file.c_str());
    progress.status(j.line, "Pull complete");
  }
  res.image_id = builder.commit({t.name});
  locks.clear();
  std::vector<std::string> hexes;
  for (auto& j : jobs) hexes.push_back(j.hex);
  note_sources(s, t.host, t.repo, hexes);
  res.up_to_date = have_image && std::all_of(jobs.begin(), jobs.end(), [](const LayerJob& j) { return j.reuse; });
  HVRUN_INFO("registry", "pulled ", t.name, " ", res.digest, " image ", res.image_id);
  return res;
}

}  // namespace hvrun::registry
