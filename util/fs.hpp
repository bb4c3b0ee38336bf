// Small filesystem helpers with errors that name the path.
#pragma once
#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace hvrun {

std::string read_file(const std::string& path);
// Writes via a temp file in the same directory, fsync, rename: readers see
// the old or the new content, never a torn one.
void write_file_atomic(const std::string& path, const std::string& content, mode_t mode = 0644);
// All of `content` to `fd` (retrying short writes and EINTR); errors name `what`.
void write_fd(int fd, const std::string& content, const std::string& what);
void write_file(const std::string& path, const std::string& content);  // O_WRONLY|O_TRUNC, no create
void mkdir_p(const std::string& path, mode_t mode = 0755);
void remove_all(const std::string& path);  // rm -rf, does not cross mount points
// Copies regular file `from` into a new file `to` (mode 0600; an existing
// one is an error), keeping holes: a reflink where the file system has them
// (FICLONE), else only the data extents (SEEK_DATA/SEEK_HOLE with
// copy_file_range). A failed copy leaves no `to` behind.
void copy_file_sparse(const std::string& from, const std::string& to);
bool path_exists(const std::string& path);
// Bytes `path` takes on disk (st_blocks), a directory with all under it on
// the same file system, each hard-linked file once; 0 when it is gone.
uint64_t disk_bytes(const std::string& path);
bool is_dir(const std::string& path);
// A directory's entry names (no "." or ".."), unsorted; empty when it does
// not exist. Other errors throw, naming the path.
std::vector<std::string> list_dir(const std::string& path);
// Current time as RFC 3339 with nanoseconds, UTC ("2026-11-29T04:30:59.123456789Z").
std::string now_rfc3339_nano();
std::string random_bytes(size_t bytes);  // from getrandom(2)
std::string random_hex(size_t bytes);  // random_bytes, hex-encoded

}  // namespace hvrun
