#include "util/self_exe.hpp"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cstdlib>

#include "util/fd.hpp"

extern char** environ;

namespace hvrun {
namespace {

constexpr const char* kEnvVar = "HVRUN_SELF_EXE";

std::string readlink_self() {
  char buf[4096];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, size_t(n)) : "";
}

}  // namespace

std::string self_exe_path() {
  std::string self = readlink_self();
  if (self == "/")  // the detached read-only view: its root is the file
    if (const char* e = std::getenv(kEnvVar); e && *e) return e;
  return self;
}

void reexec_from_readonly_self(char** argv) {
  UniqueFd self(::open("/proc/self/exe", O_RDONLY | O_CLOEXEC));
  struct statvfs st {};
  if (!self || ::fstatvfs(self.get(), &st) != 0 || (st.f_flag & ST_RDONLY)) return;
  std::string path = readlink_self();
  if (path.empty() || path == "/") return;  // never loop
  UniqueFd view(::open_tree(AT_FDCWD, "/proc/self/exe", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC));
  if (!view) return;  // EPERM without CAP_SYS_ADMIN
  mount_attr attr{};
  attr.attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
  if (::mount_setattr(view.get(), "", AT_EMPTY_PATH, &attr, sizeof attr) != 0) return;
  if (::setenv(kEnvVar, path.c_str(), 1) != 0) return;
  ::execveat(view.get(), "", argv, environ, AT_EMPTY_PATH);
  ::unsetenv(kEnvVar);  // the exec failed: go on from the writable binary
}

}  // namespace hvrun
