// Pseudo-terminals for tty containers. The pty pair is made INSIDE the
// container's own devpts instance (so the slave is /dev/pts/N there), the
// slave becomes the workload's stdio and controlling terminal (and is bound
// over /dev/console), and the master travels to the caller over a unix
// socketpair with SCM_RIGHTS.
#pragma once
#include "util/fd.hpp"

namespace hvrun::container {

struct PtyPair {
  UniqueFd master;
  UniqueFd slave;
};

// Opens `ptmx` (an fd or path resolved by the caller) and its peer.
// Refuses a ptmx that is not on a devpts filesystem.
PtyPair open_pty(int ptmx_dirfd, const char* ptmx_name);

// Makes `slave` the session's controlling tty and stdin/stdout/stderr.
void become_tty_session(int slave);

void send_fd(int sock, int fd);
// Returns the fd received, or an empty UniqueFd when the peer closed without sending.
UniqueFd recv_fd(int sock);

void set_window_size(int pty_master, unsigned short rows, unsigned short cols);

}  // namespace hvrun::container
