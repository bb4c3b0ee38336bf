// /init of the initramfs that scripts/bench-vm.sh boots under both our VMM
// and QEMU microvm: the least a guest init can do. Build: gcc -static -O2.
//   1. writes a byte to the boot-timer port 0x3f0 (our VMM records boot_ns;
//      QEMU ignores it),
//   2. prints the marker line below on /dev/console (ttyS0),
//   3. if the kernel command line has benchsleep=MS (the kernel hands it to
//      init in the environment), sleeps that long (memory sampling runs),
//   4. reboots (RB_AUTOBOOT): with reboot=t a triple fault, which ends both
//      VMMs (QEMU with -no-reboot).
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/io.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#define MARKER "BENCH-VM-INIT-REACHED\n"

int main(void) {
  if (ioperm(0x3f0, 1, 1) == 0) outb(0, 0x3f0);
  int fd = 1;
  if (fcntl(1, F_GETFD) < 0) {  // no console opened for us: make one
    mkdir("/dev", 0755);
    mknod("/dev/console", S_IFCHR | 0600, makedev(5, 1));
    fd = open("/dev/console", O_WRONLY | O_NOCTTY);
  }
  if (fd >= 0) {
    ssize_t n = write(fd, MARKER, strlen(MARKER));
    (void)n;
  }
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
