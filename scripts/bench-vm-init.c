// /init of the initramfs that scripts/bench-vm.sh boots under both our VMM
// and QEMU microvm: the least a guest init can do. Build: gcc -static -O2.
//   1. writes a byte to the boot-timer port 0x3f0 (our VMM records boot_ns;
//      QEMU ignores it),
//   2. prints the marker line below on /dev/console (ttyS0),
//   3. if the kernel command line has benchdmesg=1 (the kernel hands unknown
//      parameters to init in the environment), notes "bench-vm-init: init
//      reached" in the kernel log and then prints the whole kernel log
//      (printk timestamps, every level) after the marker: a profile of the
//      boot that costs no console output before init (boot with `quiet` and
//      e.g. initcall_debug; see scripts/boot-profile.py),
//   4. if it has benchsleep=MS, sleeps that long (memory sampling runs),
//   5. reboots (RB_AUTOBOOT): with reboot=t a triple fault, which ends both
//      VMMs (QEMU with -no-reboot).
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/io.h>
#include <sys/klog.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#define MARKER "BENCH-VM-INIT-REACHED\n"

static void write_all(int fd, const char* p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w <= 0) return;
    p += w;
    n -= (size_t)w;
  }
}

static void dump_kernel_log(int fd) {
  mknod("/dev/kmsg", S_IFCHR | 0600, makedev(1, 11));
  int k = open("/dev/kmsg", O_WRONLY);
  if (k >= 0) {
    write_all(k, "bench-vm-init: init reached\n", 28);
    close(k);
  }
  static char buf[1 << 20];
  int n = klogctl(3 /* SYSLOG_ACTION_READ_ALL */, buf, sizeof buf);
  if (n > 0) {
    write_all(fd, "BENCH-VM-DMESG-BEGIN\n", 21);
    write_all(fd, buf, (size_t)n);
    write_all(fd, "BENCH-VM-DMESG-END\n", 19);
  }
}

int main(void) {
  if (ioperm(0x3f0, 1, 1) == 0) outb(0, 0x3f0);
  int fd = 1;
  if (fcntl(1, F_GETFD) < 0) {  // no console opened for us: make one
    mkdir("/dev", 0755);
    mknod("/dev/console", S_IFCHR | 0600, makedev(5, 1));
    fd = open("/dev/console", O_WRONLY | O_NOCTTY);
  }
  if (fd >= 0) write_all(fd, MARKER, strlen(MARKER));
  const char* d = getenv("benchdmesg");
  if (d && strcmp(d, "1") == 0 && fd >= 0) dump_kernel_log(fd);
  const char* s = getenv("benchsleep");
  if (s) {
    long ms = strtol(s, NULL, 10);
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
  }
  sync();
  reboot(RB_AUTOBOOT);
  for (;;) pause();
}
