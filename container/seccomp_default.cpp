// Our default seccomp profile, in Docker's JSON format. Equivalent in effect
// to moby's profiles/seccomp/default.json for x86-64: default action
// ERRNO(EPERM), an allow-list of ordinary syscalls, clone without namespace
// flags, clone3 answering ENOSYS (libc falls back to clone), personality
// only for the harmless values, and the privileged syscalls (mount, unshare,
// setns, bpf, ptrace, reboot, modules, ...) only when the matching capability
// was added. keyctl/add_key/request_key, kexec, userfaultfd, swapon and
// friends are never allowed; socket(AF_VSOCK) is refused.
// As in moby's file, ptrace and process_vm_readv/writev are allowed on
// kernels >= 4.8 (where seccomp is checked again after a tracer changes the
// syscall, so ptrace cannot bypass the filter); the kernel's own ptrace
// rules still apply (same uid or CAP_SYS_PTRACE). kcmp, pidfd_getfd and
// process_madvise need CAP_SYS_PTRACE. Deliberate difference: io_uring_* are
// not allowed (as in recent moby releases).
// mount_guard_profile() is loaded beside this profile (see seccomp.hpp).
#include "container/seccomp.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>

namespace hvrun::container {

const std::string& default_seccomp_profile() {
  static const std::string profile = R"JSON({
  "defaultAction": "SCMP_ACT_ERRNO",
  "defaultErrnoRet": 1,
  "archMap": [
    {"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]},
    {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]}
  ],
  "syscalls": [
    {"action": "SCMP_ACT_ALLOW", "names": [
      "accept", "accept4", "access", "adjtimex", "alarm", "bind", "brk", "cachestat", "capget", "capset",
      "chdir", "chmod", "chown", "chown32", "clock_adjtime", "clock_adjtime64", "clock_getres",
      "clock_getres_time64", "clock_gettime", "clock_gettime64", "clock_nanosleep", "clock_nanosleep_time64",
      "close", "close_range", "connect", "copy_file_range", "creat", "dup", "dup2", "dup3", "epoll_create",
      "epoll_create1", "epoll_ctl", "epoll_ctl_old", "epoll_pwait", "epoll_pwait2", "epoll_wait",
      "epoll_wait_old", "eventfd", "eventfd2", "execve", "execveat", "exit", "exit_group", "faccessat",
      "faccessat2", "fadvise64", "fadvise64_64", "fallocate", "fanotify_mark", "fchdir", "fchmod", "fchmodat",
      "fchmodat2", "fchown", "fchown32", "fchownat", "fcntl", "fcntl64", "fdatasync", "fgetxattr", "flistxattr",
      "flock", "fork", "fremovexattr", "fsetxattr", "fstat", "fstat64", "fstatat64", "fstatfs", "fstatfs64",
      "fsync", "ftruncate", "ftruncate64", "futex", "futex_requeue", "futex_time64", "futex_wait", "futex_waitv",
      "futex_wake", "futimesat", "getcpu", "getcwd", "getdents", "getdents64", "getegid", "getegid32",
      "geteuid", "geteuid32", "getgid", "getgid32", "getgroups", "getgroups32", "getitimer", "getpeername",
      "getpgid", "getpgrp", "getpid", "getppid", "getpriority", "getrandom", "getresgid", "getresgid32",
      "getresuid", "getresuid32", "getrlimit", "get_robust_list", "getrusage", "getsid", "getsockname",
      "getsockopt", "get_thread_area", "gettid", "gettimeofday", "getuid", "getuid32", "getxattr",
      "inotify_add_watch", "inotify_init", "inotify_init1", "inotify_rm_watch", "io_cancel", "ioctl",
      "io_destroy", "io_getevents", "io_pgetevents", "io_pgetevents_time64", "ioprio_get", "ioprio_set",
      "io_setup", "io_submit", "ipc", "kill", "landlock_add_rule", "landlock_create_ruleset",
      "landlock_restrict_self", "lchown", "lchown32", "lgetxattr", "link", "linkat", "listen", "listxattr",
      "llistxattr", "_llseek", "lremovexattr", "lseek", "lsetxattr", "lstat", "lstat64", "madvise",
      "map_shadow_stack", "membarrier", "memfd_create", "memfd_secret", "mincore", "mkdir", "mkdirat", "mknod",
      "mknodat", "mlock", "mlock2", "mlockall", "mmap", "mmap2", "mprotect", "mq_getsetattr", "mq_notify",
      "mq_open", "mq_timedreceive", "mq_timedreceive_time64", "mq_timedsend", "mq_timedsend_time64",
      "mq_unlink", "mremap", "msgctl", "msgget", "msgrcv", "msgsnd", "msync", "munlock", "munlockall", "munmap",
      "name_to_handle_at", "nanosleep", "newfstatat", "_newselect", "open", "openat", "openat2", "pause",
      "pidfd_open", "pidfd_send_signal", "pipe", "pipe2", "pkey_alloc", "pkey_free", "pkey_mprotect", "poll",
      "ppoll", "ppoll_time64", "prctl", "pread64", "preadv", "preadv2", "prlimit64", "process_mrelease",
      "pselect6", "pselect6_time64", "pwrite64", "pwritev", "pwritev2", "read", "readahead", "readlink",
      "readlinkat", "readv", "recv", "recvfrom", "recvmmsg", "recvmmsg_time64", "recvmsg", "remap_file_pages",
      "removexattr", "rename", "renameat", "renameat2", "restart_syscall", "rmdir", "rseq", "rt_sigaction",
      "rt_sigpending", "rt_sigprocmask", "rt_sigqueueinfo", "rt_sigreturn", "rt_sigsuspend", "rt_sigtimedwait",
      "rt_sigtimedwait_time64", "rt_tgsigqueueinfo", "sched_getaffinity", "sched_getattr", "sched_getparam",
      "sched_get_priority_max", "sched_get_priority_min", "sched_getscheduler", "sched_rr_get_interval",
      "sched_rr_get_interval_time64", "sched_setaffinity", "sched_setattr", "sched_setparam",
      "sched_setscheduler", "sched_yield", "seccomp", "select", "semctl", "semget", "semop", "semtimedop",
      "semtimedop_time64", "send", "sendfile", "sendfile64", "sendmmsg", "sendmsg", "sendto", "setfsgid",
      "setfsgid32", "setfsuid", "setfsuid32", "setgid", "setgid32", "setgroups", "setgroups32", "setitimer",
      "setpgid", "setpriority", "setregid", "setregid32", "setresgid", "setresgid32", "setresuid",
      "setresuid32", "setreuid", "setreuid32", "setrlimit", "set_robust_list", "setsid", "setsockopt",
      "set_thread_area", "set_tid_address", "setuid", "setuid32", "setxattr", "shmat", "shmctl", "shmdt",
      "shmget", "shutdown", "sigaltstack", "signalfd", "signalfd4", "sigprocmask", "sigreturn",
      "socketcall", "socketpair", "splice", "stat", "stat64", "statfs", "statfs64", "statx", "symlink",
      "symlinkat", "sync", "sync_file_range", "syncfs", "sysinfo", "tee", "tgkill", "time", "timer_create",
      "timer_delete", "timer_getoverrun", "timer_gettime", "timer_gettime64", "timer_settime",
      "timer_settime64", "timerfd_create", "timerfd_gettime", "timerfd_gettime64", "timerfd_settime",
      "timerfd_settime64", "times", "tkill", "truncate", "truncate64", "ugetrlimit", "umask", "uname", "unlink",
      "unlinkat", "utime", "utimensat", "utimensat_time64", "utimes", "vfork", "vmsplice", "wait4", "waitid",
      "waitpid", "write", "writev"]},
    {"action": "SCMP_ACT_ALLOW", "names": ["socket"], "args": [{"index": 0, "value": 40, "op": "SCMP_CMP_NE"}]},
    {"action": "SCMP_ACT_ALLOW", "names": ["personality"], "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_EQ"}]},
    {"action": "SCMP_ACT_ALLOW", "names": ["personality"], "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]},
    {"action": "SCMP_ACT_ALLOW", "names": ["personality"], "args": [{"index": 0, "value": 131072, "op": "SCMP_CMP_EQ"}]},
    {"action": "SCMP_ACT_ALLOW", "names": ["personality"], "args": [{"index": 0, "value": 131080, "op": "SCMP_CMP_EQ"}]},
    {"action": "SCMP_ACT_ALLOW", "names": ["personality"], "args": [{"index": 0, "value": 4294967295, "op": "SCMP_CMP_EQ"}]},
    {"action": "SCMP_ACT_ALLOW", "names": ["arch_prctl", "modify_ldt"], "includes": {"arches": ["amd64", "x32", "x86"]}},
    {"action": "SCMP_ACT_ALLOW", "names": ["clone"],
     "args": [{"index": 0, "value": 2114060288, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}],
     "excludes": {"caps": ["CAP_SYS_ADMIN"]}},
    {"action": "SCMP_ACT_ERRNO", "errnoRet": 38, "names": ["clone3"], "excludes": {"caps": ["CAP_SYS_ADMIN"]}},
    {"action": "SCMP_ACT_ALLOW", "names": ["bpf", "clone", "clone3", "fanotify_init", "fsconfig", "fsmount",
      "fsopen", "fspick", "lookup_dcookie", "mount", "mount_setattr", "move_mount", "open_tree",
      "perf_event_open", "quotactl", "quotactl_fd", "setdomainname", "sethostname", "setns", "syslog",
      "umount", "umount2", "unshare"], "includes": {"caps": ["CAP_SYS_ADMIN"]}},
    {"action": "SCMP_ACT_ALLOW", "names": ["open_by_handle_at"], "includes": {"caps": ["CAP_DAC_READ_SEARCH"]}},
    {"action": "SCMP_ACT_ALLOW", "names": ["reboot"], "includes": {"caps": ["CAP_SYS_BOOT"]}},
    {"action": "SCMP_ACT_ALLOW", "names": ["chroot"], "includes": {"caps": ["CAP_SYS_CHROOT"]}},
    {"action": "SCMP_ACT_ALLOW", "names": ["delete_module", "init_module", "finit_module"], "includes": {"caps": ["CAP_SYS_MODULE"]}},
    {"action": "SCMP_ACT_ALLOW", "names": ["acct"], "includes": {"caps": ["CAP_SYS_PACCT"]}},
    {"action": "SCMP_ACT_ALLOW", "names": ["process_vm_readv", "process_vm_writev", "ptrace"],
     "includes": {"minKernel": "4.8"}},
    {"action": "SCMP_ACT_ALLOW", "names": ["kcmp", "pidfd_getfd", "process_madvise", "process_vm_readv",
      "process_vm_writev", "ptrace"], "includes": {"caps": ["CAP_SYS_PTRACE"]}},
    {"action": "SCMP_ACT_ALLOW", "names": ["iopl", "ioperm"], "includes": {"caps": ["CAP_SYS_RAWIO"]}},
    {"action": "SCMP_ACT_ALLOW", "names": ["settimeofday", "stime", "clock_settime", "clock_settime64"], "includes": {"caps": ["CAP_SYS_TIME"]}},
    {"action": "SCMP_ACT_ALLOW", "names": ["vhangup"], "includes": {"caps": ["CAP_SYS_TTY_CONFIG"]}},
    {"action": "SCMP_ACT_ALLOW", "names": ["get_mempolicy", "mbind", "set_mempolicy", "set_mempolicy_home_node"], "includes": {"caps": ["CAP_SYS_NICE"]}},
    {"action": "SCMP_ACT_ALLOW", "names": ["syslog"], "includes": {"caps": ["CAP_SYSLOG"]}},
    {"action": "SCMP_ACT_ALLOW", "names": ["bpf"], "includes": {"caps": ["CAP_BPF"]}},
    {"action": "SCMP_ACT_ALLOW", "names": ["perf_event_open"], "includes": {"caps": ["CAP_PERFMON"]}}
  ]
})JSON";
  return profile;
}

const std::string& strict_seccomp_profile() {
  static const std::string profile = [] {
    nlohmann::json p = nlohmann::json::parse(default_seccomp_profile());
    auto& rules = p["syscalls"];
    for (auto it = rules.begin(); it != rules.end();) {
      const auto& names = it->value("names", nlohmann::json::array());
      bool ptrace = std::find(names.begin(), names.end(), "ptrace") != names.end();
      bool needs_cap = it->contains("includes") && (*it)["includes"].contains("caps");
      it = ptrace && !needs_cap ? rules.erase(it) : it + 1;
    }
    return p.dump();
  }();
  return profile;
}

const std::string& mount_guard_profile() {
  static const std::string profile = R"JSON({
  "defaultAction": "SCMP_ACT_ALLOW",
  "archMap": [
    {"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]},
    {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]}
  ],
  "syscalls": [
    {"action": "SCMP_ACT_ERRNO", "errnoRet": 1, "names": [
      "mount", "umount", "umount2", "move_mount", "open_tree", "fsopen", "fsconfig", "fsmount", "fspick",
      "mount_setattr", "pivot_root"]}
  ]
})JSON";
  return profile;
}

}  // namespace hvrun::container
