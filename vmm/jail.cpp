#include "vmm/jail.hpp"

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <linux/capability.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <ctime>
#include <string>

#include "util/error.hpp"
#include "util/fd.hpp"
#include "vmm/seccomp_filters.hpp"

namespace hvrun::vmm {

const int kP9WorkerCaps[5] = {CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER, CAP_FSETID};

namespace {

// Where the jail's tmpfs is mounted (in the VMM's own mount namespace only:
// the host sees an empty directory).
std::string jail_mount_point() {
  for (const char* dir : {"/run/hvrun-vmm-jail", "/tmp/hvrun-vmm-jail"}) {
    if (::mkdir(dir, 0700) == 0 || errno == EEXIST) return dir;
  }
  throw_sys("jail: mkdir", "/run/hvrun-vmm-jail");
}

void make_file(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!fd) throw_sys("jail: create", path);
}

void remount_readonly(const std::string& target) {
  if (::mount(nullptr, target.c_str(), nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, nullptr) < 0)
    throw_sys("jail: make read-only", target);
}

// The capability sets of the calling thread (capset(2) is per thread).
void set_thread_caps(uint64_t caps) {
  __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {};
  data[0].effective = data[0].permitted = static_cast<uint32_t>(caps);
  data[1].effective = data[1].permitted = static_cast<uint32_t>(caps >> 32);
  if (::syscall(SYS_capset, &hdr, data) < 0) throw_sys("jail: capset");
}

// Drops every capability from the calling thread's bounding set but `keep`
// (needs CAP_SETPCAP while any other is still in it).
void drop_bounding_set(uint64_t keep) {
  for (int cap = 0; cap < 64; ++cap) {
    if ((keep & (1ull << cap)) || ::prctl(PR_CAPBSET_READ, cap, 0, 0, 0) != 1) continue;
    if (::prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL) throw_sys("jail: drop capability " + std::to_string(cap) + " from the bounding set");
  }
  if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL) throw_sys("jail: clear ambient capabilities");
}

uint64_t p9_caps() {
  uint64_t m = 0;
  for (int c : kP9WorkerCaps) m |= 1ull << c;
  return m;
}

}  // namespace

void enter_jail_root(VmConfig& cfg) {
  ::tzset();  // log lines' local time: /etc/localtime is not in the jail
  if (::unshare(CLONE_NEWNS | CLONE_NEWIPC) < 0) throw_sys("jail: unshare the mount and IPC namespaces");
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) < 0) throw_sys("jail: make the mounts private");
  const std::string root = jail_mount_point();
  if (::mount("hvrun-vmm-jail", root.c_str(), "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=64k,nr_inodes=64,mode=0755") < 0)
    throw_sys("jail: mount a tmpfs on", root);
  auto bind_file = [&](const std::string& source, const std::string& name, bool readonly) {
    const std::string target = root + "/" + name;
    make_file(target);
    if (::mount(source.c_str(), target.c_str(), nullptr, MS_BIND, nullptr) < 0) throw_sys("jail: bind " + source + " onto", target);
    if (readonly) remount_readonly(target);
    return "/" + name;
  };
  if (!cfg.kernel.empty()) cfg.kernel = bind_file(cfg.kernel, "kernel", true);
  if (!cfg.initrd.empty()) cfg.initrd = bind_file(cfg.initrd, "initrd", true);
  // A restore maps the snapshot's memory from the file (copy-on-write).
  if (!cfg.restore_from.empty()) cfg.restore_from = bind_file(cfg.restore_from, "snapshot", true);
  for (size_t i = 0; i < cfg.disks.size(); ++i)
    cfg.disks[i].path = bind_file(cfg.disks[i].path, "disk" + std::to_string(i), cfg.disks[i].readonly);
  for (size_t i = 0; i < cfg.shares.size(); ++i) {
    // MS_REC: submounts (a file volume's bind onto its placeholder) come along.
    const std::string name = "share" + std::to_string(i), target = root + "/" + name;
    if (::mkdir(target.c_str(), 0700) < 0) throw_sys("jail: mkdir", target);
    if (::mount(cfg.shares[i].path.c_str(), target.c_str(), nullptr, MS_BIND | MS_REC, nullptr) < 0)
      throw_sys("jail: bind the 9p share " + cfg.shares[i].path + " onto", target);
    if (cfg.shares[i].readonly) remount_readonly(target);
    cfg.shares[i].path = "/" + name;
  }
  if (::mkdir((root + "/dev").c_str(), 0755) < 0) throw_sys("jail: mkdir", root + "/dev");
  // Without /dev/kvm the VM's setup says so, as it would unjailed.
  if (::access("/dev/kvm", F_OK) == 0) bind_file("/dev/kvm", "dev/kvm", false);
  if (!cfg.shares.empty()) {
    // The 9p server opens a fid's inode through /proc/self/fd: a proc of
    // this VMM's uid only (hidepid), pids only where the kernel can (subset).
    const std::string proc = root + "/proc";
    if (::mkdir(proc.c_str(), 0555) < 0) throw_sys("jail: mkdir", proc);
    const unsigned long flags = MS_NOSUID | MS_NODEV | MS_NOEXEC;
    if (::mount("proc", proc.c_str(), "proc", flags, "hidepid=invisible,subset=pid") < 0 &&
        ::mount("proc", proc.c_str(), "proc", flags, "hidepid=2") < 0)
      throw_sys("jail: mount proc on", proc);
  }
  // pivot_root(".", "."): the old root ends up stacked on the new one and
  // is detached at once (the way runc pivots without a spare directory).
  if (::chdir(root.c_str()) < 0) throw_sys("jail: chdir", root);
  if (::syscall(SYS_pivot_root, ".", ".") < 0) throw_sys("jail: pivot_root into", root);
  if (::umount2(".", MNT_DETACH) < 0) throw_sys("jail: detach the host's root");
  if (::chdir("/") < 0) throw_sys("jail: chdir /");
  if (::mount(nullptr, "/", nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) < 0)
    throw_sys("jail: make the jail's root read-only");
  // Threads made from now on (9p workers) keep their permitted capabilities
  // across the uid switch, to keep the file ones in jail_thread.
  if (::prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0) throw_sys("jail: PR_SET_KEEPCAPS");
}

void jail_identity(const JailConfig& jail, uint64_t mem_bytes, unsigned threads) {
  const pid_t parent = ::getppid();
  int pdeath = 0;  // the monitor's PR_SET_PDEATHSIG, which the uid switch clears
  if (::prctl(PR_GET_PDEATHSIG, &pdeath, 0, 0, 0) < 0) throw_sys("jail: PR_GET_PDEATHSIG");
  const rlimit no_core{0, 0};
  if (::setrlimit(RLIMIT_CORE, &no_core) < 0) throw_sys("jail: setrlimit RLIMIT_CORE");
  rlimit nofile{};
  if (::getrlimit(RLIMIT_NOFILE, &nofile) == 0) {
    nofile.rlim_max = nofile.rlim_cur;  // main() raised the soft limit already; no higher
    if (::setrlimit(RLIMIT_NOFILE, &nofile) < 0) throw_sys("jail: setrlimit RLIMIT_NOFILE");
  }
  // Guest RAM, then per thread its stack and a malloc arena, and room for
  // the 9p server's buffers: a VMM that asks for more is not a working one.
  const uint64_t as = mem_bytes + (1ull << 30) + uint64_t(threads) * (96ull << 20);
  const rlimit address_space{as, as};
  if (::setrlimit(RLIMIT_AS, &address_space) < 0) throw_sys("jail: setrlimit RLIMIT_AS");
  if (::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) throw_sys("jail: PR_SET_DUMPABLE");
  drop_bounding_set(0);
  // glibc applies these to every thread of the process.
  if (::setgroups(0, nullptr) < 0) throw_sys("jail: setgroups");
  if (::setresgid(jail.gid, jail.gid, jail.gid) < 0) throw_sys("jail: setresgid", std::to_string(jail.gid));
  if (::setresuid(jail.uid, jail.uid, jail.uid) < 0) throw_sys("jail: setresuid", std::to_string(jail.uid));
  set_thread_caps(0);
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) throw_sys("jail: PR_SET_NO_NEW_PRIVS");
  // A change of credentials clears the parent-death signal: the VMM must
  // still die with its monitor (and if the monitor died meanwhile, now).
  if (pdeath != 0) {
    if (::prctl(PR_SET_PDEATHSIG, pdeath, 0, 0, 0) < 0) throw_sys("jail: PR_SET_PDEATHSIG");
    if (::getppid() != parent) throw Error("jail: the monitor is gone");
  }
  if (jail.monitor_pidfd >= 0) {
    pollfd p{jail.monitor_pidfd, POLLIN, 0};
    const int n = ::poll(&p, 1, 0);
    ::close(jail.monitor_pidfd);
    if (n != 0) throw Error("jail: the monitor is gone");
  }
  if (::getuid() != jail.uid || ::geteuid() != jail.uid || ::getgid() != jail.gid)
    throw Error("jail: the uid/gid switch to " + std::to_string(jail.uid) + ":" + std::to_string(jail.gid) + " did not hold");
}

void jail_thread(ThreadRole role) {
  if (role == ThreadRole::P9Worker) {
    set_thread_caps(p9_caps() | (1ull << CAP_SETPCAP));  // SETPCAP only to drop the bounding set
    drop_bounding_set(p9_caps());
    set_thread_caps(p9_caps());
  } else {
    drop_bounding_set(0);
    set_thread_caps(0);
  }
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) throw_sys("jail: PR_SET_NO_NEW_PRIVS");
  install_seccomp_filter(role);
  const char* forbidden = std::getenv("HVRUN_TEST_VMM_FORBIDDEN_SYSCALL");
  if (forbidden && std::string(forbidden) == thread_role_name(role)) {
    ::syscall(SYS_socket, AF_INET, SOCK_STREAM, 0);  // SIGSYS ends the process here
    throw Error(std::string("jail: the ") + thread_role_name(role) + " thread's filter let socket(2) through");
  }
}

}  // namespace hvrun::vmm
