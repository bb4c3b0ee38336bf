// The Docker API's /images endpoints.
#include "api/docker.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <optional>

#include "api/docker_convert.hpp"
#include "api/docker_shared.hpp"
#include "engine/describe.hpp"
#include "engine/records.hpp"
#include "image/history.hpp"
#include "image/load.hpp"
#include "image/present.hpp"
#include "image/save.hpp"
#include "image/store.hpp"
#include "util/base64.hpp"
#include "util/error.hpp"
#include "util/fd.hpp"

namespace hvrun::api {

using nlohmann::json;

json image_summary(const image::ImageRecord& img, const std::vector<std::string>& tags) {
  return {{"Id", "sha256:" + img.id}, {"ParentId", img.parent.empty() ? "" : "sha256:" + img.parent},
          {"RepoTags", tags.empty() ? json::array({"<none>:<none>"}) : json(tags)},
          {"RepoDigests", json::array()}, {"Created", static_cast<int64_t>(engine::parse_rfc3339(img.created))},
          {"Size", img.size}, {"VirtualSize", img.size}, {"SharedSize", -1}, {"Labels", img.config.labels},
          {"Containers", -1}};
}

void DockerApi::images(const Request& req, Connection& conn, const std::vector<std::string>& parts) {
  image::Store store(root_);
  if (parts.size() == 2 && parts[1] == "json" && req.method == "GET") {
    const auto filters = parse_filters(req.param("filters"));
    for (const auto& [k, v] : filters)
      if (k != "reference" && k != "label")
        return fail(conn, 400, "invalid filter \"" + k + "\": hvrun filters images by reference and label");
    json out = json::array();
    for (const auto& img : store.list()) {
      if (auto f = filters.find("label"); f != filters.end()) {
        bool all = true;  // several label filters: each must match (Docker's)
        for (const auto& want : f->second) all = all && engine::labels_match(img.config.labels, want);
        if (!all) continue;
      }
      std::vector<std::string> tags = img.tags;
      if (auto f = filters.find("reference"); f != filters.end()) {
        // Only the tags that match (Docker's): one image may carry others.
        std::vector<std::string> kept;
        for (const auto& t : img.tags)
          for (const auto& ref : f->second)
            if (t == ref || t.substr(0, t.rfind(':')) == ref) {
              kept.push_back(t);
              break;
            }
        if (kept.empty()) continue;
        tags = kept;
      }
      out.push_back(image_summary(img, tags));
    }
    return conn.respond(200, kJson, out.dump());
  }
  if (parts.size() == 2 && parts[1] == "create" && req.method == "POST") {
    // (it would use root's registry logins, and fill the shared store)
    if (req.uid != 0) return fail(conn, 403, "a tenant may not pull images into the shared store (ask root to)");
    return pull(req, conn);
  }
  if (parts.size() == 2 && parts[1] == "get" && req.method == "GET") {
    std::vector<std::string> names;
    for (const auto& [k, v] : req.query_list)
      if (k == "names") names.push_back(v);
    return save(conn, names);
  }
  if (parts.size() == 2 && parts[1] == "load" && req.method == "POST") {
    if (req.uid != 0) return fail(conn, 403, "a tenant may not load images into the shared store");
    return load(req, conn);
  }
  // NAME may hold slashes (library/busybox): /images/NAME/{json,get,tag,push,history}, DELETE /images/NAME.
  std::string name;
  const bool op = parts.size() >= 3 && (parts.back() == "json" || parts.back() == "get" || parts.back() == "tag" ||
                                        parts.back() == "push" || parts.back() == "history");
  for (size_t i = 1; i + (op ? 1 : 0) < parts.size(); ++i) name += (name.empty() ? "" : "/") + parts[i];
  if (!op && req.method == "DELETE") {
    if (req.uid != 0) return fail(conn, 403, "a tenant may not remove images from the shared store");
    json out = json::array();
    for (const auto& r : store.remove(name, req.flag("force"))) {  // "Untagged: x", "Deleted: sha256:..."
      const size_t colon = r.find(": ");
      if (colon == std::string::npos) out.push_back({{"Deleted", r}});
      else out.push_back({{r.substr(0, colon), r.substr(colon + 2)}});
    }
    return conn.respond(200, kJson, out.dump());
  }
  if (op && parts.back() == "get" && req.method == "GET") return save(conn, {name});
  if (op && parts.back() == "push" && req.method == "POST") {
    // (it would use root's registry logins)
    if (req.uid != 0) return fail(conn, 403, "a tenant may not push images from the shared store (ask root to)");
    return push(req, conn, name);
  }
  if (op && parts.back() == "tag" && req.method == "POST") {
    if (req.uid != 0) return fail(conn, 403, "a tenant may not tag images in the shared store");
    std::string dst = req.param("repo");
    if (dst.empty()) return fail(conn, 400, "repository name is required (repo=)");
    if (std::string tag = req.param("tag"); !tag.empty()) dst += ":" + tag;
    store.tag(name, dst);
    return conn.respond(201, "", "");
  }
  if (op && parts.back() == "json" && req.method == "GET")
    return conn.respond(200, kJson, image::inspect_json(store, store.resolve(name)).dump());
  if (op && parts.back() == "history" && req.method == "GET") {
    // docker history: hvrun history's rows (image/history.hpp), newest first.
    json out = json::array();
    for (const auto& r : image::image_history(store, store.resolve(name))) {
      json tags = nullptr;
      if (!r.id.empty()) {
        try {
          if (const auto img = store.resolve(r.id); !img.tags.empty()) tags = img.tags;
        } catch (const Error&) {
          // removed meanwhile
        }
      }
      out.push_back({{"Id", r.id.empty() ? "<missing>" : "sha256:" + r.id},
                     {"Created", r.created.empty() ? 0 : static_cast<int64_t>(engine::parse_rfc3339(r.created))},
                     {"CreatedBy", r.created_by},
                     {"Tags", tags},
                     {"Size", r.size},
                     {"Comment", r.comment}});
    }
    return conn.respond(200, kJson, out.dump());
  }
  return fail(conn, 404, "page not found: " + req.method + " " + req.path);
}

// docker pull: `hvrun pull REF` as a child; Docker's JSON progress stream
// (a status line, then the result or an error message).
void DockerApi::pull(const Request& req, Connection& conn) {
  std::string ref = req.param("fromImage");
  if (ref.empty()) return fail(conn, 400, "fromImage is required (docker import is not served)");
  if (std::string tag = req.param("tag"); !tag.empty()) ref += (tag.rfind("sha256:", 0) == 0 ? "@" : ":") + tag;
  conn.begin_stream(200, {{"Content-Type", kJson}});
  conn.write(json{{"status", "Pulling " + ref}}.dump() + "\r\n");
  std::string err;
  const int rc = run_hvrun(exe_, {"--root", root_, "pull", "-q", ref}, &err);
  if (rc != 0) {
    const std::string why = last_error_line(err);
    conn.write(json{{"errorDetail", {{"message", why}}}, {"error", why}}.dump() + "\r\n");
    return;
  }
  conn.write(json{{"status", "Status: Downloaded image for " + ref}}.dump() + "\r\n");
}

// docker push: `hvrun push -q NAME[:TAG]` as a child (the name is the
// destination); credentials from X-Registry-Auth when it carries them,
// else hvrun login's. Docker's JSON progress stream.
void DockerApi::push(const Request& req, Connection& conn, const std::string& name) {
  std::string ref = name;
  if (std::string tag = req.param("tag"); !tag.empty()) ref += ":" + tag;
  image::Store(root_).resolve(ref);  // 404 before the stream starts
  std::vector<std::string> args = {"--root", root_, "push", "-q"};
  if (auto h = req.headers.find("x-registry-auth"); h != req.headers.end() && !h->second.empty()) {
    // base64url JSON {"username", "password", ...}; padding optional.
    std::string b = h->second;
    for (char& c : b) c = c == '-' ? '+' : c == '_' ? '/' : c;
    while (b.size() % 4) b += '=';
    if (auto text = base64_decode(b)) {
      const json auth = json::parse(*text, nullptr, false);
      if (auth.is_object() && !string_of(auth, "username").empty())
        args.insert(args.end(), {"--creds", string_of(auth, "username") + ":" + string_of(auth, "password")});
    }
  }
  args.push_back(ref);
  // host:port/name:tag: a tag's colon comes after the last slash
  const size_t slash = ref.rfind('/'), colon = ref.rfind(':');
  const bool tagged = colon != std::string::npos && (slash == std::string::npos || colon > slash);
  const std::string repo = tagged ? ref.substr(0, colon) : ref, tag = tagged ? ref.substr(colon + 1) : "latest";
  conn.begin_stream(200, {{"Content-Type", kJson}});
  conn.write(json{{"status", "The push refers to repository [" + repo + "]"}}.dump() + "\r\n");
  std::string out;
  const int rc = run_hvrun(exe_, args, &out, true);
  if (rc != 0) {
    const std::string why = last_error_line(out);
    conn.write(json{{"errorDetail", {{"message", why}}}, {"error", why}}.dump() + "\r\n");
    return;
  }
  const size_t at = out.rfind("sha256:");
  const std::string digest = at == std::string::npos ? "" : out.substr(at, out.find_first_of("\r\n", at) - at);
  conn.write(json{{"status", tag + ": digest: " + digest}}.dump() + "\r\n");
  conn.write(json{{"progressDetail", json::object()}, {"aux", {{"Tag", tag}, {"Digest", digest}}}}.dump() + "\r\n");
}

// docker save: the images as a docker-archive tar, written to a scratch
// file of the store and streamed.
void DockerApi::save(Connection& conn, const std::vector<std::string>& names) {
  if (names.empty()) return fail(conn, 400, "no image named (names=)");
  image::Store store(root_);
  for (const auto& n : names) store.resolve(n);  // 404 before anything is written
  ScratchFile tmp(root_, "save");
  image::save_images(store, names, image::SaveFormat::DockerArchive, tmp.path);
  UniqueFd in(::open(tmp.path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!in) throw_sys("open", tmp.path);
  conn.begin_stream(200, {{"Content-Type", "application/x-tar"}});
  char buf[65536];
  for (ssize_t n; (n = ::read(in.get(), buf, sizeof buf)) > 0;)
    if (!conn.write(buf, static_cast<size_t>(n))) return;
}

// docker load: the request body (a tar) into the store.
void DockerApi::load(const Request& req, Connection& conn) {
  std::optional<ScratchFile> tmp;  // a body held in memory goes to a file first
  if (req.body_file.empty()) {
    tmp.emplace(root_, "load");
    if (!write_all(tmp->fd.get(), req.body)) throw_sys("write", tmp->path);
    tmp->fd.reset();
  }
  image::Store store(root_);
  std::vector<std::string> lines;
  try {
    for (const auto& img : image::load_images(store, tmp ? tmp->path : req.body_file)) {
      if (img.tags.empty()) lines.push_back("Loaded image ID: sha256:" + img.id);
      for (const auto& t : img.tags) lines.push_back("Loaded image: " + t);
    }
  } catch (const Error& e) {
    return fail(conn, 400, e.what());
  }
  conn.begin_stream(200, {{"Content-Type", kJson}});
  for (const auto& l : lines) conn.write(json{{"stream", l + "\n"}}.dump() + "\r\n");
}

}  // namespace hvrun::api
