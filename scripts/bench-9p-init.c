// /init of the initramfs that scripts/bench-9p.sh boots under both our VMM
// (hvrun-vmm --share) and QEMU microvm (virtio-9p-device): mounts the 9p
// share tagged "share" exactly as guest-init mounts a volume, times three
// workloads inside the guest with CLOCK_MONOTONIC, prints one line
//   BENCH-9P write_ms=W read_ms=R meta_ms=M bytes=B files=F
// (or BENCH-9P-ERROR what) on the console and reboots. Build: gcc -static -O2.
//   write: a BENCH_MIB MiB file (default 32) in 256 KiB writes, then fsync
//   read:  the same file read back through a fresh open
//   meta:  BENCH_FILES (default 300) files: create+close, stat, unlink each
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

static int con = 1;

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void say(const char* s) {
  size_t n = strlen(s);
  while (n > 0) {
    ssize_t w = write(con, s, n);
    if (w <= 0) return;
    s += w;
    n -= (size_t)w;
  }
}

static void fail(const char* what) {
  char buf[256];
  snprintf(buf, sizeof buf, "BENCH-9P-ERROR %s: %s\n", what, strerror(errno));
  say(buf);
  reboot(RB_AUTOBOOT);
  for (;;) pause();
}

static long env_long(const char* name, long def) {
  const char* v = getenv(name);
  return v ? strtol(v, NULL, 10) : def;
}

int main(void) {
  if (fcntl(1, F_GETFD) < 0) {
    mkdir("/dev", 0755);
    mknod("/dev/console", S_IFCHR | 0600, makedev(5, 1));
    con = open("/dev/console", O_WRONLY | O_NOCTTY);
  }
  mkdir("/mnt", 0755);
  if (mount("share", "/mnt", "9p", MS_NOSUID | MS_NODEV,
            "trans=virtio,version=9p2000.L,access=client,cache=mmap,msize=262144") != 0)
    fail("mount 9p share");
  const long mib = env_long("BENCH_MIB", 32), files = env_long("BENCH_FILES", 300);
  static char buf[256 * 1024];
  memset(buf, 0x5a, sizeof buf);

  double t0 = now_ms();
  int fd = open("/mnt/big", O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) fail("create /mnt/big");
  for (long i = 0; i < mib * 4; ++i)
    if (write(fd, buf, sizeof buf) != (ssize_t)sizeof buf) fail("write /mnt/big");
  if (fsync(fd) != 0) fail("fsync /mnt/big");
  close(fd);
  double t1 = now_ms();
  fd = open("/mnt/big", O_RDONLY);
  if (fd < 0) fail("open /mnt/big");
  long long total = 0;
  for (ssize_t n; (n = read(fd, buf, sizeof buf)) != 0;) {
    if (n < 0) fail("read /mnt/big");
    total += n;
  }
  close(fd);
  if (total != mib * 1024LL * 1024) {
    errno = EIO;
    fail("read back a different size");
  }
  double t2 = now_ms();
  char name[64];
  struct stat st;
  for (long i = 0; i < files; ++i) {
    snprintf(name, sizeof name, "/mnt/f%ld", i);
    int f = open(name, O_WRONLY | O_CREAT | O_EXCL, 0644);
    if (f < 0) fail("create a small file");
    close(f);
  }
  for (long i = 0; i < files; ++i) {
    snprintf(name, sizeof name, "/mnt/f%ld", i);
    if (stat(name, &st) != 0) fail("stat a small file");
  }
  for (long i = 0; i < files; ++i) {
    snprintf(name, sizeof name, "/mnt/f%ld", i);
    if (unlink(name) != 0) fail("unlink a small file");
  }
  double t3 = now_ms();
  unlink("/mnt/big");
  char line[256];
  snprintf(line, sizeof line, "BENCH-9P write_ms=%.1f read_ms=%.1f meta_ms=%.1f bytes=%lld files=%ld\n", t1 - t0,
           t2 - t1, t3 - t2, total, files);
  say(line);
  sync();
  reboot(RB_AUTOBOOT);
  for (;;) pause();
}
