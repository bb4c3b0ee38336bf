// Parsing and validation of `run` option values (Docker-compatible forms),
// and merging CLI options with an image's config into a RunSpec.
// Pure functions: every bad value throws hvrun::Error with a one-line reason.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "container/env.hpp"
#include "container/spec.hpp"
#include "engine/mode.hpp"
#include "image/store.hpp"

namespace hvrun::engine {

// Docker's minimum --memory: 6 MiB.
inline constexpr int64_t kMinMemoryBytes = 6ll << 20;
// "64m", "1g", "1.5g", "512k", "6291456", "100b" -> bytes. Throws on junk or
// below kMinMemoryBytes.
int64_t parse_memory(const std::string& value);
// "0.5", "2" -> cpus. Throws on junk, inf/nan, or outside 0.01..host_cpus
// (Docker's range).
double parse_cpus(const std::string& value, unsigned host_cpus);
// The CPUs this process may run on (its affinity mask).
unsigned available_cpus();
// "100" -> 100; "-1" and "0" -> 0 (unlimited, as Docker). Throws on junk.
int64_t parse_pids_limit(const std::string& value);

// Looks up a variable of the caller's environment; nullopt when unset.
using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;
EnvLookup process_env();

// "-e K=V" -> "K=V"; "-e K" -> "K=<caller's value>", or nullopt when unset
// (Docker then leaves it out). Throws on an empty key.
std::optional<std::string> expand_env(const std::string& arg, const EnvLookup& lookup);
// Reads an --env-file: one K=V or K per line; blank lines and # comments skipped.
std::vector<std::string> read_env_file(const std::string& path, const EnvLookup& lookup);
// Overlays `overrides` on `base` by key (container/env.hpp: exec uses it too).
using container::merge_env;

// -l/--label values, "KEY=VALUE" (or "KEY": an empty value) -> a map; the
// last of a key wins. Throws "invalid label ...: expected KEY=VALUE".
std::map<std::string, std::string> parse_labels(const std::vector<std::string>& values);

// "HOST:CTR[:ro|rw]" -> BindMount. HOST must be absolute and exist, or be
// a volume's name (kept as the source; the engine makes the volume when it
// is new and binds its directory: engine/volumes.hpp). "CTR" alone (an
// absolute path) is an anonymous volume: the source is left empty and the
// engine makes a volume with a random name for it.
container::BindMount parse_volume(const std::string& value);

// --mount type=bind|volume|tmpfs,source=,target=[,readonly][,tmpfs-size=,
// tmpfs-mode=] (Docker's; src, dst, destination and ro too): adds a bind or
// volume to spec.mounts, a tmpfs to spec.tmpfs. Throws a one-line reason.
void apply_mount(const std::string& value, container::RunSpec& spec);

// --tmpfs PATH[:OPTIONS] (Docker's): OPTIONS from rw, ro, size=N[kmg],
// mode=OCTAL, exec/noexec, suid/nosuid, dev/nodev; noexec, nosuid and
// nodev unless said otherwise. Throws with a one-line message.
container::TmpfsMount parse_tmpfs(const std::string& value);

// --ulimit NAME=SOFT[:HARD] (Docker's: nofile=1024:2048; -1 or unlimited
// for no limit; HARD defaults to SOFT). Throws with a one-line message.
container::Rlimit parse_ulimit(const std::string& value);

// "seccomp=unconfined" | "seccomp=strict" (ptrace needs CAP_SYS_PTRACE)
// | "seccomp=FILE" (content read and checked as JSON)
// | "no-new-privileges[=true|:true|=false|:false]" (off unless asked, as in
// Docker). Applies it to `spec`.
void apply_security_opt(const std::string& value, container::RunSpec& spec);

// --hostname as Docker checks it (RFC 1123): dot-separated labels of
// letters, digits and '-', 1 to 63 characters each, not starting or ending
// with '-'; at most 64 characters in all (the kernel's limit, below RFC
// 1123's 253). "" (the default name) passes. Throws a one-line reason.
void validate_hostname(const std::string& hostname);

// --add-host NAME:IP (Docker's; NAME=IP too) -> "IP\tNAME" for /etc/hosts.
// IP: IPv4, IPv6 or "host-gateway" (the container network's gateway,
// filled in when the network is attached). Throws a one-line reason.
std::string parse_add_host(const std::string& value);
inline constexpr const char* kHostGateway = "host-gateway";

// --dns IP (v4 or v6) -> IP; --dns-search DOMAIN; --dns-option OPT: one
// word each (resolv.conf's syntax). Throw a one-line reason.
std::string parse_dns_server(const std::string& value);
std::string parse_dns_word(const std::string& flag, const std::string& value);

// "none" | "host" | "bridge" (the default network) | NAME of an hvrun
// network. Throws on a malformed name (an unknown one fails at run time).
std::string parse_net(const std::string& value);

// What the user asked for on the command line (before the image is merged).
struct RunOptions {
  Mode mode = Mode::Container;
  std::string name;
  bool detach = false;
  bool interactive = false;
  bool tty = false;
  bool auto_remove = false;
  std::vector<std::string> env;       // -e values, as given
  std::vector<std::string> env_files;
  std::optional<std::string> workdir;
  std::optional<std::string> user;
  std::string hostname;
  std::vector<std::string> volumes;  // -v values, as given
  std::vector<std::string> mounts;   // --mount values, as given
  std::vector<std::string> tmpfs;    // --tmpfs values, as given
  std::vector<std::string> ulimits;  // --ulimit values, as given
  bool read_only = false;
  std::string memory;
  std::string cpus;
  std::string pids_limit;
  std::vector<std::string> cap_add;
  std::vector<std::string> cap_drop;
  std::vector<std::string> security_opts;
  bool privileged = false;
  // --userns: "" or "host" (the host's user namespace, Docker's default),
  // "private" (its own: root is host uid 100000, container/namespaces.hpp).
  std::string userns;
  // --pid, --ipc: "" or "private" (a namespace of its own), or "host" (the
  // host's, as Docker's: ps sees every process, shared memory is shared).
  std::string pid, ipc;
  // Empty: the default, $HVRUN_NETWORK if set, else "bridge" (as in Docker).
  std::string net;
  std::vector<std::string> publish;  // -p values, as given
  bool publish_all = false;          // -P: the image's exposed ports, each on a free host port
  std::string image;
  // --entrypoint: replaces the image's Entrypoint, and then the image's Cmd
  // is not used either (as in Docker); an empty list runs `command` alone.
  std::optional<std::vector<std::string>> entrypoint;
  std::vector<std::string> command;  // after IMAGE
  uint32_t owner_uid = 0;            // ContainerConfig::owner_uid
  std::vector<std::string> labels;   // -l KEY=VALUE (KEY alone: an empty value)
  std::string stop_signal;           // --stop-signal ("": the image's, else SIGTERM)
  std::optional<int> stop_timeout;   // --stop-timeout seconds
  bool init = false;                 // --init
  std::string restart;               // --restart ("": no)
  std::vector<std::string> add_hosts;    // --add-host values, as given
  std::vector<std::string> dns;          // --dns
  std::vector<std::string> dns_search;   // --dns-search
  std::vector<std::string> dns_options;  // --dns-option
};

// Builds the RunSpec (without id/name/rootfs paths) from the options and the
// image config: Entrypoint + (command or image Cmd), image Env overridden by
// -e/--env-file, WorkingDir, User. Throws on any bad value.
container::RunSpec build_spec(const RunOptions& opts, const image::ImageConfig& img, const EnvLookup& lookup);

}  // namespace hvrun::engine
