// RAII for file descriptors and memory mappings.
#pragma once
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <string_view>
#include <utility>

namespace hvrun {

// Writes all of [p, p+n) to fd, retrying short writes and EINTR. False on
// any other error, errno saying which (EPIPE: the reader is gone; EBADF for
// fd -1). Callers that must not stop on a closed reader ignore the result.
bool write_all(int fd, const void* p, size_t n);
inline bool write_all(int fd, std::string_view s) { return write_all(fd, s.data(), s.size()); }
// Everything readable from `fd` until EOF or an error (EINTR retried): a
// child's output pipe, read before the child is waited for.
std::string read_to_end(int fd);

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd() { reset(); }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  UniqueFd(UniqueFd&& o) noexcept : fd_(o.release()) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept {
    if (this != &o) reset(o.release());
    return *this;
  }
  int get() const { return fd_; }
  explicit operator bool() const { return fd_ >= 0; }
  int release() { return std::exchange(fd_, -1); }
  void reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

// A pidfd for `pid` (pidfd_open(2)), empty on failure (errno says why): it
// pins that process, so a signal sent through it never reaches a reused pid.
UniqueFd open_pidfd(int pid);
// Adds O_NONBLOCK to fd's status flags.
void set_nonblock(int fd);

class Mapping {
 public:
  Mapping() = default;
  Mapping(void* addr, size_t len) : addr_(addr), len_(len) {}
  ~Mapping() { reset(); }
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;
  Mapping(Mapping&& o) noexcept : addr_(std::exchange(o.addr_, nullptr)), len_(std::exchange(o.len_, 0)) {}
  Mapping& operator=(Mapping&& o) noexcept {
    if (this != &o) {
      reset();
      addr_ = std::exchange(o.addr_, nullptr);
      len_ = std::exchange(o.len_, 0);
    }
    return *this;
  }
  void* data() const { return addr_; }
  size_t size() const { return len_; }
  void reset() {
    if (addr_ && addr_ != MAP_FAILED) ::munmap(addr_, len_);
    addr_ = nullptr;
    len_ = 0;
  }

 private:
  void* addr_ = nullptr;
  size_t len_ = 0;
};

// pipe2(O_CLOEXEC) as a pair of owned ends.
struct Pipe {
  UniqueFd read;
  UniqueFd write;
  static Pipe make();
};

}  // namespace hvrun
