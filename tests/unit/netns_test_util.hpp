// Test helpers shared by the unit tests that need a private network namespace.
#pragma once
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <functional>
#include <string>

namespace hvrun::test {

// Runs fn in a child in a new network namespace; returns its stdout and "exit N".
inline std::string in_netns(const std::function<void()>& fn) {
  int p[2];
  if (::pipe(p) != 0) return "pipe failed";
  pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(p[1], 1);
    ::close(p[0]);
    if (::unshare(CLONE_NEWNET) != 0) {
      std::printf("unshare failed\n");
      std::fflush(stdout);
      ::_exit(2);
    }
    try {
      fn();
    } catch (const std::exception& e) {
      std::printf("error: %s\n", e.what());
      std::fflush(stdout);
      ::_exit(1);
    }
    std::fflush(stdout);
    ::_exit(0);
  }
  ::close(p[1]);
  std::string out;
  char b[4096];
  ssize_t n;
  while ((n = ::read(p[0], b, sizeof b)) > 0) out.append(b, size_t(n));
  ::close(p[0]);
  int st = 0;
  ::waitpid(pid, &st, 0);
  return out + "exit " + std::to_string(WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
}

inline std::string sh(const std::string& cmd) {
  std::string out;
  FILE* f = ::popen(cmd.c_str(), "r");
  if (!f) return "";
  char b[512];
  while (std::fgets(b, sizeof b, f)) out += b;
  ::pclose(f);
  return out;
}

}  // namespace hvrun::test
