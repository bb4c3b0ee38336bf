// What the Docker API's handlers (api/docker*.cpp) share: statuses and
// errors in Docker's shapes, the container's inspect document, running
// hvrun as a child, scratch files. Private to api/.
#pragma once
#include <poll.h>
#include <spawn.h>
#include <sys/ioctl.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "api/http.hpp"
#include "engine/records.hpp"
#include "image/record.hpp"
#include "util/fd.hpp"

namespace hvrun::api {

inline constexpr const char* kApiVersion = "1.41";
inline constexpr const char* kJson = "application/json";
inline constexpr const char* kRawStream = "application/vnd.docker.raw-stream";

// hvrun's one-line errors, mapped to Docker's statuses.
int status_for(const std::string& message);
// An error response in Docker's shape and wording ("No such container: x").
void fail(Connection& conn, int status, const std::string& message);

// GET /containers/ID/json: engine::inspect_json in the shapes Docker's
// clients decode into.
nlohmann::json inspect_of(const engine::ContainerConfig& c, const engine::State& st, const std::string& store_root);
// The container's command as one line (ps's COMMAND).
std::string command_of(const engine::ContainerConfig& c);
// GET /containers/json's entry for one container, and /images/json's for
// one image (with the tags to show). Its NetworkSettings.Networks are the
// networks of store_root's network store it is on (docker ps's NETWORKS).
nlohmann::json container_summary(const engine::ContainerConfig& c, const engine::State& st,
                                 const std::string& store_root);
nlohmann::json image_summary(const image::ImageRecord& img, const std::vector<std::string>& tags);

// posix_spawn of hvrun ARGS... with these file actions and attributes (either
// may be null); posix_spawn's result (0, or the errno), the child in *pid.
int spawn_hvrun(const std::string& exe, const std::vector<std::string>& args, const posix_spawn_file_actions_t* fa,
                const posix_spawnattr_t* attr, pid_t* pid);
// Runs hvrun ARGS... (stdin /dev/null); returns its exit status and what it
// wrote to stderr (and to stdout with `with_stdout`; else /dev/null).
int run_hvrun(const std::string& exe, const std::vector<std::string>& args, std::string* err, bool with_stdout = false);
// After a poll over a child's pipes: what `p.fd` has ready, appended to
// `out`. False once it is closed (EOF or an error): p.fd is then -1, which
// poll skips.
bool read_ready(pollfd& p, std::string& out);
// hvrun's "hvrun: why\n" -> "why".
std::string last_error_line(std::string s);

// A resize request's h and w; false when either is not a number.
bool window_size_of(const Request& req, winsize& ws);
// write_all for an fd that may be non-blocking (a monitor's pty master).
bool write_waiting(int fd, const char* p, size_t n);
// n random hex digits (exec ids).
std::string random_hex(size_t n);

// ROOT/serve-tmp/KIND-XXXXXX, removed when it goes out of scope (the
// store's own tmp/ is swept by image::Store, so not there).
struct ScratchFile {
  std::string path;
  UniqueFd fd;
  ScratchFile(const std::string& root, const std::string& kind);
  ~ScratchFile();
  ScratchFile(const ScratchFile&) = delete;
  ScratchFile& operator=(const ScratchFile&) = delete;
};

}  // namespace hvrun::api
