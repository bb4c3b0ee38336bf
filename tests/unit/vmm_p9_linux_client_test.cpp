// P9Server against the real Linux 9p client (trans=fd over a socketpair).
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/unit/p9_test_util.hpp"
#include "tests/unit/virtio_test_driver.hpp"
#include "util/error.hpp"
#include "util/fd.hpp"
#include "vmm/guest_memory.hpp"
#include "vmm/p9_server.hpp"
#include "vmm/virtio_9p.hpp"
#include "vmm/virtio_mmio.hpp"

using namespace hvrun::vmm;
using namespace hvrun::vmm::p9test;
namespace fs = std::filesystem;

namespace {

// --- the real Linux 9p client ------------------------------------------------
// The kernel's v9fs client mounts the server over a socketpair (trans=fd)
// and the shell workload `hvrun --vm -v DIR:/ctr` must support runs on it.
// Needs a kernel with 9p (the nested test host has it: run with
// scripts/vmhost build/tests/unit/hvrun_unit_tests --gtest_filter='P9LinuxClient*').

bool kernel_has_9p() {
  std::ifstream in("/proc/filesystems");
  std::string line;
  while (std::getline(in, line))
    if (line.size() >= 3 && line.compare(line.size() - 3, 3, "\t9p") == 0) return true;
  return false;
}

bool read_exact(int fd, uint8_t* p, size_t n) {
  while (n) {
    ssize_t r = ::read(fd, p, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    p += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

// Serves 9P on a stream socket until the client goes away.
void serve(P9Server& srv, int fd) {
  std::vector<uint8_t> req;
  for (;;) {
    uint8_t hdr[4];
    if (!read_exact(fd, hdr, 4)) return;
    uint32_t n;
    std::memcpy(&n, hdr, 4);
    if (n < 4 || n > P9Server::kMaxMsize) return;
    req.assign(hdr, hdr + 4);
    req.resize(n);
    if (!read_exact(fd, req.data() + 4, n - 4)) return;
    std::vector<uint8_t> reply = srv.handle(req);
    if (!hvrun::write_all(fd, reply.data(), reply.size())) return;
  }
}

int sh(const std::string& script) {
  pid_t pid = ::fork();
  if (pid == 0) {
    ::execl("/bin/sh", "sh", "-ec", script.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  int st = 0;
  ::waitpid(pid, &st, 0);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

class P9LinuxClient : public ::testing::Test {
 protected:
  TempDir share, mnt;
  std::unique_ptr<P9Server> srv;
  hvrun::UniqueFd ours, theirs;
  std::thread server;
  bool mounted = false;

  void SetUp() override {
    if (!kernel_has_9p()) GTEST_SKIP() << "this kernel has no 9p client (the nested test host has one: scripts/vmhost)";
  }
  void mount(bool readonly) {
    srv = std::make_unique<P9Server>(share.path, readonly);
    int sv[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    ours.reset(sv[0]);
    theirs.reset(sv[1]);
    server = std::thread(serve, std::ref(*srv), ours.get());
    std::string opts = "trans=fd,rfdno=" + std::to_string(theirs.get()) + ",wfdno=" + std::to_string(theirs.get()) +
                       ",version=9p2000.L,access=client,msize=262144,cache=none";
    ASSERT_EQ(::mount("hvrun9p", mnt.path.c_str(), "9p", 0, opts.c_str()), 0) << opts << ": " << std::strerror(errno);
    mounted = true;
  }
  void TearDown() override {
    if (mounted) ::umount2(mnt.path.c_str(), MNT_DETACH);
    theirs.reset();
    if (server.joinable()) {
      ::shutdown(ours.get(), SHUT_RDWR);
      server.join();
    }
  }
  std::string in_share(const std::string& rel) const { return share.path + "/" + rel; }
};

TEST_F(P9LinuxClient, ShellWorkloadOnTheMountLandsOnTheHost) {
  mount(false);
  std::string m = mnt.path;
  // Everything a workload on a bind mount does, checked inside as it goes.
  std::string script = "cd " + m + R"SH(
    echo hello > a.txt
    echo more >> a.txt
    test "$(cat a.txt)" = "$(printf 'hello\nmore')"
    mkdir -p d1/d2/d3
    echo deep > d1/d2/d3/f
    ls -la d1/d2/d3 | grep -q ' f$'
    mv a.txt d1/b.txt
    test ! -e a.txt
    ln -s b.txt d1/sl
    test "$(readlink d1/sl)" = b.txt
    test "$(head -1 d1/sl)" = hello
    ln d1/b.txt hard
    test "$(stat -c %h hard)" = 2
    chmod 640 hard
    chown 1234:5678 hard
    touch -d @1000000 hard
    test "$(stat -c '%a %u %g %Y' hard)" = "640 1234 5678 1000000"
    touch stamped && touch -m -d @2000000 stamped
    df . > /dev/null
    truncate -s 3 d1/b.txt
    test "$(cat d1/b.txt)" = hel
    find . | sort > /tmp/p9-find.txt
    grep -qx './d1/d2/d3/f' /tmp/p9-find.txt
    cp -a d1 d1copy
    test "$(readlink d1copy/sl)" = b.txt
    rm -rf d1copy
    test ! -e d1copy
    exec 3> redir.txt; echo one >&3; echo two >&3; exec 3>&-
    test "$(wc -l < redir.txt)" = 2
    mkdir untar
    (mkdir -p /tmp/p9-tar/t/sub && echo tarred > /tmp/p9-tar/t/sub/x && ln -sf x /tmp/p9-tar/t/sub/lx && chmod 751 /tmp/p9-tar/t/sub && cd /tmp/p9-tar && tar cf /tmp/p9-tar.tar t)
    tar -C untar -xpf /tmp/p9-tar.tar
    test "$(cat untar/t/sub/lx)" = tarred
    dd if=/dev/urandom of=/tmp/p9-big bs=64k count=40 2>/dev/null
    cp /tmp/p9-big big
    cmp /tmp/p9-big big
    dd if=/dev/zero of=synced bs=4k count=4 conv=fsync 2>/dev/null
    sync
    mkfifo pipe
    test -p pipe
    for i in $(seq 1 300); do : > many-$i; done
    test "$(ls | grep -c '^many-')" = 300
    rm -f many-*
    mkdir -p rmtree/a/b && touch rmtree/a/b/c rmtree/a/x && rm -rf rmtree
    test ! -e rmtree
    chmod 755 . && mkdir -m 1777 pub
    setpriv --reuid=4321 --regid=8765 --clear-groups sh -c 'echo user > pub/byuser.txt && mkdir pub/userdir'
    if setpriv --reuid=4321 --regid=8765 --clear-groups sh -c 'echo no > hard' 2>/dev/null; then exit 99; fi
    ln -s /etc/hostname abs-link
  )SH";
  ASSERT_EQ(sh(script), 0);

  // And on the host:
  EXPECT_EQ(read_file(in_share("d1/b.txt")), "hel");
  EXPECT_EQ(read_file(in_share("d1/d2/d3/f")), "deep\n");
  EXPECT_EQ(fs::read_symlink(in_share("d1/sl")).string(), "b.txt");
  struct stat st = lstat_of(in_share("hard"));
  EXPECT_EQ(st.st_mode, S_IFREG | 0640u);
  EXPECT_EQ(st.st_uid, 1234u);
  EXPECT_EQ(st.st_gid, 5678u);
  EXPECT_EQ(lstat_of(in_share("stamped")).st_mtim.tv_sec, 2000000);
  EXPECT_EQ(lstat_of(in_share("untar/t/sub")).st_mode, S_IFDIR | 0751u);
  EXPECT_EQ(read_file(in_share("untar/t/sub/x")), "tarred\n");
  EXPECT_EQ(read_file(in_share("big")), read_file("/tmp/p9-big"));
  EXPECT_EQ(lstat_of(in_share("synced")).st_size, 16384);
  EXPECT_TRUE(S_ISFIFO(lstat_of(in_share("pipe")).st_mode));
  for (const char* rel : {"pub/byuser.txt", "pub/userdir"}) {
    struct stat bu = lstat_of(in_share(rel));
    EXPECT_EQ(bu.st_uid, 4321u) << rel;  // owner = the uid the client attached as
    EXPECT_EQ(bu.st_gid, 8765u) << rel;
  }
  EXPECT_EQ(read_file(in_share("pub/byuser.txt")), "user\n");
  EXPECT_EQ(fs::read_symlink(in_share("abs-link")).string(), "/etc/hostname");  // stored, never followed here
  EXPECT_FALSE(fs::exists(in_share("d1copy")));
}

TEST_F(P9LinuxClient, FcntlLocksOnTheMountMeetLocksOnTheHostFile) {
  write_file(in_share("lockme"), "0123456789");
  mount(false);
  auto range = [](short type, off_t start, off_t len) {
    struct flock fl{};
    fl.l_type = type;
    fl.l_whence = SEEK_SET;
    fl.l_start = start;
    fl.l_len = len;
    return fl;
  };
  hvrun::UniqueFd hostfd(::open(in_share("lockme").c_str(), O_RDWR | O_CLOEXEC));
  hvrun::UniqueFd mntfd(::open((mnt.path + "/lockme").c_str(), O_RDWR | O_CLOEXEC));
  ASSERT_TRUE(hostfd && mntfd);
  struct flock fl = range(F_WRLCK, 0, 5);
  ASSERT_EQ(::fcntl(hostfd.get(), F_OFD_SETLK, &fl), 0);
  fl = range(F_WRLCK, 2, 1);
  EXPECT_EQ(::fcntl(mntfd.get(), F_SETLK, &fl), -1) << "the host holds bytes 0-4";
  EXPECT_EQ(errno, EAGAIN);
  fl = range(F_WRLCK, 6, 2);
  EXPECT_EQ(::fcntl(mntfd.get(), F_SETLK, &fl), 0) << std::strerror(errno);
  fl = range(F_WRLCK, 7, 1);
  EXPECT_EQ(::fcntl(hostfd.get(), F_OFD_SETLK, &fl), -1) << "the client's lock is on the host file";
  fl = range(F_UNLCK, 0, 0);
  ASSERT_EQ(::fcntl(hostfd.get(), F_OFD_SETLK, &fl), 0);
  fl = range(F_WRLCK, 0, 5);
  EXPECT_EQ(::fcntl(mntfd.get(), F_SETLK, &fl), 0) << "free once the host let go: " << std::strerror(errno);
}

TEST_F(P9LinuxClient, ReadonlyMountRefusesWritesWithErofs) {
  write_file(in_share("f"), "keep");
  ::mkdir(in_share("d").c_str(), 0755);
  auto before = snapshot(share.path);
  mount(true);
  std::string m = mnt.path;
  EXPECT_EQ(sh("cd " + m + " && test \"$(cat f)\" = keep && ls d >/dev/null"), 0);
  for (const char* cmd : {"echo x > f", "echo x >> f", "touch new", "mkdir nd", "rm f", "rmdir d", "mv f g", "ln -s f l", "ln f h",
                          "chmod 777 f", "truncate -s 0 f", "mkfifo p"}) {
    EXPECT_NE(sh("cd " + m + " && { " + cmd + "; } 2>/dev/null"), 0) << cmd;
  }
  EXPECT_EQ(snapshot(share.path), before);
}

}  // namespace
