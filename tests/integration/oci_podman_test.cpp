// The real podman with hvrun-oci as its OCI runtime (podman --runtime):
// run --rm, exit codes, the config podman writes (env, cwd, user,
// hostname, memory limit), run -d, logs, exec (plain, -t, with env/user),
// stop, ps and rm. podman keeps a store of its own (vfs, cgroupfs, no
// systemd): nothing of the machine's podman state is read or changed.
#include <unistd.h>

#include "harness.hpp"

namespace hvrun::test {
namespace {

class OciPodman : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!is_root()) GTEST_SKIP() << "needs root (CI runs as root)";
    if (run({"sh", "-c", "command -v podman && command -v conmon"}).code != 0)
      GTEST_SKIP() << "podman or conmon is not installed (scripts/setup.sh installs them)";
    dir_ = std::make_unique<TempDir>();
    Result tar = run({"tar", "-C", busybox_rootfs(), "-cf", dir_->path() + "/bb.tar", "."});
    ASSERT_EQ(tar.code, 0) << tar.err;
    Result imp = podman({"import", "-q", dir_->path() + "/bb.tar", "localhost/bb:latest"});
    ASSERT_EQ(imp.code, 0) << imp.err;
  }
  void TearDown() override {
    if (dir_) podman({"rm", "-af", "-t", "0"});
  }
  Result podman(const std::vector<std::string>& args, int timeout_s = 120) const {
    std::vector<std::string> argv{"podman", "--root", dir_->path() + "/storage", "--runroot", dir_->path() + "/run",
                                  "--tmpdir", dir_->path() + "/tmp", "--storage-driver", "vfs", "--runtime",
                                  HVRUN_OCI_BIN, "--cgroup-manager", "cgroupfs", "--events-backend", "file"};
    argv.insert(argv.end(), args.begin(), args.end());
    // podman asks for rlimits (nofile, nproc 1048576) above the hard limits
    // a container host may set, and hvrun-oci applies them as runc does:
    // the same modest ones as tests/integration/image_archive_test.cpp.
    if (args[0] == "run")
      argv.insert(argv.end() - long(args.size()) + 1,
                  {"--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"});
    return run(argv, "", timeout_s);
  }
  std::unique_ptr<TempDir> dir_;
};

TEST_F(OciPodman, RunRmGivesTheOutputAndTheExitCodeAndAppliesTheConfig) {
  Result hi = podman({"run", "--rm", "--net", "none", "localhost/bb", "echo", "hello", "from", "podman"});
  ASSERT_EQ(hi.code, 0) << hi.err;
  EXPECT_EQ(hi.out, "hello from podman\n");
  Result seven = podman({"run", "--rm", "--net", "none", "localhost/bb", "sh", "-c", "exit 7"});
  EXPECT_EQ(seven.code, 7) << seven.err;
  Result cfg = podman({"run", "--rm", "--net", "none", "-e", "FOO=bar", "-w", "/tmp", "-u", "65534:65534",
                       "--hostname", "hh", "--memory", "64m", "localhost/bb", "sh", "-c",
                       "echo $FOO $(pwd) $(id -u) $(hostname) $(ulimit -n); for f in /sys/fs/cgroup/memory.max "
                       "/sys/fs/cgroup/memory/memory.limit_in_bytes; do [ ! -e $f ] || cat $f; done"});
  ASSERT_EQ(cfg.code, 0) << cfg.err;
  EXPECT_EQ(cfg.out, "bar /tmp 65534 hh 1024\n67108864\n");
  Result missing = podman({"run", "--rm", "--net", "none", "localhost/bb", "/no/such/program"});
  EXPECT_NE(missing.code, 0);
  EXPECT_NE(missing.err.find("/no/such/program"), std::string::npos) << missing.err;
}

TEST_F(OciPodman, DetachedContainerLogsExecStopAndRm) {
  Result d = podman({"run", "-d", "--net", "none", "--name", "web", "localhost/bb", "sh", "-c",
                     "trap 'echo bye; exit 0' TERM; echo up; while :; do sleep 0.1; done"});
  ASSERT_EQ(d.code, 0) << d.err;
  Result ps = podman({"ps", "--format", "{{.Names}} {{.Status}}"});
  EXPECT_EQ(ps.out.substr(0, 7), "web Up ") << ps.out;
  Result e = podman({"exec", "web", "sh", "-c", "echo in exec as pid $$ of $(ls /proc | grep -c '^[0-9]'); exit 4"});
  EXPECT_EQ(e.code, 4) << e.err;
  EXPECT_NE(e.out.find("in exec as pid"), std::string::npos) << e.out;
  Result eu = podman({"exec", "-e", "X=y", "-w", "/tmp", "-u", "65534", "web", "sh", "-c", "echo $X $(pwd) $(id -u)"});
  EXPECT_EQ(eu.out, "y /tmp 65534\n") << eu.err;
  Result et = podman({"exec", "-t", "web", "tty"});
  EXPECT_EQ(trim(et.out).rfind("/dev/pts/", 0), 0u) << et.out << et.err;
  Result stop = podman({"stop", "-t", "10", "web"});
  EXPECT_EQ(stop.code, 0) << stop.err;
  Result logs = podman({"logs", "web"});
  EXPECT_EQ(logs.out, "up\nbye\n") << logs.err;
  Result st = podman({"ps", "-a", "--format", "{{.Names}} {{.Status}}"});
  EXPECT_EQ(st.out.substr(0, 15), "web Exited (0) ") << st.out;
  EXPECT_EQ(podman({"rm", "web"}).code, 0);
  EXPECT_EQ(podman({"ps", "-aq"}).out, "");
}

}  // namespace
}  // namespace hvrun::test
