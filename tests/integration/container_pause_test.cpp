// hvrun pause / unpause in container mode (engine/pause.hpp): every process
// of the container stops and goes on where it stopped; the state shows in
// ps and inspect, read from the kernel; exec is refused while paused; kill,
// stop and rm -f still end it; a paused container stays paused through a
// commit. (A microVM's pause: the pause scenario of vm_scenarios.sh.)
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>

#include "tests/integration/harness.hpp"

namespace hvrun::test {
namespace {

class ContainerPause : public StoreFixture {
 protected:
  void SetUp() override {
    HVRUN_REQUIRE_ROOT();
    StoreFixture::SetUp();
  }
  size_t log_lines(const std::string& name) {
    Result r = hv({"logs", name});
    return size_t(std::count(r.out.begin(), r.out.end(), '\n'));
  }
  std::string field(const std::string& name, const std::string& tmpl) { return trim(hv({"inspect", "-f", tmpl, name}).out); }
};

const std::string kCounter = "i=0; while :; do i=$((i+1)); echo $i; sleep 0.05; done";

TEST_F(ContainerPause, PausedProcessesStopUntilUnpauseAndPsInspectSayPaused) {
  ASSERT_EQ(hv({"run", "-d", "--name", "count", "busybox", "sh", "-c", kCounter}).code, 0);
  for (int i = 0; i < 100 && log_lines("count") < 3; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  Result p = hv({"pause", "count"});
  ASSERT_EQ(p.code, 0) << p.err;
  EXPECT_EQ(p.out, "count\n");
  const size_t at_pause = log_lines("count");
  std::this_thread::sleep_for(std::chrono::milliseconds(600));  // 12 lines' worth
  EXPECT_EQ(log_lines("count"), at_pause) << "a paused container went on writing";

  EXPECT_EQ(field("count", "{{.State.Status}} {{.State.Paused}} {{.State.Running}}"), "paused true true");
  Result ps = hv({"ps"});
  EXPECT_NE(ps.out.find(" (Paused)"), std::string::npos) << ps.out;
  EXPECT_NE(hv({"ps", "-q", "--filter", "status=paused"}).out, "");
  EXPECT_EQ(hv({"ps", "-q", "--filter", "status=running"}).out, "");

  Result again = hv({"pause", "count"});
  EXPECT_EQ(again.code, 125);
  EXPECT_EQ(again.err, "hvrun: container count is already paused\n");
  Result ex = hv({"exec", "count", "true"});
  EXPECT_EQ(ex.code, 125);
  EXPECT_NE(ex.err.find("is paused: unpause it first"), std::string::npos) << ex.err;

  Result u = hv({"unpause", "count"});
  ASSERT_EQ(u.code, 0) << u.err;
  for (int i = 0; i < 100 && log_lines("count") <= at_pause + 3; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_GT(log_lines("count"), at_pause + 3) << "it did not go on after unpause";
  // Where it stopped: the count goes on from the last number, none skipped.
  Result logs = hv({"logs", "count"});
  EXPECT_NE(logs.out.find("\n" + std::to_string(at_pause) + "\n" + std::to_string(at_pause + 1) + "\n"), std::string::npos);
  EXPECT_EQ(field("count", "{{.State.Status}} {{.State.Paused}}"), "running false");
  Result not_paused = hv({"unpause", "count"});
  EXPECT_EQ(not_paused.code, 125);
  EXPECT_EQ(not_paused.err, "hvrun: container count is not paused\n");
  EXPECT_EQ(hv({"rm", "-f", "count"}).code, 0);
}

TEST_F(ContainerPause, APausedContainerIsKilledStoppedAndRemovedAndStaysPausedThroughCommit) {
  ASSERT_EQ(hv({"run", "-d", "--name", "p1", "busybox", "sleep", "300"}).code, 0);
  ASSERT_EQ(hv({"pause", "p1"}).code, 0);
  Result c = hv({"commit", "p1", "paused-commit:1"});
  EXPECT_EQ(c.code, 0) << c.err;
  EXPECT_EQ(field("p1", "{{.State.Status}}"), "paused") << "commit --pause thawed a container the user paused";
  // SIGKILL reaches it (a v1 freezer would hold it until thawed).
  ASSERT_EQ(hv({"kill", "p1"}).code, 0);
  for (int i = 0; i < 100 && field("p1", "{{.State.Status}}") != "exited"; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(field("p1", "{{.State.Status}} {{.State.ExitCode}}"), "exited 137");
  Result gone = hv({"pause", "p1"});
  EXPECT_EQ(gone.code, 125);
  EXPECT_EQ(gone.err, "hvrun: container p1 is not running\n");

  ASSERT_EQ(hv({"run", "-d", "--name", "p2", "busybox", "sleep", "300"}).code, 0);
  ASSERT_EQ(hv({"pause", "p2"}).code, 0);
  const auto t0 = std::chrono::steady_clock::now();
  Result st = hv({"stop", "-t", "1", "p2"});  // SIGTERM waits for unpause; SIGKILL after 1 s ends it
  EXPECT_EQ(st.code, 0) << st.err;
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(8));
  EXPECT_EQ(field("p2", "{{.State.Status}}"), "exited");

  ASSERT_EQ(hv({"run", "-d", "--name", "p3", "busybox", "sleep", "300"}).code, 0);
  ASSERT_EQ(hv({"pause", "p3"}).code, 0);
  Result rm = hv({"rm", "-f", "p3"});
  EXPECT_EQ(rm.code, 0) << rm.err;
  EXPECT_EQ(hv({"ps", "-aq", "--filter", "name=p3"}).out, "");
  EXPECT_EQ(hv({"rm", "p1", "p2"}).code, 0);
  hv({"rmi", "paused-commit:1"});
}

TEST_F(ContainerPause, PauseOfAMissingContainerIsOneLine) {
  Result r = hv({"pause", "no-such-container"});
  EXPECT_EQ(r.code, 125);
  EXPECT_EQ(r.err, "hvrun: no such container: no-such-container\n");
  Result u = hv({"unpause"});
  EXPECT_NE(u.code, 0);
}

}  // namespace
}  // namespace hvrun::test
