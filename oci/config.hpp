// An OCI bundle's config.json (opencontainers runtime-spec 1.x) read into the
// RunSpec the container stack runs: the first piece of `hvrun-oci`, the
// runc-compatible runtime CLI (issue 14) that podman, containerd and
// Kubernetes call.
//
// What the config asks for is applied, refused with one line naming the
// field, or (for fields the stack cannot apply yet but that a runtime may
// leave at their defaults) accepted with a warning line, so that a caller
// knows exactly what did not take effect. Unknown fields are ignored, as the
// runtime-spec says. Mapping:
//   process.args/env/cwd/terminal/consoleSize   args, env, cwd, tty and size
//   process.user.uid/gid                        user "uid:gid"
//   process.capabilities                        every capability dropped, then
//                                               the union of the sets added
//   process.noNewPrivileges                     no_new_privileges
//   root.path (relative: to the bundle)/readonly rootfs, readonly_rootfs
//   hostname                                    hostname
//   mounts: bind (type or option bind/rbind)    a bind mount, "ro" honoured
//   mounts: /proc, /dev, /dev/pts, /dev/shm, /dev/mqueue, /sys,
//           /sys/fs/cgroup of their usual types  the stack's own (skipped)
//   linux.namespaces: network absent            the host's network, else none
//   linux.namespaces: user                      a user namespace
//   linux.resources memory.limit, cpu quota/period, pids.limit
//   linux.cgroupsPath                           cgroups_path (hvrun-oci places it)
//   linux.seccomp                               that profile; absent: no filter
//                                               (runc's meaning, not Docker's)
//   annotations io.hvrun.isolation: vm          vm (the microVM backend)
#pragma once
#include <map>
#include <string>
#include <vector>

#include "container/spec.hpp"
#include "oci/hooks.hpp"

namespace hvrun::oci {

inline constexpr const char* kIsolationAnnotation = "io.hvrun.isolation";

struct Bundle {
  std::string dir;                      // the bundle directory (absolute)
  std::string oci_version;
  container::RunSpec spec;              // rootfs, process, limits (no id/name: the caller's)
  std::vector<std::string> warnings;    // "config.json: FIELD ...": accepted, not applied
  std::map<std::string, std::string> annotations;
  bool vm = false;                      // annotation io.hvrun.isolation: vm
  std::string cgroups_path;             // linux.cgroupsPath as given ("": the runtime's choice)
  Hooks hooks;                          // run by hvrun-oci (oci/hooks.hpp)
};

// Reads the config text of bundle `bundle_dir`. Throws hvrun::Error with one
// line, "config.json: FIELD: what is wrong", for malformed JSON, a missing
// required field (ociVersion, root.path, process.args/cwd/user), a wrong
// type or an invalid value, or a feature that cannot be honoured safely
// (a namespace joined by path, a mount type the stack does not make).
Bundle parse_config(const std::string& text, const std::string& bundle_dir);

// `hvrun-oci exec --process FILE`: an OCI process object (args, env, cwd,
// user, terminal, consoleSize) as an ExecSpec; errors as parse_config's,
// naming "--process file" instead of config.json.
container::ExecSpec parse_process(const std::string& text);

// BUNDLE/config.json; also checks that the root filesystem is a directory.
Bundle load_bundle(const std::string& bundle_dir);

// `hvrun-oci spec`: a config.json for ./rootfs running `sh` with a
// terminal, the usual mounts, namespaces and capabilities (as `runc spec`
// writes one), 2-space indented.
std::string default_config();

}  // namespace hvrun::oci
