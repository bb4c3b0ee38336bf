#include "util/fs.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <ctime>
#include <filesystem>
#include <set>

#include "util/base64.hpp"
#include "util/error.hpp"
#include "util/fd.hpp"

namespace hvrun {

std::string read_file(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) throw_sys("open", path);
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_sys("read", path);
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

void write_fd(int fd, const std::string& content, const std::string& path) {
  if (!write_all(fd, content)) throw_sys("write", path);
}

void write_file_atomic(const std::string& path, const std::string& content, mode_t mode) {
  std::string tmp = path + ".tmp." + random_hex(6);
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode));
  if (!fd) throw_sys("create", tmp);
  try {
    write_fd(fd.get(), content, tmp);
    if (::fsync(fd.get()) < 0) throw_sys("fsync", tmp);
  } catch (...) {
    ::unlink(tmp.c_str());
    throw;
  }
  fd.reset();
  if (::rename(tmp.c_str(), path.c_str()) < 0) {
    int e = errno;
    ::unlink(tmp.c_str());
    throw_sys("rename to", path, e);
  }
}

void write_file(const std::string& path, const std::string& content) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC));
  if (!fd) throw_sys("open", path);
  write_fd(fd.get(), content, path);
}

void mkdir_p(const std::string& path, mode_t mode) {
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  if (ec) throw Error("mkdir " + path + ": " + ec.message(), ec.value());
  (void)mode;
}

void copy_file_sparse(const std::string& from, const std::string& to) {
  UniqueFd in(::open(from.c_str(), O_RDONLY | O_CLOEXEC));
  if (!in) throw_sys("open", from);
  struct stat st{};
  check_sys(::fstat(in.get(), &st), "stat", from);
  if (!S_ISREG(st.st_mode)) throw Error(from + ": not a regular file");
  UniqueFd out(::open(to.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!out) throw_sys("create", to);
  try {
    if (::ioctl(out.get(), FICLONE, in.get()) == 0) return;
    check_sys(::ftruncate(out.get(), st.st_size), "truncate", to);
    for (off_t pos = 0; pos < st.st_size;) {
      off_t data = ::lseek(in.get(), pos, SEEK_DATA);
      if (data < 0 && errno == ENXIO) break;  // only a hole is left
      if (data < 0) throw_sys("seek", from);
      off_t hole = ::lseek(in.get(), data, SEEK_HOLE);
      if (hole < 0) throw_sys("seek", from);
      for (off_t at = data; at < hole;) {
        loff_t src = at, dst = at;
        ssize_t n = ::copy_file_range(in.get(), &src, out.get(), &dst, size_t(hole - at), 0);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) throw_sys("copy " + from + " to", to);
        if (n == 0) throw Error("copy " + from + " to " + to + ": the file shrank under the copy");
        at += n;
      }
      pos = hole;
    }
    check_sys(::fsync(out.get()), "fsync", to);
  } catch (...) {
    ::unlink(to.c_str());
    throw;
  }
}

void remove_all(const std::string& path) {
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
  if (ec) throw Error("remove " + path + ": " + ec.message(), ec.value());
}

bool path_exists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

bool is_dir(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

std::vector<std::string> list_dir(const std::string& path) {
  std::vector<std::string> out;
  DIR* d = ::opendir(path.c_str());
  if (!d) {
    if (errno == ENOENT) return out;
    throw_sys("opendir", path);
  }
  while (dirent* de = ::readdir(d)) {
    std::string n = de->d_name;
    if (n != "." && n != "..") out.push_back(std::move(n));
  }
  ::closedir(d);
  return out;
}

std::string now_rfc3339_nano() {
  struct timespec ts;
  ::clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  ::gmtime_r(&ts.tv_sec, &tm);
  char buf[64];
  size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(buf + n, sizeof buf - n, ".%09ldZ", ts.tv_nsec);
  return buf;
}

std::string random_bytes(size_t bytes) {
  std::string raw(bytes, '\0');
  size_t got = 0;
  while (got < bytes) {
    ssize_t n = ::getrandom(raw.data() + got, bytes - got, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_sys("getrandom");
    }
    got += static_cast<size_t>(n);
  }
  return raw;
}

std::string random_hex(size_t bytes) { return hex_encode(random_bytes(bytes)); }

uint64_t disk_bytes(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) < 0) return 0;
  uint64_t n = static_cast<uint64_t>(st.st_blocks) * 512;
  if (!S_ISDIR(st.st_mode)) return n;
  std::set<std::pair<dev_t, ino_t>> seen;
  std::error_code ec;
  for (std::filesystem::recursive_directory_iterator it(path, std::filesystem::directory_options::skip_permission_denied, ec), end;
       !ec && it != end; it.increment(ec)) {
    struct stat e;
    if (::lstat(it->path().c_str(), &e) < 0) continue;
    if (e.st_dev != st.st_dev) {  // another file system mounted inside: not ours to count
      it.disable_recursion_pending();
      continue;
    }
    if (e.st_nlink > 1 && !S_ISDIR(e.st_mode) && !seen.insert({e.st_dev, e.st_ino}).second) continue;
    n += static_cast<uint64_t>(e.st_blocks) * 512;
  }
  return n;
}

}  // namespace hvrun
