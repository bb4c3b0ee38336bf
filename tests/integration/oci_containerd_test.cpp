// The real containerd (Debian's 1.6, its runc v2 shim) with hvrun-oci as
// the runc binary (`ctr run --runc-binary`): output and exit status, a
// detached task with exec, ps and kill, a terminal. The test starts its
// own containerd (own root, state and socket; CRI off) and stops it.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>

#include "harness.hpp"

namespace hvrun::test {
namespace {

class OciContainerd : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!is_root()) GTEST_SKIP() << "needs root (CI runs as root)";
    if (run({"sh", "-c", "command -v containerd && command -v ctr && command -v containerd-shim-runc-v2"}).code != 0)
      GTEST_SKIP() << "containerd is not installed (scripts/setup.sh installs it)";
    dir_ = std::make_unique<TempDir>();
    const std::string d = dir_->path();
    sock_ = d + "/containerd.sock";
    std::ofstream(d + "/config.toml") << "version = 2\nroot = \"" << d << "/root\"\nstate = \"" << d
                                      << "/state\"\ndisabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n[grpc]\n  address = \""
                                      << sock_ << "\"\n[ttrpc]\n  address = \"" << sock_ << ".ttrpc\"\n";
    daemon_ = ::fork();
    if (daemon_ == 0) {
      ::setpgid(0, 0);
      std::string log = d + "/containerd.log";
      (void)!::freopen(log.c_str(), "w", stdout);
      (void)!::freopen(log.c_str(), "a", stderr);
      ::execlp("containerd", "containerd", "--config", (d + "/config.toml").c_str(), nullptr);
      ::_exit(127);
    }
    for (int i = 0; i < 100; ++i) {
      if (ctr({"version"}).code == 0) return;
      ::usleep(100 * 1000);
    }
    FAIL() << "containerd did not come up: " << run({"cat", d + "/containerd.log"}).out;
  }
  void TearDown() override {
    if (daemon_ > 0) {
      for (const char* id : {"c1", "c2", "c3"}) {
        ctr({"task", "kill", "-s", "KILL", id});
        ctr({"task", "delete", "-f", id});
        ctr({"container", "delete", id});
      }
      ::kill(-daemon_, SIGTERM);
      int st;
      ::waitpid(daemon_, &st, 0);
      // The shims are not containerd's children: they end with their tasks.
      run({"sh", "-c", "pkill -f 'containerd-shim-runc-v2 .*-address " + sock_ + "' || true"});
    }
  }
  Result ctr(const std::vector<std::string>& args, int timeout_s = 60) {
    std::vector<std::string> argv{"ctr", "--address", sock_};
    argv.insert(argv.end(), args.begin(), args.end());
    return run(argv, "", timeout_s);
  }
  std::vector<std::string> run_args(const std::string& id) {
    return {"run", "--runc-binary", HVRUN_OCI_BIN, "--rootfs", busybox_rootfs(), id};
  }
  std::unique_ptr<TempDir> dir_;
  std::string sock_;
  pid_t daemon_ = -1;
};

TEST_F(OciContainerd, CtrRunGivesTheOutputAndTheExitStatusThroughTheShim) {
  auto args = run_args("c1");
  args.insert(args.begin() + 1, "--rm");
  for (const char* a : {"sh", "-c", "echo hello containerd; grep -c ' /run tmpfs ' /proc/mounts; exit 5"})
    args.push_back(a);
  Result r = ctr(args);
  EXPECT_EQ(r.code, 5) << r.err;
  EXPECT_EQ(r.out, "hello containerd\n1\n");  // containerd's spec has a tmpfs on /run
  EXPECT_EQ(ctr({"container", "ls", "-q"}).out, "");
}

TEST_F(OciContainerd, ADetachedTaskTakesExecPsAndKill) {
  auto args = run_args("c2");
  args.insert(args.begin() + 1, "-d");
  for (const char* a : {"sh", "-c", "trap 'exit 3' TERM; while :; do sleep 0.1; done"}) args.push_back(a);
  Result d = ctr(args);
  ASSERT_EQ(d.code, 0) << d.err;
  Result ls = ctr({"task", "ls"});
  EXPECT_NE(ls.out.find("RUNNING"), std::string::npos) << ls.out;
  Result e = ctr({"task", "exec", "--exec-id", "e1", "c2", "sh", "-c", "echo exec ok; exit 2"});
  EXPECT_EQ(e.code, 2) << e.err;
  EXPECT_EQ(e.out, "exec ok\n");
  Result ps = ctr({"task", "ps", "c2"});
  EXPECT_EQ(ps.code, 0) << ps.err;
  EXPECT_NE(ps.out.find("PID"), std::string::npos) << ps.out;
  ASSERT_EQ(ctr({"task", "kill", "c2"}).code, 0);
  std::string st;
  for (int i = 0; i < 100; ++i) {
    st = ctr({"task", "ls"}).out;
    if (st.find("STOPPED") != std::string::npos) break;
    ::usleep(100 * 1000);
  }
  EXPECT_NE(st.find("STOPPED"), std::string::npos) << st;
  Result del = ctr({"task", "delete", "c2"});
  EXPECT_EQ(del.code, 0) << del.err;
  EXPECT_NE((del.out + del.err).find("3"), std::string::npos) << "exit status: " << del.out << del.err;
}

TEST_F(OciContainerd, ATerminalTaskSeesAPty) {
  auto args = run_args("c3");
  args.insert(args.begin() + 1, "--rm");
  args.insert(args.begin() + 2, "-t");
  for (const char* a : {"sh", "-c", "tty"}) args.push_back(a);
  std::string cmd;
  for (auto& a : args) cmd += " '" + a + "'";
  Result r = run({"script", "-qec", "ctr --address '" + sock_ + "'" + cmd, "/dev/null"}, "", 60);
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("/dev/pts/0"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace hvrun::test
