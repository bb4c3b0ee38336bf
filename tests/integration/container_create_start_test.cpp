// hvrun create, start and wait (as docker's): a created container waits,
// unstarted, until start runs it detached; wait prints how it ended, also
// for a --rm container that is gone by then.
#include "harness.hpp"

namespace hvrun::test {
namespace {

class CreateStart : public StoreFixture {
 protected:
  void SetUp() override {
    if (!is_root()) GTEST_SKIP() << "needs root (CI runs as root)";
    StoreFixture::SetUp();
  }
};

TEST_F(CreateStart, ACreatedContainerStaysCreatedUntilStartRunsItDetached) {
  Result c = hv({"create", "--name", "c1", "-e", "X=y", "busybox", "sh", "-c", "echo hi $X; exit 3"});
  ASSERT_EQ(c.code, 0) << c.err;
  EXPECT_EQ(trim(c.out).size(), 64u) << c.out;
  EXPECT_EQ(trim(hv({"inspect", "-f", "{{.State.Status}}", "c1"}).out), "created");
  EXPECT_EQ(hv({"ps", "-a", "--format", "{{.Names}} {{.Status}}"}).out, "c1 Created\n");
  EXPECT_EQ(hv({"logs", "c1"}).out, "");
  Result s = hv({"start", "c1"});
  EXPECT_EQ(s.code, 0) << s.err;
  EXPECT_EQ(s.out, "c1\n");
  EXPECT_EQ(hv({"wait", "c1"}).out, "3\n");
  EXPECT_EQ(hv({"logs", "c1"}).out, "hi y\n");
}

TEST_F(CreateStart, AnExitedContainerStartsAndRestartsOnTheFilesItLeftWithItsLogGoingOn) {
  ASSERT_EQ(hv({"run", "--name", "again", "busybox", "sh", "-c", "echo run $(cat /count 2>/dev/null); echo x >> /count"}).code, 0);
  Result s = hv({"start", "again"});
  ASSERT_EQ(s.code, 0) << s.err;
  EXPECT_EQ(hv({"wait", "again"}).out, "0\n");
  EXPECT_EQ(hv({"logs", "again"}).out, "run\nrun x\n");
  // restart: a running one is stopped first; an exited one just starts.
  ASSERT_EQ(hv({"run", "-d", "--name", "long", "busybox", "sh", "-c", "echo up $(cat /count 2>/dev/null); echo x >> /count; exec sleep 600"}).code, 0);
  Result r = hv({"restart", "-t", "1", "long"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "long\n");
  EXPECT_EQ(trim(hv({"inspect", "-f", "{{.State.Status}}", "long"}).out), "running");
  for (int i = 0; i < 100 && hv({"logs", "long"}).out != "up\nup x\n"; ++i) ::usleep(50 * 1000);
  EXPECT_EQ(hv({"logs", "long"}).out, "up\nup x\n");
  ASSERT_EQ(hv({"run", "--rm", "-d", "--name", "gone", "busybox", "sleep", "600"}).code, 0);
  Result rm = hv({"restart", "gone"});
  EXPECT_EQ(rm.code, 125);
  EXPECT_NE(rm.err.find("cannot be restarted"), std::string::npos) << rm.err;
  EXPECT_EQ(hv({"rm", "-f", "long", "gone"}).code, 0);
}

TEST_F(CreateStart, WaitGivesARmContainersStatusAfterItIsGone) {
  ASSERT_EQ(hv({"create", "--rm", "--name", "r1", "busybox", "sh", "-c", "sleep 0.3; exit 7"}).code, 0);
  EXPECT_EQ(hv({"start", "r1"}).code, 0);
  const std::string id = trim(hv({"inspect", "-f", "{{.Id}}", "r1"}).out);
  Result w = hv({"wait", id});
  EXPECT_EQ(w.code, 0) << w.err;
  EXPECT_EQ(w.out, "7\n");
  EXPECT_EQ(hv({"ps", "-aq"}).out, "");
}

TEST_F(CreateStart, BadCreatesLeaveNothingAndARunningContainerIsNotStartedTwice) {
  Result noimg = hv({"create", "nosuchimage", "true"});
  EXPECT_EQ(noimg.code, 125);
  EXPECT_NE(noimg.err.find("no such image"), std::string::npos) << noimg.err;
  Result badmem = hv({"create", "-m", "lots", "busybox", "true"});
  EXPECT_EQ(badmem.code, 125);
  EXPECT_EQ(hv({"ps", "-aq"}).out, "");
  ASSERT_EQ(hv({"create", "--name", "s1", "busybox", "sleep", "600"}).code, 0);
  ASSERT_EQ(hv({"start", "s1"}).code, 0);
  Result twice = hv({"start", "s1"});
  EXPECT_EQ(twice.code, 125);
  EXPECT_NE(twice.err.find("already running"), std::string::npos) << twice.err;
  EXPECT_EQ(hv({"rm", "-f", "s1"}).code, 0);
  Result gone = hv({"start", "s1"});
  EXPECT_EQ(gone.code, 125);
  EXPECT_NE(gone.err.find("no such container: s1"), std::string::npos) << gone.err;
}

}  // namespace
}  // namespace hvrun::test
