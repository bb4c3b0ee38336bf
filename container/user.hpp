// Resolving a Docker-style user spec ("", "uid", "uid:gid", "name",
// "name:group") against the container's own /etc/passwd and /etc/group.
// Parsed by hand: no NSS, so it works in the static guest-init and never
// consults the host's user database.
#pragma once
#include <sys/types.h>

#include <string>
#include <vector>

namespace hvrun::container {

struct ResolvedUser {
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;  // supplementary groups (from /etc/group membership)
  std::string home = "/";
};

// Pure function over the file contents (either may be empty: missing file).
// Throws Error for a name that is not in the files or a malformed number.
ResolvedUser resolve_user(const std::string& spec, const std::string& passwd, const std::string& group);

// Reads /etc/passwd and /etc/group relative to the current root (call after
// pivot_root, so the files are the image's).
ResolvedUser resolve_user_in_root(const std::string& spec);

}  // namespace hvrun::container
