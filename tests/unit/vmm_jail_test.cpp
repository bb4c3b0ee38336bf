// hvrun-vmm's jail (vmm/jail.hpp) and per-thread seccomp filters
// (vmm/seccomp_filters.hpp), without KVM: each case runs in a forked child,
// since filters and identity changes cannot be undone.
#include <fcntl.h>
#include <linux/kvm.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "vmm/jail.hpp"
#include "vmm/seccomp_filters.hpp"

namespace hvrun::vmm {
namespace {

namespace fs = std::filesystem;

struct ChildResult {
  int status = 0;
  std::string out;  // what the child wrote on its pipe
  bool killed_by(int sig) const { return WIFSIGNALED(status) && WTERMSIG(status) == sig; }
  bool exited_ok() const { return WIFEXITED(status) && WEXITSTATUS(status) == 0; }
};

// Runs fn(fd) in a forked child that exits 0 after it (1 if it threw);
// the child writes what the test wants to know on fd.
ChildResult in_child(const std::function<void(int)>& fn) {
  int p[2];
  EXPECT_EQ(::pipe(p), 0);
  pid_t pid = ::fork();
  if (pid == 0) {
    ::close(p[0]);
    try {
      fn(p[1]);
    } catch (const std::exception& e) {
      std::string m = std::string("threw: ") + e.what() + "\n";
      (void)!::write(p[1], m.data(), m.size());
      ::_exit(1);
    }
    ::_exit(0);
  }
  ::close(p[1]);
  ChildResult r;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(p[0], buf, sizeof buf)) > 0) r.out.append(buf, size_t(n));
  ::close(p[0]);
  ::waitpid(pid, &r.status, 0);
  return r;
}

void say(int fd, const std::string& s) { (void)!::write(fd, (s + "\n").data(), s.size() + 1); }

std::string status_field(const std::string& status_path, const std::string& key) {
  std::ifstream in(status_path);
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(key + ":", 0) == 0) {
      std::string v = line.substr(key.size() + 1);
      v.erase(0, v.find_first_not_of(" \t"));
      return v;
    }
  return "";
}

const ThreadRole kRoles[] = {ThreadRole::Vcpu, ThreadRole::IoLoop, ThreadRole::P9Worker, ThreadRole::Relay};

TEST(VmmSeccomp, EveryRoleIsKilledBySigsysForOpeningASocket) {
  for (ThreadRole role : kRoles) {
    ChildResult r = in_child([&](int fd) {
      install_seccomp_filter(role);
      say(fd, "filtered");
      ::syscall(SYS_socket, AF_INET, SOCK_STREAM, 0);
      say(fd, "socket returned");
    });
    EXPECT_TRUE(r.killed_by(SIGSYS)) << thread_role_name(role) << ": status " << r.status << ", said: " << r.out;
    EXPECT_EQ(r.out, "filtered\n") << thread_role_name(role);
  }
}

TEST(VmmSeccomp, NoRoleMayExecForkOrMapExecutableMemory) {
  for (ThreadRole role : kRoles) {
    ChildResult exec = in_child([&](int) {
      install_seccomp_filter(role);
      const char* argv[] = {"/bin/true", nullptr};
      ::execv(argv[0], const_cast<char* const*>(argv));
    });
    EXPECT_TRUE(exec.killed_by(SIGSYS)) << thread_role_name(role) << " execve: " << exec.status << " " << exec.out;
    ChildResult fork = in_child([&](int) {
      install_seccomp_filter(role);
      ::syscall(SYS_fork);
    });
    EXPECT_TRUE(fork.killed_by(SIGSYS)) << thread_role_name(role) << " fork: " << fork.status << " " << fork.out;
    ChildResult mapx = in_child([&](int fd) {
      install_seccomp_filter(role);
      void* rw = ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      say(fd, rw == MAP_FAILED ? "rw mmap failed" : "rw mmap ok");
      ::mmap(nullptr, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    });
    EXPECT_TRUE(mapx.killed_by(SIGSYS)) << thread_role_name(role) << " PROT_EXEC: " << mapx.status;
    EXPECT_EQ(mapx.out, "rw mmap ok\n") << thread_role_name(role);
  }
}

TEST(VmmSeccomp, VcpuMayRunKvmRunButNoOtherKvmIoctl) {
  ChildResult r = in_child([](int fd) {
    install_seccomp_filter(ThreadRole::Vcpu);
    errno = 0;
    int rc = ::ioctl(-1, KVM_RUN, 0);  // allowed: the kernel answers EBADF
    say(fd, "KVM_RUN: " + std::to_string(rc) + " " + std::to_string(errno));
    ::ioctl(-1, KVM_CREATE_VM, 0);  // a vCPU thread never makes VMs
    say(fd, "KVM_CREATE_VM returned");
  });
  EXPECT_TRUE(r.killed_by(SIGSYS)) << r.status << " " << r.out;
  EXPECT_EQ(r.out, "KVM_RUN: -1 " + std::to_string(EBADF) + "\n");
}

TEST(VmmSeccomp, OnlyTheP9WorkerMayOpenFiles) {
  for (ThreadRole role : kRoles) {
    ChildResult r = in_child([&](int fd) {
      install_seccomp_filter(role);
      int f = ::openat(AT_FDCWD, "/", O_PATH | O_DIRECTORY | O_CLOEXEC);
      say(fd, f >= 0 ? "opened" : "open failed");
    });
    if (role == ThreadRole::P9Worker) {
      EXPECT_TRUE(r.exited_ok()) << r.status << " " << r.out;
      EXPECT_EQ(r.out, "opened\n");
    } else {
      EXPECT_TRUE(r.killed_by(SIGSYS)) << thread_role_name(role) << ": " << r.status << " " << r.out;
    }
  }
}

TEST(VmmSeccomp, SignalsReachOnlyThisProcesssThreads) {
  ChildResult own = in_child([](int fd) {
    install_seccomp_filter(ThreadRole::IoLoop);
    int rc = static_cast<int>(::syscall(SYS_tgkill, ::getpid(), ::gettid(), 0));
    say(fd, "own: " + std::to_string(rc));
  });
  EXPECT_TRUE(own.exited_ok()) << own.status << " " << own.out;
  EXPECT_EQ(own.out, "own: 0\n");
  const pid_t parent = ::getpid();
  ChildResult other = in_child([parent](int) {
    install_seccomp_filter(ThreadRole::IoLoop);
    ::syscall(SYS_tgkill, parent, parent, 0);
  });
  EXPECT_TRUE(other.killed_by(SIGSYS)) << other.status << " " << other.out;
  ChildResult kill = in_child([parent](int) {
    install_seccomp_filter(ThreadRole::Relay);
    ::kill(parent, 0);
  });
  EXPECT_TRUE(kill.killed_by(SIGSYS)) << kill.status << " " << kill.out;
}

TEST(VmmSeccomp, TheTestHookMakesTheNamedRoleDieBySigsys) {
  ::setenv("HVRUN_TEST_VMM_FORBIDDEN_SYSCALL", "relay", 1);
  ChildResult relay = in_child([](int) { jail_thread(ThreadRole::Relay); });
  ChildResult vcpu = in_child([](int fd) {
    jail_thread(ThreadRole::Vcpu);
    say(fd, "vcpu went on");
  });
  ::unsetenv("HVRUN_TEST_VMM_FORBIDDEN_SYSCALL");
  EXPECT_TRUE(relay.killed_by(SIGSYS)) << relay.status << " " << relay.out;
  EXPECT_TRUE(vcpu.exited_ok()) << vcpu.status << " " << vcpu.out;
  EXPECT_EQ(vcpu.out, "vcpu went on\n");
}

class VmmJail : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (mount namespaces, uid switch)";
    char tmpl[] = "/tmp/hvrun-jail-test.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    for (const char* f : {"kernel", "initrd", "disk"}) std::ofstream(dir_ + "/" + f) << f << "-bytes";
    fs::create_directory(dir_ + "/share");
    std::ofstream(dir_ + "/share/hello") << "hello from the share";
    std::ofstream(dir_ + "/share/secret") << "root only";
    ::chmod((dir_ + "/share/secret").c_str(), 0600);
    std::ofstream(dir_ + "/outside") << "not in the jail";
  }
  void TearDown() override {
    if (!dir_.empty()) fs::remove_all(dir_);
  }
  VmConfig config() const {
    VmConfig c;
    c.kernel = dir_ + "/kernel";
    c.initrd = dir_ + "/initrd";
    c.disks = {{dir_ + "/disk", true}};
    c.shares = {{dir_ + "/share", "t", false}};
    return c;
  }
  std::string dir_;
};

TEST_F(VmmJail, RootHoldsOnlyWhatTheVmUsesReadOnlyWithPathsRewritten) {
  ChildResult r = in_child([&](int fd) {
    VmConfig c = config();
    enter_jail_root(c);
    std::set<std::string> names;
    for (const auto& e : fs::directory_iterator("/")) names.insert(e.path().filename().string());
    std::string listing;
    for (const auto& n : names) listing += n + " ";
    say(fd, "root: " + listing);
    say(fd, "paths: " + c.kernel + " " + c.initrd + " " + c.disks[0].path + " " + c.shares[0].path);
    std::ifstream k(c.kernel), h(c.shares[0].path + "/hello");
    std::string kb, hb;
    std::getline(k, kb);
    std::getline(h, hb);
    say(fd, "kernel: " + kb + "; share: " + hb);
    say(fd, std::string("outside reachable: ") + (fs::exists(dir_ + "/outside") ? "yes" : "no"));
    say(fd, std::string("mkdir in root: ") + (::mkdir("/x", 0755) == 0 ? "ok" : std::strerror(errno)));
    int w = ::open(c.disks[0].path.c_str(), O_WRONLY | O_CLOEXEC);
    say(fd, std::string("read-only disk opened for writing: ") + (w >= 0 ? "yes" : std::strerror(errno)));
    say(fd, std::string("proc self: ") + (fs::exists("/proc/self/fd") ? "yes" : "no"));
  });
  ASSERT_TRUE(r.exited_ok()) << r.status << " " << r.out;
  EXPECT_NE(r.out.find("root: dev disk0 initrd kernel proc share0 \n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("paths: /kernel /initrd /disk0 /share0\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("kernel: kernel-bytes; share: hello from the share\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("outside reachable: no\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("mkdir in root: Read-only file system\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("read-only disk opened for writing: Read-only file system\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("proc self: yes\n"), std::string::npos) << r.out;
  // The host's view is untouched: the jail's mounts were the child's own.
  EXPECT_TRUE(fs::exists(dir_ + "/outside"));
}

TEST_F(VmmJail, IdentityDropsRootAndEveryCapabilityButThe9pWorkersFileOnesAndKeepsTheParentDeathSignal) {
  ChildResult r = in_child([&](int fd) {
    VmConfig c = config();
    enter_jail_root(c);
    // A 9p worker exists before the identity switch (run_vm makes devices
    // first); it enters its own jail when it gets its first request.
    std::mutex mu;
    std::condition_variable cv;
    bool go = false;
    std::string worker_report;
    std::thread worker([&] {
      std::unique_lock lock(mu);
      cv.wait(lock, [&] { return go; });
      try {
        jail_thread(ThreadRole::P9Worker);
        const std::string st = "/proc/thread-self/status";
        worker_report = "worker uid " + status_field(st, "Uid") + "; CapEff " + status_field(st, "CapEff") + "; CapBnd " +
                        status_field(st, "CapBnd") + "; Seccomp " + status_field(st, "Seccomp");
        std::ifstream secret(c.shares[0].path + "/secret");
        std::string s;
        std::getline(secret, s);
        worker_report += "; secret: " + s;
      } catch (const std::exception& e) {
        worker_report = std::string("worker threw: ") + e.what();
      }
    });
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // as the monitor sets it for the VMM
    jail_identity(JailConfig{true, 65534, 65534}, 256ull << 20, 4);
    int pdeath = 0;
    ::prctl(PR_GET_PDEATHSIG, &pdeath);
    say(fd, "parent-death signal kept: " + std::to_string(pdeath == SIGKILL));
    const std::string st = "/proc/self/status";
    say(fd, "main uid " + status_field(st, "Uid") + "; gid " + status_field(st, "Gid") + "; CapEff " + status_field(st, "CapEff") +
                "; CapPrm " + status_field(st, "CapPrm") + "; CapBnd " + status_field(st, "CapBnd") + "; NoNewPrivs " +
                status_field(st, "NoNewPrivs"));
    say(fd, std::string("dumpable: ") + std::to_string(::prctl(PR_GET_DUMPABLE)));
    int s = ::open((c.shares[0].path + "/secret").c_str(), O_RDONLY | O_CLOEXEC);
    say(fd, std::string("main opens secret: ") + (s >= 0 ? "yes" : std::strerror(errno)));
    {
      std::lock_guard lock(mu);
      go = true;
    }
    cv.notify_all();
    worker.join();
    say(fd, worker_report);
  });
  ASSERT_TRUE(r.exited_ok()) << r.status << " " << r.out;
  EXPECT_NE(r.out.find("main uid 65534\t65534\t65534\t65534; gid 65534\t65534\t65534\t65534; CapEff 0000000000000000; "
                       "CapPrm 0000000000000000; CapBnd 0000000000000000; NoNewPrivs 1\n"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("dumpable: 0\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("parent-death signal kept: 1\n"), std::string::npos) << "the VMM must still die with its monitor:\n" << r.out;
  EXPECT_NE(r.out.find("main opens secret: Permission denied\n"), std::string::npos) << r.out;
  uint64_t caps = 0;
  for (int cap : kP9WorkerCaps) caps |= 1ull << cap;
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(caps));
  EXPECT_NE(r.out.find(std::string("worker uid 65534\t65534\t65534\t65534; CapEff ") + hex + "; CapBnd " + hex +
                       "; Seccomp 2; secret: root only\n"),
            std::string::npos)
      << r.out;
}

}  // namespace
}  // namespace hvrun::vmm
