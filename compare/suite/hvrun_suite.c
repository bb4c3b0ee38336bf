/* hvrun-suite: the micro-workloads and probes `hvrun compare` injects into a
 * container or microVM through a read-only volume (/.hvrun-suite). One small
 * static binary so that it runs in any image, busybox or scratch alike.
 *
 *   hvrun-suite mark -- CMD [ARG]...   print the start marker, then exec CMD
 *   hvrun-suite bench [NAME]...        run micro-benchmarks (all by default)
 *   hvrun-suite report                 print what the workload sees (isolation)
 *   hvrun-suite list                   print the benchmark names
 *   hvrun-suite noop                   exit 0 at once (fork+exec's target)
 *
 * Every command prints START_MARKER as its first output line: the host
 * takes that line's arrival as "the workload's first instruction ran".
 * Results are lines "@hvrun-suite@ NAME NS_PER_OP OPS" (or "NAME skip WHY")
 * and "@hvrun-iso@ KEY VALUE". */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define START_MARKER "@hvrun-start@"
/* Each benchmark runs in doubling batches until it has run this long, so a
 * slow (emulated) guest still finishes in bounded time. */
#define TARGET_NS 200000000LL
#define MAX_OPS (1LL << 26)

static const char* self_path = "/proc/self/exe";

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void mark(void) {
  /* One write(2): the marker must leave in a single chunk. */
  static const char m[] = START_MARKER "\n";
  if (write(1, m, sizeof m - 1) < 0) _exit(120);
}

/* A benchmark runs `ops` operations, stores the time they took (set-up
 * and tear-down left out) in *ns and returns 0, or -1 with errno. */
typedef int (*bench_fn)(long long ops, int64_t* ns);

static int b_getpid(long long ops, int64_t* ns) {
  int64_t t0 = now_ns();
  for (long long i = 0; i < ops; ++i) syscall(SYS_getpid);
  *ns = now_ns() - t0;
  return 0;
}

static int b_fork_exec(long long ops, int64_t* ns) {
  int64_t t0 = now_ns();
  for (long long i = 0; i < ops; ++i) {
    pid_t p = fork();
    if (p < 0) return -1;
    if (p == 0) {
      execl(self_path, self_path, "noop", (char*)NULL);
      _exit(127);
    }
    int st;
    if (waitpid(p, &st, 0) < 0) return -1;
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
      errno = ECHILD;
      return -1;
    }
  }
  *ns = now_ns() - t0;
  return 0;
}

static char fsync_path[256];

static int b_fsync(long long ops, int64_t* ns) {
  char buf[4096], back[4096];
  memset(buf, 'h', sizeof buf);
  int fd = open(fsync_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return -1;
  int rc = 0;
  int64_t t0 = now_ns();
  for (long long i = 0; i < ops && rc == 0; ++i) {
    if (pwrite(fd, buf, sizeof buf, 0) != (ssize_t)sizeof buf || fsync(fd) != 0 ||
        pread(fd, back, sizeof back, 0) != (ssize_t)sizeof back)
      rc = -1;
  }
  *ns = now_ns() - t0;
  int e = errno;
  close(fd);
  unlink(fsync_path);
  errno = e;
  return rc;
}

/* One op = one first-touch page fault on fresh anonymous memory. */
static int b_page_fault(long long ops, int64_t* ns) {
  const long page = sysconf(_SC_PAGESIZE);
  const long long chunk = 4096; /* pages per mapping: 16 MiB */
  *ns = 0;
  for (long long done = 0; done < ops;) {
    long long n = ops - done < chunk ? ops - done : chunk;
    char* p = mmap(NULL, (size_t)(n * page), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return -1;
    int64_t t0 = now_ns();
    for (long long i = 0; i < n; ++i) p[i * page] = 1;
    *ns += now_ns() - t0;
    munmap(p, (size_t)(n * page));
    done += n;
  }
  return 0;
}

/* One op = one byte there and back between two processes over pipes. */
static int b_pipe(long long ops, int64_t* ns) {
  int a[2], b[2];
  if (pipe(a) || pipe(b)) return -1;
  pid_t p = fork();
  if (p < 0) return -1;
  if (p == 0) {
    char c;
    close(a[1]);
    close(b[0]);
    while (read(a[0], &c, 1) == 1)
      if (write(b[1], &c, 1) != 1) _exit(1);
    _exit(0);
  }
  close(a[0]);
  close(b[1]);
  int rc = 0;
  char c = 'x';
  /* One round trip first: the child's start is not part of the timing. */
  if (write(a[1], &c, 1) != 1 || read(b[0], &c, 1) != 1) rc = -1;
  int64_t t0 = now_ns();
  for (long long i = 0; i < ops && rc == 0; ++i) {
    if (write(a[1], &c, 1) != 1 || read(b[0], &c, 1) != 1) {
      rc = -1;
      break;
    }
  }
  *ns = now_ns() - t0;
  int e = errno;
  close(a[1]);
  close(b[0]);
  waitpid(p, NULL, 0);
  errno = e;
  return rc;
}

/* One op = one byte there and back between two processes over a TCP
 * connection on 127.0.0.1 (the workload's own loopback: its network
 * namespace's in a container, the guest kernel's in a VM). */
static int b_tcp(long long ops, int64_t* ns) {
  int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (ls < 0) return -1;
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t al = sizeof a;
  if (bind(ls, (struct sockaddr*)&a, sizeof a) || listen(ls, 1) || getsockname(ls, (struct sockaddr*)&a, &al)) {
    int e = errno;
    close(ls);
    errno = e;
    return -1;
  }
  pid_t p = fork();
  if (p < 0) {
    close(ls);
    return -1;
  }
  if (p == 0) {
    int c = accept(ls, NULL, NULL);
    if (c < 0) _exit(1);
    int one = 1;
    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    char ch;
    while (read(c, &ch, 1) == 1)
      if (write(c, &ch, 1) != 1) _exit(1);
    _exit(0);
  }
  close(ls);
  int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int rc = s < 0 ? -1 : connect(s, (struct sockaddr*)&a, sizeof a);
  if (rc == 0) {
    int one = 1;
    setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  char c = 'x';
  /* One round trip first: the accept is not part of the timing. */
  if (rc == 0 && (write(s, &c, 1) != 1 || read(s, &c, 1) != 1)) rc = -1;
  int64_t t0 = now_ns();
  for (long long i = 0; i < ops && rc == 0; ++i) {
    if (write(s, &c, 1) != 1 || read(s, &c, 1) != 1) rc = -1;
  }
  *ns = now_ns() - t0;
  int e = errno;
  if (s >= 0) close(s);
  if (rc != 0) kill(p, SIGKILL);
  waitpid(p, NULL, 0);
  errno = e;
  return rc;
}

struct bench {
  const char* name;
  bench_fn fn;
};

static const struct bench benches[] = {
    {"getpid", b_getpid},
    {"fork_exec", b_fork_exec},
    {"fsync", b_fsync},
    {"page_fault", b_page_fault},
    {"pipe_pingpong", b_pipe},
    {"tcp_loopback", b_tcp},
};
#define NBENCH (sizeof benches / sizeof benches[0])

static void run_bench(const struct bench* b) {
  int64_t took = 0;
  if (b->fn(1, &took) != 0) { /* warm-up, and a clear error if it cannot run */
    printf("@hvrun-suite@ %s skip error:%s\n", b->name, strerror(errno));
    fflush(stdout);
    return;
  }
  long long ops = 1;
  for (;;) {
    if (b->fn(ops, &took) != 0) {
      printf("@hvrun-suite@ %s skip error:%s\n", b->name, strerror(errno));
      fflush(stdout);
      return;
    }
    if (took >= TARGET_NS / 2 || ops >= MAX_OPS) break;
    ops *= 2;
  }
  printf("@hvrun-suite@ %s %.1f %lld\n", b->name, (double)took / (double)ops, ops);
  fflush(stdout);
}

static int bench_main(int argc, char** argv) {
  const char* dir = access("/tmp", W_OK) == 0 ? "/tmp" : ".";
  snprintf(fsync_path, sizeof fsync_path, "%s/.hvrun-suite-fsync.%d", dir, (int)getpid());
  for (int i = 0; i < argc; ++i) {
    int found = 0;
    for (size_t j = 0; j < NBENCH; ++j) found |= strcmp(argv[i], benches[j].name) == 0;
    if (!found) {
      fprintf(stderr, "hvrun-suite: unknown benchmark '%s'\n", argv[i]);
      return 2;
    }
  }
  mark();
  for (size_t j = 0; j < NBENCH; ++j) {
    int want = argc == 0;
    for (int i = 0; i < argc; ++i) want |= strcmp(argv[i], benches[j].name) == 0;
    if (want) run_bench(&benches[j]);
  }
  return 0;
}

/* The value after "Key:" in a /proc file, whitespace-trimmed; "?" if absent. */
static void proc_field(const char* path, const char* key, char* out, size_t n) {
  snprintf(out, n, "?");
  FILE* f = fopen(path, "re");
  if (!f) return;
  char line[512];
  size_t kl = strlen(key);
  while (fgets(line, sizeof line, f)) {
    if (strncmp(line, key, kl) == 0 && line[kl] == ':') {
      char* v = line + kl + 1;
      while (*v == ' ' || *v == '\t') ++v;
      v[strcspn(v, "\n")] = 0;
      snprintf(out, n, "%s", v);
      break;
    }
  }
  fclose(f);
}

static int report_main(void) {
  mark();
  struct utsname u;
  if (uname(&u) == 0) printf("@hvrun-iso@ kernel %s\n", u.release);
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0) printf("@hvrun-iso@ cpus %d\n", CPU_COUNT(&set));
  char v[256];
  proc_field("/proc/meminfo", "MemTotal", v, sizeof v);
  printf("@hvrun-iso@ mem_total %s\n", v);
  proc_field("/proc/self/status", "CapEff", v, sizeof v);
  printf("@hvrun-iso@ cap_eff %s\n", v);
  proc_field("/proc/self/status", "Seccomp", v, sizeof v);
  printf("@hvrun-iso@ seccomp %s\n", v);
  struct dirent** list;
  printf("@hvrun-iso@ devices");
  int n = scandir("/dev", &list, NULL, alphasort);
  for (int i = 0; i < n; ++i) {
    if (list[i]->d_name[0] != '.') printf(" %s", list[i]->d_name);
    free(list[i]);
  }
  if (n >= 0) free(list);
  /* pid_for_children and time_for_children left out: the same as pid and
   * time unless the workload itself unshared. */
  printf("\n@hvrun-iso@ namespaces");
  n = scandir("/proc/self/ns", &list, NULL, alphasort);
  for (int i = 0; i < n; ++i) {
    const char* name = list[i]->d_name;
    if (name[0] != '.' && !strstr(name, "_for_children")) {
      char p[300], t[128];
      snprintf(p, sizeof p, "/proc/self/ns/%s", name);
      ssize_t len = readlink(p, t, sizeof t - 1);
      if (len > 0) {
        t[len] = 0;
        printf(" %s", t);
      }
    }
    free(list[i]);
  }
  if (n >= 0) free(list);
  printf("\n");
  fflush(stdout);
  return 0;
}

int main(int argc, char** argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: hvrun-suite mark -- CMD... | bench [NAME]... | report | list | noop\n");
    return 2;
  }
  if (argv[0][0] == '/') self_path = argv[0];
  const char* cmd = argv[1];
  if (!strcmp(cmd, "noop")) return 0;
  if (!strcmp(cmd, "list")) {
    for (size_t j = 0; j < NBENCH; ++j) printf("%s\n", benches[j].name);
    return 0;
  }
  if (!strcmp(cmd, "bench")) return bench_main(argc - 2, argv + 2);
  if (!strcmp(cmd, "report")) return report_main();
  if (!strcmp(cmd, "mark")) {
    int i = 2;
    if (i < argc && !strcmp(argv[i], "--")) ++i;
    if (i >= argc) {
      fprintf(stderr, "hvrun-suite: mark needs a command\n");
      return 2;
    }
    mark();
    execvp(argv[i], argv + i);
    fprintf(stderr, "hvrun-suite: exec %s: %s\n", argv[i], strerror(errno));
    return 127;
  }
  fprintf(stderr, "hvrun-suite: unknown command '%s'\n", cmd);
  return 2;
}
