// What COPY, ADD and WORKDIR do to a stage's file system, run in a process
// chrooted into the stage's merged overlay (the build executor makes it):
// "/" is the image's root, so every destination path and every symlink met
// on the way resolves inside the image, as Docker's do. Sources are read
// through a fd opened before the chroot (context.hpp).
#pragma once
#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "builder/context.hpp"

namespace hvrun::builder {

struct CopyPlan {
  std::vector<Source> sources;
  std::string dest;              // absolute in the image
  bool dest_is_dir = false;      // ended with '/' (or several sources)
  std::string chown;             // "user[:group]" (names from the image's /etc/passwd, /etc/group), "" = 0:0
  std::optional<mode_t> chmod;   // --chmod, for every file and directory copied
  bool extract_archives = false; // ADD: a local tar (plain, gzip, bzip2, xz, zstd) is unpacked into dest
};

// Docker's COPY: a directory source copies its contents into dest; a file
// goes to dest, or dest/NAME when dest is a directory. Missing parents of
// dest are made (root, 0755). Copies keep mode, mtime, symlinks (not
// followed below the source) and hard links among themselves; owners
// become 0:0 or --chown's.
void apply_copy(const SourceRoot& src, const CopyPlan& plan);

// WORKDIR: makes `path` and its missing parents (root, 0755).
void make_dirs(const std::string& path);

// "--chmod=0755" -> 0755. Throws on anything but 1-4 octal digits.
mode_t parse_chmod(const std::string& v);

}  // namespace hvrun::builder
