// --init (Docker's, which runs tini): a small init as the container's PID 1.
// It forwards every signal it gets to the workload, reaps every process
// reparented to it (orphans that would otherwise stay zombies under a
// workload that never waits), and exits as the workload did: its code, or
// 128 + the signal that killed it.
//
// It is the container process itself, forked just before the workload's
// execve, after every confinement step: it runs with the workload's user,
// capabilities, seccomp filter and namespaces, holds no fd but 0, 1 and 2,
// is not dumpable (no ptrace or /proc/1/mem from the workload), and blanks
// the command line and environment it inherited (hvrun's own) so that
// /proc/1/cmdline and /proc/1/environ show nothing of the host.
#pragma once

namespace hvrun::container {

// Forks. In the child (the workload-to-be) returns, with the signal mask it
// was called with, as the foreground process group of the terminal on fd 0
// when there is one. In the parent never returns: it becomes the init.
// Throws when the fork fails.
void fork_init();

}  // namespace hvrun::container
