// The jail of hvrun-vmm: what a guest that broke out of its kernel and took
// over the VMM's device emulation meets. Like Firecracker's jailer, applied
// by the VMM process itself in three steps, before the guest runs its first
// instruction:
//
//  1. enter_jail_root(cfg), before run_vm: new mount and IPC namespaces; an
//     empty tmpfs root holding only what this VM opens (kernel, initrd,
//     disks, 9p shares, /dev/kvm, and /proc with only this uid's processes
//     when there are shares: the 9p server reopens fids through
//     /proc/self/fd), pivoted into, the old root detached, the new root made
//     read-only; cfg's paths are rewritten to those inside.
//  2. jail_identity(jail), as VmConfig::after_setup (every fd is open by
//     then): rlimits (no core dumps; fds and address space capped at what
//     the VM needs), not dumpable (no ptrace or /proc/PID/mem by another
//     VMM of the same uid), every capability and the bounding set dropped
//     for the calling thread, and a switch of every thread to the
//     unprivileged uid/gid (the hvrun-vmm system user).
//  3. jail_thread(role), as VmConfig::enter_thread and first in the relay:
//     that thread's capabilities (none; a 9p worker keeps only CHOWN,
//     DAC_OVERRIDE, DAC_READ_SEARCH, FOWNER and FSETID, which passthrough of
//     the guest's file ownership needs) and its seccomp filter
//     (vmm/seccomp_filters.hpp).
//
// The monitor starts a jailed VMM in a PID namespace of its own
// (engine/vm_backend.cpp: it is PID 1 there, sees no other process, and its
// /proc shows only itself) and in a cgroup of its own that caps its memory
// at guest RAM plus its own needs. Not done: a new network namespace (no
// role may open a socket anyway).
#pragma once
#include <sys/types.h>

#include <cstdint>
#include <string>

#include "vmm/vm.hpp"

namespace hvrun::vmm {

struct JailConfig {
  bool enabled = false;
  uint32_t uid = 65534;  // the hvrun-vmm user; nobody if there is none
  uint32_t gid = 65534;
  // A pidfd of the monitor (-1: none). In a PID namespace of its own the
  // VMM's getppid() is 0, so this is how it learns that its monitor is gone.
  int monitor_pidfd = -1;
};

// The 9p worker's capabilities (passthrough of file ownership and modes).
extern const int kP9WorkerCaps[5];

// Step 1. Throws Error naming what could not be set up.
void enter_jail_root(VmConfig& cfg);

// Step 2. `mem_bytes` (guest RAM) and `threads` (how many threads the VMM
// will run) size the address-space limit. Closes jail.monitor_pidfd after
// checking by it that the monitor still lives. Throws Error.
void jail_identity(const JailConfig& jail, uint64_t mem_bytes, unsigned threads);

// Step 3, on the calling thread. Throws Error.
//
// Test-only hook: with HVRUN_TEST_VMM_FORBIDDEN_SYSCALL=ROLE in the
// environment (vcpu, io, p9, relay), the thread of that role makes a
// syscall its filter forbids (socket(2)) right after installing it, so that
// tests can see the process die by SIGSYS.
void jail_thread(ThreadRole role);

}  // namespace hvrun::vmm
