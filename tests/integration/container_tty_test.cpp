// -t sessions beyond the harness's run_in_pty: window resizes (SIGWINCH)
// reach the container, and `exec -it` gets its own pty.
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>

#include "tests/integration/harness.hpp"

namespace hvrun::test {
namespace {

// A process on a fresh pty that the test can type into and resize.
class PtySession {
 public:
  PtySession(const std::vector<std::string>& argv, unsigned short rows, unsigned short cols) {
    winsize ws{rows, cols, 0, 0};
    pid_ = forkpty(&master_, nullptr, nullptr, &ws);
    if (pid_ == 0) {
      std::vector<char*> a;
      for (auto& s : argv) a.push_back(const_cast<char*>(s.c_str()));
      a.push_back(nullptr);
      execv(a[0], a.data());
      _exit(127);
    }
  }
  ~PtySession() {
    if (pid_ > 0 && !reaped_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    if (master_ >= 0) close(master_);
  }
  // Reads until `what` appears after what was already consumed; false on timeout.
  bool expect(const std::string& what, int timeout_ms = 10000) {
    auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    for (;;) {
      size_t at = out_.find(what, seen_);
      if (at != std::string::npos) {
        seen_ = at + what.size();
        return true;
      }
      if (std::chrono::steady_clock::now() >= until) return false;
      pollfd p{master_, POLLIN, 0};
      if (poll(&p, 1, 50) > 0) {
        char buf[4096];
        ssize_t n = read(master_, buf, sizeof buf);
        if (n <= 0) return out_.find(what, seen_) != std::string::npos;
        out_.append(buf, static_cast<size_t>(n));
      }
    }
  }
  void send(const std::string& s) { ASSERT_EQ(write(master_, s.data(), s.size()), static_cast<ssize_t>(s.size())); }
  void resize(unsigned short rows, unsigned short cols) {
    winsize ws{rows, cols, 0, 0};
    ioctl(master_, TIOCSWINSZ, &ws);  // the kernel sends SIGWINCH to hvrun
  }
  int wait_exit() {
    expect("\x01never\x01", 3000);  // drain until EOF
    int st = 0;
    waitpid(pid_, &st, 0);
    reaped_ = true;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  }
  const std::string& output() const { return out_; }

 private:
  pid_t pid_ = -1;
  int master_ = -1;
  bool reaped_ = false;
  std::string out_;
  size_t seen_ = 0;
};

class ContainerTty : public StoreFixture {
 protected:
  void SetUp() override {
    HVRUN_REQUIRE_ROOT();
    StoreFixture::SetUp();
  }
};

TEST_F(ContainerTty, WindowResizeReachesTheContainer) {
  PtySession s({hvrun_bin(), "--root", root(), "run", "--rm", "-it", "busybox", "sh"}, 24, 80);
  ASSERT_TRUE(s.expect("# ")) << s.output();
  s.send("stty size\r");
  ASSERT_TRUE(s.expect("24 80")) << s.output();
  s.resize(41, 123);
  usleep(200000);
  s.send("stty size; exit 3\r");
  EXPECT_TRUE(s.expect("41 123")) << s.output();
  EXPECT_EQ(s.wait_exit(), 3);
}

TEST_F(ContainerTty, ExecWithTtyGetsItsOwnPtyAndStatus) {
  ASSERT_EQ(hv({"run", "-d", "-it", "--name", "shell", "busybox", "sh"}).code, 0);
  PtySession s({hvrun_bin(), "--root", root(), "exec", "-it", "shell", "sh"}, 30, 90);
  ASSERT_TRUE(s.expect("# ")) << s.output();
  s.send("tty; stty size; exit 4\r");
  EXPECT_TRUE(s.expect("/dev/pts/")) << s.output();
  EXPECT_TRUE(s.expect("30 90")) << s.output();
  EXPECT_EQ(s.wait_exit(), 4);
  EXPECT_EQ(hv({"inspect", "shell"}).out.find("\"Status\": \"running\"") != std::string::npos, true);
}

TEST_F(ContainerTty, TerminalModeIsRestoredAfterTheSession) {
  PtySession s({"/bin/sh", "-c",
                hvrun_bin() + " --root " + root() + " run --rm -it busybox sh -c 'exit 0'; stty -a | grep -o ' -\\?icanon'"},
               24, 80);
  EXPECT_TRUE(s.expect(" icanon")) << s.output();  // canonical mode again, not raw
  EXPECT_EQ(s.wait_exit(), 0);
}

}  // namespace
}  // namespace hvrun::test
