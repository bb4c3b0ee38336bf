// RunSpec: everything the container stack needs to start one workload.
// The host builds it from CLI flags + image config; in VM mode the same
// struct travels to guest-init as JSON. Keep it plain data.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <map>
#include <string>
#include <vector>

namespace hvrun::container {

// The workload's network.
enum class NetMode {
  None,    // own netns with only lo
  Host,    // the caller's netns (inside a microVM: the guest's network)
  Bridge,  // own netns wired by the host to an hvrun network (netcfg)
};
NLOHMANN_JSON_SERIALIZE_ENUM(NetMode, {{NetMode::None, "none"}, {NetMode::Host, "host"}, {NetMode::Bridge, "bridge"}})
inline const char* to_string(NetMode m) {
  switch (m) {
    case NetMode::None: return "none";
    case NetMode::Host: return "host";
    case NetMode::Bridge: return "bridge";
  }
  return "?";
}

// The workload's seccomp filter: hvrun's default (Docker's default profile),
// the strict one, none, or a Docker-format JSON profile of the user's.
enum class SeccompMode { Default, Strict, Unconfined, Custom };
struct Seccomp {
  SeccompMode mode = SeccompMode::Default;
  std::string profile;  // Custom: the profile's JSON text
  // "default" (or ""), "strict", "unconfined", else a profile's JSON text.
  static Seccomp from_string(const std::string& s) {
    if (s.empty() || s == "default") return {};
    if (s == "strict") return {SeccompMode::Strict, ""};
    if (s == "unconfined") return {SeccompMode::Unconfined, ""};
    return {SeccompMode::Custom, s};
  }
  // The inverse: a name, or the custom profile's text.
  std::string to_string() const {
    switch (mode) {
      case SeccompMode::Default: return "default";
      case SeccompMode::Strict: return "strict";
      case SeccompMode::Unconfined: return "unconfined";
      case SeccompMode::Custom: return profile;
    }
    return "default";
  }
  bool operator==(const Seccomp&) const = default;
};
// In JSON one string, as RunSpec has always stored it (records keep working).
inline void to_json(nlohmann::json& j, const Seccomp& s) { j = s.to_string(); }
inline void from_json(const nlohmann::json& j, Seccomp& s) { s = Seccomp::from_string(j.get<std::string>()); }

struct BindMount {
  std::string source;  // host path (absolute)
  std::string target;  // path inside the container (absolute)
  bool readonly = false;
};

// A fresh tmpfs inside the container (`--tmpfs`, an OCI tmpfs mount).
struct TmpfsMount {
  std::string target;  // path inside the container (absolute)
  std::string size;    // tmpfs size= ("64m", "50%"; "": the kernel's default, half of RAM)
  std::string mode;    // octal mode of its root ("": 1777, as Docker's --tmpfs)
  bool readonly = false;
  bool noexec = false;
  bool nosuid = true;
  bool nodev = true;
};

// A resource limit set on the workload (OCI process.rlimits, --ulimit).
struct Rlimit {
  std::string type;  // "RLIMIT_NOFILE" ... (container/process.hpp: rlimit_resource)
  uint64_t soft = 0;
  uint64_t hard = 0;
  bool operator==(const Rlimit&) const = default;
};

// The workload's network when it has its own address on an hvrun network
// (--net bridge / --net NAME). Filled by the host engine from the network's
// lease; in VM mode it travels to guest-init, which gives the guest's eth0
// this address and runs the container on the guest's network.
struct NetConfig {
  std::string network;          // hvrun network name ("" = none)
  std::string bridge;           // host bridge the veth/tap joins
  std::string ifname = "eth0";  // name inside the container / guest
  std::string address;          // "10.88.0.5" ("" = no address)
  int prefix = 0;               // 16 for a /16
  std::string gateway;          // default route via ("" = none)
  std::string mac;              // "02:42:0a:58:00:05"
  std::vector<std::string> hosts;  // extra /etc/hosts lines: "10.88.0.3 web"
  std::vector<std::string> dns;    // resolv.conf nameservers
  int mtu = 1500;
  // Container mode: a host file bound onto /etc/hosts, which the host
  // rewrites as members join and leave the network ("" = a static copy).
  std::string hosts_path;
};

// Existing namespaces a container joins instead of getting new ones (an
// OCI config's linux.namespaces[].path, e.g. a pod's or podman's network
// namespace): paths of namespace files ("" = a new namespace as usual).
// One line of a user namespace's uid_map or gid_map: `size` ids from
// `container_id` inside are host ids from `host_id` on.
struct IdMapping {
  uint32_t container_id = 0;
  uint32_t host_id = 0;
  uint32_t size = 0;
  bool operator==(const IdMapping&) const = default;
};

struct JoinNamespaces {
  std::string net, ipc, uts, pid, cgroup;
  // A user namespace (a pod's with user namespaces, podman's pod --userns):
  // the container's new namespaces are then owned by it.
  std::string user;
  bool any() const {
    return !net.empty() || !ipc.empty() || !uts.empty() || !pid.empty() || !cgroup.empty() || !user.empty();
  }
};

struct RunSpec {
  std::string id;        // 64-hex container id
  std::string name;      // human name
  std::string hostname;  // default: first 12 chars of id
  std::vector<std::string> args;  // final argv (entrypoint + cmd already merged)
  std::vector<std::string> env;   // "K=V"
  std::string cwd = "/";
  std::string user;  // "", "uid", "uid:gid", "name", "name:group" (resolved in the rootfs)

  // Root filesystem: either an overlay of lowerdirs (top layer first) with
  // upperdir/workdir, or a ready directory in `rootfs` (used as is).
  std::vector<std::string> lowerdirs;
  std::string upperdir;
  std::string workdir;
  std::string rootfs;
  bool readonly_rootfs = false;
  // Overlay rootfs only: mount with "volatile" (no sync of the upper fs, in
  // particular none at unmount, ~1 ms of every container exit). For
  // containers whose upperdir is thrown away when they exit (`run --rm`):
  // after a host crash the upperdir may be incomplete and the kernel refuses
  // to mount it again (workdir/work/incompat/volatile is left behind).
  bool volatile_rootfs = false;
  std::vector<BindMount> mounts;
  std::vector<TmpfsMount> tmpfs;  // mounted after `mounts`

  bool tty = false;
  bool interactive = false;
  // Terminal size set on the pty before the workload starts (0: leave unset).
  unsigned short tty_rows = 0;
  unsigned short tty_cols = 0;

  int64_t memory_bytes = 0;  // 0: unlimited
  double cpus = 0;           // 0: unlimited
  int64_t pids_limit = 0;    // 0: unlimited
  std::vector<std::string> cap_add;   // "NET_ADMIN" or "CAP_NET_ADMIN" or "ALL"
  std::vector<std::string> cap_drop;
  Seccomp seccomp;
  // PR_SET_NO_NEW_PRIVS for the workload (--security-opt no-new-privileges).
  // Off by default, as in Docker: set-user-ID programs (su, ping) work.
  bool no_new_privileges = false;
  // Set on the workload (and on what is exec'd into it) before its
  // privileges are dropped; none: the runtime's own are inherited.
  std::vector<Rlimit> rlimits;
  std::vector<uint32_t> additional_gids;  // supplementary groups beside the user's own
  int umask = -1;                         // -1: 0022, the OCI default
  int oom_score_adj = 0;                  // with set_oom_score_adj
  bool set_oom_score_adj = false;
  // --privileged: every capability, no seccomp filter and no mount guard, no
  // masked or read-only /proc paths, /sys writable (docs/security.md).
  bool privileged = false;
  // An OCI config's linux.maskedPaths and readonlyPaths: with
  // own_masked_paths these lists replace the stack's defaults (Docker's).
  bool own_masked_paths = false;
  std::vector<std::string> masked_paths;
  std::vector<std::string> readonly_paths;
  NetMode net = NetMode::None;
  NetConfig netcfg;  // with NetMode::Bridge (and, for /etc/hosts, inside a microVM)
  // --add-host lines of /etc/hosts ("IP\tNAME"), in any network mode.
  std::vector<std::string> extra_hosts;
  // --dns, --dns-search, --dns-option: /etc/resolv.conf is written from
  // them (nameservers: dns, else netcfg.dns) in any network mode.
  std::vector<std::string> dns;
  std::vector<std::string> dns_search;
  std::vector<std::string> dns_options;
  // --init: PID 1 is a small reaping init (container/init.hpp) that forwards
  // signals to the workload, reaps orphans and exits as the workload did.
  bool init = false;
  bool userns = false;
  // With userns: the maps (OCI linux.uidMappings and gidMappings). Empty:
  // 0 -> kUsernsHostBase for kUsernsSize ids (container/namespaces.hpp).
  std::vector<IdMapping> uid_mappings;
  std::vector<IdMapping> gid_mappings;
  // Kernel parameters set in the container's own namespaces (container/sysctl.hpp).
  std::map<std::string, std::string> sysctls;
  JoinNamespaces join;  // host paths: a microVM's guest gets none
  std::string cgroup_parent = "hvrun";
  // Where the cgroup hierarchy is mounted ("" = /sys/fs/cgroup); v1 or v2 is
  // detected there. Lets tests drive the v2 code on a hybrid host.
  std::string cgroup_root;
};

NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(BindMount, source, target, readonly)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(Rlimit, type, soft, hard)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(TmpfsMount, target, size, mode, readonly, noexec, nosuid, nodev)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(NetConfig, network, bridge, ifname, address, prefix, gateway, mac, hosts,
                                                dns, mtu, hosts_path)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(JoinNamespaces, net, ipc, uts, pid, cgroup, user)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(IdMapping, container_id, host_id, size)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(RunSpec, id, name, hostname, args, env, cwd, user, lowerdirs,
                                                upperdir, workdir, rootfs, readonly_rootfs, volatile_rootfs, mounts, tmpfs, tty,
                                                interactive, tty_rows, tty_cols, memory_bytes, cpus, pids_limit, cap_add, cap_drop,
                                                seccomp, no_new_privileges, rlimits, additional_gids, umask,
                                                oom_score_adj, set_oom_score_adj, privileged, own_masked_paths,
                                                masked_paths, readonly_paths, net, netcfg, extra_hosts, dns, dns_search,
                                                dns_options, init, userns, uid_mappings, gid_mappings, sysctls, join,
                                                cgroup_parent, cgroup_root)

// A process to start in a running container (hvrun exec; in a microVM,
// guest-init gets it in the control channel's exec message).
struct ExecSpec {
  std::vector<std::string> args;
  std::vector<std::string> env;   // added to (and overriding) the container's env
  std::string cwd;                // "": the container's cwd
  std::string user;               // "": the container's user
  bool tty = false;
  unsigned short tty_rows = 0;    // initial terminal size (0: unset)
  unsigned short tty_cols = 0;
};

}  // namespace hvrun::container
