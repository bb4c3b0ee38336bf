// Namespaces: which ones a container gets, the user-namespace id mapping,
// joining a running container's namespaces (exec), and joining ones given
// by path (a pod's, podman's network namespace).
//
// User namespaces (spec.userns): container uid/gid 0..65535 map to host
// kUsernsHostBase..kUsernsHostBase+65535 (100000:65536, the usual subuid
// range). The image layers (or spec.rootfs) are attached through idmapped
// mounts (MOUNT_ATTR_IDMAP, made by the parent, attached by the child), so
// host root-owned image files belong to the container's root without
// chowning anything; start() chowns upperdir/workdir and the overlay mount
// point to the mapped root so copy-ups and new files are owned by it (host
// uid 100000). On a filesystem that cannot be idmapped the layers are used
// as they are: image files then show as "nobody" (readable, not writable).
// The mapped root must be able to reach upperdir/workdir on the host (their
// parent directories need o+x).
#pragma once
#include <sys/types.h>

#include <string>
#include <utility>
#include <vector>

#include "container/spec.hpp"
#include "util/fd.hpp"

namespace hvrun::container {

inline constexpr unsigned kUsernsHostBase = 100000;
inline constexpr unsigned kUsernsSize = 65536;

// Flags for clone(): mnt, pid, uts, ipc, net (unless net=="host"), user
// (when spec.userns), less those spec.join names. The cgroup namespace is
// unshared by the child after the parent moved it into its cgroup, so that
// its cgroup root is the container's cgroup.
unsigned long clone_flags(const RunSpec& spec);

// Opens `path` and checks that it is a namespace of `type` (CLONE_NEWNET,
// ...; an nsfs file: /proc/PID/ns/net, a bind mount of one such as
// /run/netns/NAME); `kind` names it in the error ("network").
UniqueFd open_namespace_file(const std::string& path, int type, const char* kind);

// True when `fd` is the namespace /proc/self/ns/`name` ("net", ...): the
// caller's own.
bool is_own_namespace(int fd, const char* name);

// Why spec.join cannot go with a new user namespace (spec.userns), or "".
// The new user namespace owns none of the joined ones, so its root may not
// mount what belongs to them: /proc of a joined pid namespace, the cgroup
// fs of a joined cgroup namespace, /dev/mqueue of a joined ipc namespace
// are refused. A joined network namespace (podman --uidmap, --userns=auto)
// and uts namespace are fine: /sys falls back to a read-only bind of the
// host's, and the runtime sets the joined namespaces' hostname and
// sysctls itself (apply_joined_settings), as root there.
std::string userns_join_refusal(const RunSpec& spec);

// The namespaces of spec.join, opened (and each checked to be a namespace
// of its kind) before the container's process is cloned. A joined user
// namespace (`user`; none when it is the runtime's own) is not entered by
// InJoinedNamespaces: a multi-threaded process cannot, and the runtime
// must stay root; a helper process enters it and clones the container's
// process from inside (container/runtime.cpp). A joined pid namespace is
// then the helper's to enter too (InJoinedNamespaces leaves it), so that
// the helper itself stays in ours and the pid it reports is ours.
struct JoinedNamespaces {
  UniqueFd net, ipc, uts, pid, cgroup, user;
};
JoinedNamespaces open_joined_namespaces(const RunSpec& spec);

// The calling thread in the joined namespaces while this lives, so that a
// child it clones is born in them (as runc's nsexec joins before it
// clones): nothing, a hook included, ever sees the child in the caller's
// own. The destructor brings the thread back (and aborts if it cannot: a
// thread half-switched must not go on). Throws, having come back, when one
// cannot be entered.
class InJoinedNamespaces {
 public:
  explicit InJoinedNamespaces(const JoinedNamespaces& ns);
  ~InJoinedNamespaces();
  InJoinedNamespaces(const InJoinedNamespaces&) = delete;
  InJoinedNamespaces& operator=(const InJoinedNamespaces&) = delete;

 private:
  void leave() noexcept;
  std::vector<std::pair<UniqueFd, int>> back_;  // our own, to return to (last entered last)
};

// Before entering them: refuses a hostname or sysctl the spec asks of a
// joined namespace that is the caller's own (the host's): setting it would
// change the host.
void check_joined_settings(const RunSpec& spec, const JoinedNamespaces& ns);

// In the joined namespaces (an InJoinedNamespaces lives), before the clone:
// sets what the spec asks of them, the hostname of a joined uts namespace
// and the sysctls kept by a joined one. The runtime does it, not the child:
// the child's root may be a new user namespace's, powerless there. The
// child sets its own namespaces'. check_joined_settings came first.
void apply_joined_settings(const RunSpec& spec, const JoinedNamespaces& ns);

// Parent side: writes uid_map/gid_map of a child cloned with CLONE_NEWUSER:
// spec's mappings, else 0 -> kUsernsHostBase for kUsernsSize ids. Throws
// Error naming the file and the map the kernel refused.
void write_id_maps(pid_t pid, const RunSpec& spec);
// The host uid and gid of the container's root under those maps (what the
// directories it must write into are chowned to); kUsernsHostBase when a
// map leaves container id 0 out.
uint32_t userns_root_uid(const RunSpec& spec);
uint32_t userns_root_gid(const RunSpec& spec);

// The namespaces of a running process, opened before joining any of them.
struct NamespaceFds {
  UniqueFd user, mnt, uts, ipc, net, cgroup, pid;
};
// Opens /proc/PID/ns/* for the namespaces that differ from ours.
NamespaceFds open_namespaces(pid_t pid);
// Joins them all except pid: user first, then mnt, uts, ipc, net, cgroup.
void join_namespaces(const NamespaceFds& ns);

}  // namespace hvrun::container
