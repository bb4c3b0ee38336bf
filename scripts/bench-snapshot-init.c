// /init of the initramfs that scripts/bench-snapshot.sh boots: a guest that
// shows the VMM when it runs. Build: gcc -static -O2.
//   1. writes the boot-timer port 0x3f0 (the VMM records the first write
//      of a run: boot_ns, for a cold boot "guest init reached"),
//   2. fills 64 MiB of its memory (a workload's heap: what clones of its
//      snapshot share),
//   3. prints the marker line below on /dev/console (ttyS0),
//   4. then writes the port every 5 ms for ever: a VM restored from a
//      snapshot of it writes again within 5 ms of running, which is the
//      restored run's boot_ns ("running again").
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/io.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#define MARKER "BENCH-SNAP-READY\n"

int main(void) {
  const int port = ioperm(0x3f0, 1, 1) == 0;
  if (port) outb(0, 0x3f0);
  size_t heap = 64u << 20;
  char* p = malloc(heap);
  if (p)
    for (size_t i = 0; i < heap; i += 4096) p[i] = (char)(i >> 12 | 1);
  int fd = 1;
  if (fcntl(1, F_GETFD) < 0) {
    mkdir("/dev", 0755);
    mknod("/dev/console", S_IFCHR | 0600, makedev(5, 1));
    fd = open("/dev/console", O_WRONLY | O_NOCTTY);
  }
  if (write(fd, MARKER, strlen(MARKER)) < 0) return 1;
  for (unsigned long n = 0;; ++n) {
    if (port) outb(0, 0x3f0);
    if (p) p[(n % (heap / 4096)) * 4096] ^= 1;  // the workload goes on writing its heap, a page at a time
    usleep(5000);
  }
}
