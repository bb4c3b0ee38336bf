// COPY and ADD sources: the arguments resolved against a source root (the
// build context, or another stage's or image's file system) into paths
// under it, globs expanded, and their content hashed for the step cache.
//
// Everything works on a directory fd. In the build context a path that
// would leave it (`../x`, an absolute path, a symlink pointing out) is
// refused, and .dockerignore applies; in a stage or image, absolute paths
// and symlinks resolve inside its root, as they would in a container.
#pragma once
#include <sys/stat.h>
#include <sys/types.h>

#include <functional>
#include <string>
#include <vector>

#include "builder/dockerignore.hpp"

namespace hvrun::builder {

struct Source {
  std::string rel;  // under the root, '/'-separated, "" for the root itself
  bool is_dir = false;
};

struct SourceRoot {
  int fd = -1;                            // the root directory
  bool context = false;                   // the build context (confined, ignore applies)
  const DockerIgnore* ignore = nullptr;   // context only
  std::string what;                       // "build context", "stage build", "image alpine"
};

// Expands and resolves COPY/ADD source arguments. A glob matching nothing,
// a missing or ignored path, or a path leaving the context throws one line.
std::vector<Source> resolve_sources(const SourceRoot& root, const std::vector<std::string>& args);

// sha256 (hex) over the sources: for every file and directory under them
// (ignored ones skipped) its path, type, mode, owner, size, symlink target
// and bytes; mtimes are left out, so a touched file still hits the cache.
std::string hash_sources(const SourceRoot& root, const std::vector<Source>& sources);

// Calls f(rel, stat) for `src` and, when it is a directory, everything
// under it (parents before children, names sorted), skipping what the
// ignore excludes. `rel` is relative to the root.
void walk_source(const SourceRoot& root, const Source& src,
                 const std::function<void(const std::string& rel, const struct stat& st, int parent_fd,
                                          const std::string& name)>& f);

}  // namespace hvrun::builder
