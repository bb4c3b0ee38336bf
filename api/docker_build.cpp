// docker build (the classic builder's POST /build): the request body is the
// context as a tar, unpacked by the hardened layer extractor into a scratch
// directory; `hvrun build` runs on it as a child, its progress streamed as
// Docker's JSON lines ({"stream": ...}), then {"aux": {"ID": ...}} and
// "Successfully built/tagged", or {"error": ...}. Query: t (repeatable),
// dockerfile, buildargs (JSON), target, nocache, q, networkmode.
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <memory>
#include <cstring>
#include <nlohmann/json.hpp>

#include "api/docker.hpp"
#include "api/docker_convert.hpp"
#include "api/docker_shared.hpp"
#include "image/layer.hpp"
#include "util/error.hpp"
#include "util/fd.hpp"
#include "util/fs.hpp"

namespace hvrun::api {

using nlohmann::json;

namespace {

// A scratch directory under the store, removed with what it holds.
struct ScratchDir {
  std::string path;
  explicit ScratchDir(const std::string& root) : path(root + "/serve-tmp/build-XXXXXX") {
    mkdir_p(root + "/serve-tmp", 0700);
    if (!::mkdtemp(path.data())) throw_sys("mkdtemp", path);
  }
  ~ScratchDir() {
    try {
      remove_all(path);
    } catch (const std::exception&) {
    }
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
};

std::string stream_line(const std::string& text) { return json{{"stream", text}}.dump(-1, ' ', false, json::error_handler_t::replace) + "\r\n"; }

std::string error_line(const std::string& why) {
  return json{{"errorDetail", {{"message", why}}}, {"error", why}}.dump(-1, ' ', false, json::error_handler_t::replace) + "\r\n";
}

}  // namespace

void DockerApi::build(const Request& req, Connection& conn) {
  if (req.uid != 0) return fail(conn, 403, "a tenant may not build images in the shared store (ask root to)");
  if (!req.param("remote").empty()) return fail(conn, 400, "invalid remote: hvrun builds from the uploaded context only");
  std::vector<std::string> args = {"--root", root_, "build", "--progress", "plain"};
  std::vector<std::string> tags;
  for (const auto& [k, v] : req.query_list)
    if (k == "t" && !v.empty()) tags.push_back(v);
  for (const auto& t : tags) args.insert(args.end(), {"-t", t});
  if (const std::string b = req.param("buildargs"); !b.empty()) {
    const json j = json::parse(b, nullptr, false);
    if (!j.is_object()) return fail(conn, 400, "invalid buildargs: expected a JSON object");
    for (const auto& [k, v] : j.items()) {
      if (v.is_null()) continue;  // "KEY" alone: the client had no value for it
      if (!v.is_string()) return fail(conn, 400, "invalid buildargs: " + k + " is not a string");
      args.insert(args.end(), {"--build-arg", k + "=" + v.get<std::string>()});
    }
  }
  if (const std::string t = req.param("target"); !t.empty()) args.insert(args.end(), {"--target", t});
  if (req.flag("nocache")) args.push_back("--no-cache");
  if (const std::string n = req.param("networkmode"); !n.empty() && n != "default")
    args.insert(args.end(), {"--network", n});
  const bool quiet = req.flag("q");
  // The context: unpacked inside the scratch directory, as `docker cp` unpacks.
  ScratchDir ctx(root_);
  {
    ScratchFile tar(root_, "build-context");
    if (!write_all(tar.fd.get(), req.body) || ::lseek(tar.fd.get(), 0, SEEK_SET) < 0) throw_sys("write", tar.path);
    UniqueFd dir(::open(ctx.path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dir) throw_sys("open", ctx.path);
    image::ExtractOptions o;
    o.whiteouts = false;
    o.keep_root = true;
    try {
      image::extract_tar(tar.fd.get(), "the build context", dir.get(), o);
    } catch (const Error& e) {
      return fail(conn, 400, std::string("invalid build context: ") + e.what());
    }
  }
  const std::string dockerfile = req.param("dockerfile");
  if (!dockerfile.empty()) {
    if (dockerfile[0] == '/' || dockerfile.find("..") != std::string::npos)
      return fail(conn, 400, "invalid dockerfile \"" + dockerfile + "\": a path inside the context");
    args.insert(args.end(), {"-f", ctx.path + "/" + dockerfile});
  }
  // The Dockerfile is read through the host's view of the context: one whose
  // path leads out of it through a symlink (a hostile tar's "Dockerfile ->
  // /etc/shadow") is refused.
  auto real = [](const std::string& p) {
    std::unique_ptr<char, decltype(&std::free)> r(::realpath(p.c_str(), nullptr), &std::free);
    return r ? std::string(r.get()) : std::string();
  };
  const std::string base = real(ctx.path) + "/";
  for (const std::string& f : dockerfile.empty() ? std::vector<std::string>{"Dockerfile", "Containerfile"}
                                                 : std::vector<std::string>{dockerfile}) {
    const std::string r = real(ctx.path + "/" + f);
    if (r.empty()) continue;  // absent: hvrun build says so
    if (r.rfind(base, 0) != 0)
      return fail(conn, 400, "invalid dockerfile \"" + f + "\": a symlink that leads out of the context");
  }
  args.push_back(ctx.path);

  Pipe out = Pipe::make(), err = Pipe::make();
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, out.write.get(), 1);
  posix_spawn_file_actions_adddup2(&fa, err.write.get(), 2);
  pid_t pid = 0;
  const int rc = spawn_hvrun(exe_, args, &fa, nullptr, &pid);
  posix_spawn_file_actions_destroy(&fa);
  out.write.reset();
  err.write.reset();
  if (rc != 0) return fail(conn, 500, std::string("cannot run hvrun build: ") + std::strerror(rc));
  conn.begin_stream(200, {{"Content-Type", kJson}});
  // Progress (stderr) goes out line by line as it comes; the id is stdout's.
  std::string id_text, pending, last_error;
  bool peer = true;
  std::vector<pollfd> p = {{out.read.get(), POLLIN, 0}, {err.read.get(), POLLIN, 0}};
  size_t open = 2;
  while (open > 0) {
    if (::poll(p.data(), p.size(), 500) < 0 && errno != EINTR) break;
    if (peer && conn.peer_gone()) {
      peer = false;
      ::kill(pid, SIGTERM);  // nobody waits for it any more
    }
    for (size_t i = 0; i < p.size(); ++i) {
      if (p[i].fd < 0) continue;
      if (!read_ready(p[i], i == 0 ? id_text : pending)) {
        --open;
        continue;
      }
      if (i == 0) continue;
      for (size_t nl; (nl = pending.find('\n')) != std::string::npos; pending.erase(0, nl + 1)) {
        const std::string line = pending.substr(0, nl);
        if (line.rfind("hvrun: ", 0) == 0) last_error = line.substr(7);
        if (peer && !quiet) peer = conn.write(stream_line(line + "\n"));
      }
    }
  }
  int st = 0;
  while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  if (!peer) return;
  if (!pending.empty() && pending.rfind("hvrun: ", 0) == 0) last_error = pending.substr(7);
  // The id is hvrun build's last line of stdout (a RUN step's output may come before it).
  while (!id_text.empty() && id_text.back() == '\n') id_text.pop_back();
  std::string id = id_text.substr(id_text.rfind('\n') == std::string::npos ? 0 : id_text.rfind('\n') + 1);
  if (id.rfind("sha256:", 0) == 0) id = id.substr(7);
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 || id.size() != 64) {
    conn.write(error_line(last_error.empty() ? "the build failed" : last_error));
    return;
  }
  conn.write(json{{"aux", {{"ID", "sha256:" + id}}}}.dump() + "\r\n");
  if (quiet) {
    conn.write(stream_line("sha256:" + id + "\n"));
    return;
  }
  conn.write(stream_line("Successfully built " + id.substr(0, 12) + "\n"));
  for (const auto& t : tags) conn.write(stream_line("Successfully tagged " + (t.find(':') == std::string::npos ? t + ":latest" : t) + "\n"));
}

}  // namespace hvrun::api
