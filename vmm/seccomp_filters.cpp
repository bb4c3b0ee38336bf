#include "vmm/seccomp_filters.hpp"

#include <fcntl.h>
#include <linux/kvm.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <unistd.h>

#include <pthread.h>
#include <signal.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "util/error.hpp"
#include "vmm/vcpu_state.hpp"
#include "vmm/vm_state.hpp"

namespace hvrun::vmm {

namespace {

// Memory, futexes, fds already held, time, this thread's own signals.
const char* const kCommon[] = {
    "read", "write", "readv", "writev", "pread64", "pwrite64", "preadv", "pwritev", "close", "lseek", "fstat",
    "newfstatat", "futex", "munmap", "mremap", "madvise", "brk", "rt_sigreturn", "rt_sigprocmask", "sigaltstack",
    "exit", "exit_group", "gettid", "getpid", "sched_yield", "nanosleep", "clock_nanosleep", "clock_gettime",
    "gettimeofday", "restart_syscall", "getrandom", "fsync", "fdatasync", "poll", "ppoll",
};
const char* const kVcpu[] = {"fallocate"};
// (ftruncate: a snapshot empties the file it was given, then sizes it.)
const char* const kIo[] = {"epoll_create1", "epoll_wait", "epoll_pwait", "epoll_ctl", "shutdown", "fallocate", "ftruncate"};
const char* const kRelay[] = {"sched_yield"};  // (poll, in common: consoles and the serial port wait with it too)
const char* const kP9[] = {
    "openat", "openat2", "open", "mkdirat", "mknodat", "symlinkat", "linkat", "renameat", "renameat2", "unlinkat",
    "readlinkat", "fchownat", "fchown", "fchmod", "fchmodat", "utimensat", "ftruncate", "fallocate", "getdents64",
    "fstatfs", "statfs", "statx", "dup", "fgetxattr", "flistxattr", "faccessat", "faccessat2",
    // through /proc/self/fd/N (the fid's own inode): mode and size changes
    "chmod", "truncate", "access",
};

void add(scmp_filter_ctx ctx, const char* name, unsigned argc = 0, const scmp_arg_cmp* args = nullptr) {
  const int nr = ::seccomp_syscall_resolve_name(name);
  if (nr == __NR_SCMP_ERROR) return;  // not on this architecture (e.g. "open" elsewhere)
  const int rc = args ? ::seccomp_rule_add_array(ctx, SCMP_ACT_ALLOW, nr, argc, args) : ::seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
  if (rc < 0) throw Error(std::string("seccomp: allow ") + name + ": " + std::strerror(-rc));
}

template <size_t N>
void add_all(scmp_filter_ctx ctx, const char* const (&names)[N]) {
  for (const char* n : names) add(ctx, n);
}

struct CtxDeleter {
  void operator()(void* c) const { ::seccomp_release(c); }
};

}  // namespace

std::vector<std::string> seccomp_allowed(ThreadRole role) {
  std::vector<std::string> out(std::begin(kCommon), std::end(kCommon));
  auto take = [&](auto& list) { out.insert(out.end(), std::begin(list), std::end(list)); };
  out.insert(out.end(), {"mmap (not PROT_EXEC)", "mprotect (not PROT_EXEC)", "tgkill (own threads)", "fcntl"});
  switch (role) {
    case ThreadRole::Vcpu:
      take(kVcpu);
      out.push_back("ioctl (KVM_RUN; for error dumps and snapshots the KVM_GET_* of regs, sregs, XSAVE, XCRs, LAPIC, "
                    "events, debug registers, MP state, MSRs)");
      break;
    case ThreadRole::IoLoop: take(kIo); out.push_back("ioctl (KVM_GET_IRQCHIP, KVM_GET_PIT2, KVM_GET_CLOCK: snapshots)"); break;
    case ThreadRole::P9Worker: take(kP9); break;
    case ThreadRole::Relay: take(kRelay); out.push_back("ioctl (SIOCOUTQ)"); break;
  }
  return out;
}

namespace {

// HVRUN_VMM_SECCOMP_DEBUG=1: a forbidden syscall traps instead, and the
// handler names it before the VMM exits as if killed (status 128+SIGSYS).
thread_local const char* t_role = "?";

extern "C" void report_forbidden_syscall(int, siginfo_t* info, void*) {
  char msg[128];
  const int n = std::snprintf(msg, sizeof msg, "hvrun-vmm: seccomp: forbidden syscall %d in the %s thread (%d)\n",
                              info->si_syscall, t_role, static_cast<int>(::gettid()));
  if (n > 0) (void)!::write(STDERR_FILENO, msg, size_t(n));
  ::_exit(128 + SIGSYS);
}

bool debug_mode() {
  const char* e = std::getenv("HVRUN_VMM_SECCOMP_DEBUG");
  return e && std::string(e) == "1";
}

}  // namespace

void install_seccomp_filter(ThreadRole role) {
  const std::string who = std::string("seccomp filter of the ") + thread_role_name(role) + " thread";
  const bool debug = debug_mode();
  if (debug) {
    t_role = thread_role_name(role);
    struct sigaction sa {};
    sa.sa_sigaction = report_forbidden_syscall;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    ::sigaction(SIGSYS, &sa, nullptr);
    sigset_t sys;
    sigemptyset(&sys);
    sigaddset(&sys, SIGSYS);
    ::pthread_sigmask(SIG_UNBLOCK, &sys, nullptr);
  }
  std::unique_ptr<void, CtxDeleter> owned(::seccomp_init(debug ? SCMP_ACT_TRAP : SCMP_ACT_KILL_PROCESS));
  if (!owned) throw Error(who + ": seccomp_init failed");
  scmp_filter_ctx ctx = owned.get();
  add_all(ctx, kCommon);
  // Memory, never executable: no new code may enter the VMM.
  const scmp_arg_cmp no_exec = SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0);
  add(ctx, "mmap", 1, &no_exec);
  add(ctx, "mprotect", 1, &no_exec);
  // Signals only to this process's own threads (the I/O loop kicks vCPUs).
  const scmp_arg_cmp own_pid = SCMP_A0(SCMP_CMP_EQ, static_cast<scmp_datum_t>(::getpid()));
  add(ctx, "tgkill", 1, &own_pid);
  add(ctx, "fcntl");
  switch (role) {
    case ThreadRole::Vcpu:
      add_all(ctx, kVcpu);
      // KVM_RUN, and reading the vCPU's state (error dumps, snapshots).
      for (unsigned long req : save_vcpu_ioctls()) {
        const scmp_arg_cmp a = SCMP_A1(SCMP_CMP_EQ, req);
        add(ctx, "ioctl", 1, &a);
      }
      break;
    case ThreadRole::IoLoop:
      add_all(ctx, kIo);
      // Reading the VM's interrupt controllers, PIT and clock (snapshots).
      for (unsigned long req : save_vm_state_ioctls()) {
        const scmp_arg_cmp a = SCMP_A1(SCMP_CMP_EQ, req);
        add(ctx, "ioctl", 1, &a);
      }
      break;
    case ThreadRole::P9Worker: add_all(ctx, kP9); break;
    case ThreadRole::Relay: {
      add_all(ctx, kRelay);
      const scmp_arg_cmp a = SCMP_A1(SCMP_CMP_EQ, static_cast<unsigned long>(SIOCOUTQ));
      add(ctx, "ioctl", 1, &a);
      break;
    }
  }
  int rc = ::seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 1);
  if (rc == 0) rc = ::seccomp_load(ctx);
  if (rc < 0) throw Error(who + ": " + std::strerror(-rc));
}

}  // namespace hvrun::vmm
