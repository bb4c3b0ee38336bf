// Errors that carry what failed and why: the operation, the object (path,
// value) and the errno text. Every layer throws hvrun::Error; the CLI prints
// e.what() as one line and exits non-zero.
#pragma once
#include <cerrno>
#include <stdexcept>
#include <string>

namespace hvrun {

// The exit status of hvrun's own errors (a bad flag, a missing image, a
// failure in hvrun itself), as Docker's 125: docs/architecture.md.
inline constexpr int kHvrunErrorStatus = 125;

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& msg, int err = 0) : std::runtime_error(msg), errno_(err) {}
  int code() const { return errno_; }

 private:
  int errno_;
};

// An error that asks the CLI to exit with a given status instead of 125
// (Docker's convention: 126 command not executable, 127 command not found).
class ExitError : public Error {
 public:
  ExitError(const std::string& msg, int exit_status, int err = 0) : Error(msg, err), status_(exit_status) {}
  int exit_status() const { return status_; }

 private:
  int status_;
};

// "open /var/lib/hvrun/x: No such file or directory"
[[noreturn]] void throw_sys(const std::string& what, int err = errno);
[[noreturn]] void throw_sys(const std::string& what, const std::string& object, int err = errno);

// Wraps a syscall result: returns it, or throws with errno text.
template <typename T>
T check_sys(T rc, const std::string& what) {
  if (rc < 0) throw_sys(what);
  return rc;
}
template <typename T>
T check_sys(T rc, const std::string& what, const std::string& object) {
  if (rc < 0) throw_sys(what, object);
  return rc;
}

}  // namespace hvrun
