// --userns private on the host: the container's root is host uid
// container::kUsernsHostBase, and the runtime's child, already in the new
// user namespace, mounts the overlay (upper, work and merged directories in
// the record) and binds the record's hosts/resolv.conf and the volumes from
// the store. The store's directories are 0700 root: this grants that uid
// search (not read) on each directory on the way, through a POSIX ACL entry
// (user:100000:--x), as Docker's userns-remap makes its root 0710 for the
// remapped group. Nobody else gains anything, and what the directories hold
// keeps its own modes.
#pragma once
#include <sys/types.h>

#include <string>

#include "engine/records.hpp"

namespace hvrun::engine {

// Every directory from / down to `path` that `uid` could not search gets an
// ACL entry that lets it (one "other" may search, or that uid owns, is left
// as it is). Throws "granting uid N search on DIR: why".
void grant_search_path(const std::string& path, uid_t uid);

// For a record whose spec has userns: its directory, its layers' and its
// volumes' (the sources under the store; a bind of a host path elsewhere is
// the caller's to make reachable) become reachable by the mapped root.
void grant_userns_access(const Records& rec, const ContainerConfig& cfg);

}  // namespace hvrun::engine
