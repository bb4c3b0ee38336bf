// openat2(2) (no libc wrapper in Debian 12's glibc): the one place that
// calls it, for the three resolvers that confine a path to a root (image
// layers' extraction, container mount targets, the 9p server's shares).
#pragma once
#include <sys/types.h>

#include <cstdint>

namespace hvrun {

// Opens `path` relative to `dirfd` with `flags` (O_CLOEXEC added), `mode`
// and the RESOLVE_* flags `resolve`; retries EINTR and EAGAIN (the kernel
// says EAGAIN when a concurrent rename raced the lookup). Returns the fd,
// or -1 with errno set.
int openat2_fd(int dirfd, const char* path, int flags, uint64_t resolve, mode_t mode = 0);

}  // namespace hvrun
