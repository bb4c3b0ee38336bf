#include "util/child.hpp"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <exception>

#include "util/error.hpp"
#include "util/fd.hpp"

namespace hvrun {

void run_in_child(const std::function<void()>& fn, const std::string& what) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) < 0) throw_sys("pipe");
  UniqueFd err_r(fds[0]), err_w(fds[1]);
  pid_t pid = ::fork();
  if (pid < 0) throw_sys("fork");
  if (pid == 0) {
    err_r.reset();
    try {
      fn();
      ::_exit(0);
    } catch (const std::exception& e) {
      std::string m = e.what();
      (void)!::write(err_w.get(), m.data(), m.size());
      ::_exit(1);
    }
  }
  err_w.reset();
  std::string msg;
  char buf[512];
  for (ssize_t n; (n = ::read(err_r.get(), buf, sizeof buf)) != 0;) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    msg.append(buf, size_t(n));
  }
  int st = 0;
  while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  if (!msg.empty()) throw Error(msg);
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) throw Error(what + " failed");
}

}  // namespace hvrun
