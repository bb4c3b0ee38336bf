/* hvrun-security-probe: a tiny static program the security tests run inside
 * containers (the busybox image has no libc to link against).
 *
 *   hvrun-security-probe ids      print "uid=R euid=E" (real and effective)
 *   hvrun-security-probe ptrace   fork a child, PTRACE_ATTACH to it, read a
 *                                 word of it with PTRACE_PEEKDATA and with
 *                                 process_vm_readv; print one line for each
 *                                 ("ptrace: ok" or "ptrace: <strerror>") */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile long marker = 0x5eed5eedL;

static int probe_ptrace(void) {
  pid_t child = fork();
  if (child < 0) {
    printf("fork: %s\n", strerror(errno));
    return 2;
  }
  if (child == 0) {
    for (;;) pause();
  }
  int rc = 0;
  if (ptrace(PTRACE_ATTACH, child, NULL, NULL) < 0) {
    printf("ptrace: %s\n", strerror(errno));
    rc = 1;
  } else {
    int st = 0;
    waitpid(child, &st, 0);
    errno = 0;
    long word = ptrace(PTRACE_PEEKDATA, child, (void*)&marker, NULL);
    if (errno) printf("ptrace: peek: %s\n", strerror(errno)), rc = 1;
    else printf("ptrace: %s\n", word == marker ? "ok" : "read the wrong word");
    ptrace(PTRACE_DETACH, child, NULL, NULL);
  }
  long got = 0;
  struct iovec local = {&got, sizeof got}, remote = {(void*)&marker, sizeof marker};
  if (process_vm_readv(child, &local, 1, &remote, 1, 0) < 0) printf("process_vm_readv: %s\n", strerror(errno)), rc = 1;
  else printf("process_vm_readv: %s\n", got == marker ? "ok" : "read the wrong word");
  kill(child, SIGKILL);
  waitpid(child, NULL, 0);
  return rc;
}

int main(int argc, char** argv) {
  if (argc == 2 && strcmp(argv[1], "ids") == 0) {
    printf("uid=%d euid=%d\n", (int)getuid(), (int)geteuid());
    return 0;
  }
  if (argc == 2 && strcmp(argv[1], "ptrace") == 0) return probe_ptrace();
  fprintf(stderr, "usage: %s ids|ptrace\n", argv[0]);
  return 2;
}
