// /init of the initramfs that scripts/bench-snapshot.sh boots: a guest that
// shows on its serial console when it runs. Build: gcc -static -O2.
//   1. writes the boot-timer port 0x3f0 and prints INIT_MARK on /dev/console
//      (ttyS0): "guest init reached",
//   2. fills 64 MiB of its memory (a workload's heap: what clones of its
//      snapshot share) and prints HEAP_MARK,
//   3. then prints one '.' every 10 ms for ever, writing one page of its
//      heap each time: a VM restored from a snapshot of it prints within
//      10 ms (guest time) of running again.
// After a restore it does no port I/O of its own: under the nested test
// host's QEMU (TCG) a restored busy TSS makes user-mode port I/O fault
// (docs/architecture.md, Snapshots).
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/io.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#define INIT_MARK "BENCH-SNAP-INIT\n"
#define HEAP_MARK "BENCH-SNAP-READY\n"

int main(void) {
  if (ioperm(0x3f0, 1, 1) == 0) outb(0, 0x3f0);
  int fd = 1;
  if (fcntl(1, F_GETFD) < 0) {
    mkdir("/dev", 0755);
    mknod("/dev/console", S_IFCHR | 0600, makedev(5, 1));
    fd = open("/dev/console", O_WRONLY | O_NOCTTY);
  }
  if (write(fd, INIT_MARK, strlen(INIT_MARK)) < 0) return 1;
  const size_t heap = 64u << 20;
  char* p = malloc(heap);
  if (!p) return 1;
  for (size_t i = 0; i < heap; i += 4096) p[i] = (char)(i >> 12 | 1);
  if (write(fd, HEAP_MARK, strlen(HEAP_MARK)) < 0) return 1;
  for (unsigned long n = 0;; ++n) {
    p[(n % (heap / 4096)) * 4096] ^= 1;
    if (write(fd, ".", 1) < 0) return 1;
    usleep(10000);
  }
}
