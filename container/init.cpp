#include "container/init.hpp"

#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

#include "util/error.hpp"

namespace hvrun::container {

namespace {

// Zeroes the memory /proc/self/cmdline and /proc/self/environ read (the
// argument and environment strings of the process image, fields 48 to 51
// of /proc/self/stat). Best effort: without /proc it stays as it was.
void blank_command_line_and_environment() {
  int fd = ::open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  char buf[4096];
  ssize_t n = ::read(fd, buf, sizeof buf - 1);
  ::close(fd);
  if (n <= 0) return;
  buf[n] = 0;
  // Fields after the command name, which may itself hold spaces and ')'.
  char* p = std::strrchr(buf, ')');
  if (!p) return;
  // Field 3 (the state letter) is the first after ')'.
  uintptr_t field[52] = {};
  int i = 2;
  for (char* tok = p + 1; *tok && i < 51;) {
    while (*tok == ' ') ++tok;
    if (!*tok || *tok == '\n') break;
    field[++i] = std::strtoull(tok, nullptr, 10);
    while (*tok && *tok != ' ') ++tok;
  }
  if (i < 51) return;
  const uintptr_t arg_start = field[48], env_end = field[51];
  if (arg_start == 0 || env_end <= arg_start || env_end - arg_start > (64u << 20)) return;
  std::memset(reinterpret_cast<void*>(arg_start), 0, env_end - arg_start);
}

[[noreturn]] void run_init(pid_t workload) {
  // Only stdio stays: the report pipe among the rest must reach EOF when the
  // workload execs, and nothing of the runtime's may live on in here.
  if (::syscall(SYS_close_range, 3U, ~0U, 0U) < 0)
    for (int fd = 3; fd < 1024; ++fd) ::close(fd);
  ::prctl(PR_SET_NAME, "init", 0, 0, 0);
  ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  blank_command_line_and_environment();
  sigset_t all;
  ::sigfillset(&all);
  for (;;) {
    siginfo_t si;
    const int sig = ::sigwaitinfo(&all, &si);
    if (sig < 0) continue;  // EINTR
    if (sig != SIGCHLD) {
      ::kill(workload, sig);
      continue;
    }
    for (;;) {
      int st = 0;
      const pid_t pid = ::waitpid(-1, &st, WNOHANG);
      if (pid <= 0) break;
      if (pid == workload) ::_exit(WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
    }
  }
}

}  // namespace

void fork_init() {
  sigset_t all, old;
  ::sigfillset(&all);
  // Blocked before the fork: a signal sent between the fork and the wait
  // stays pending for the init to forward.
  check_sys(::sigprocmask(SIG_BLOCK, &all, &old), "sigprocmask");
  const pid_t pid = ::fork();
  if (pid < 0) {
    const int err = errno;
    ::sigprocmask(SIG_SETMASK, &old, nullptr);
    throw_sys("fork", "the workload under --init", err);
  }
  if (pid > 0) run_init(pid);
  // The workload: its own process group, in the terminal's foreground (job
  // control and ^C reach it, not the init); SIGTTOU is blocked meanwhile.
  if (::isatty(0) == 1) {
    ::setpgid(0, 0);
    ::tcsetpgrp(0, ::getpid());
  }
  ::sigprocmask(SIG_SETMASK, &old, nullptr);
}

}  // namespace hvrun::container
