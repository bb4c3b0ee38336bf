// kill -9 of hvrun (foreground: it is the monitor) or of a detached monitor
// at random points must leave nothing that `hvrun rm -f` cannot clean.
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <set>

#include "tests/integration/harness.hpp"

namespace hvrun::test {
namespace {

namespace fs = std::filesystem;

pid_t spawn(const std::vector<std::string>& argv) {
  pid_t pid = fork();
  if (pid == 0) {
    int devnull = open("/dev/null", O_RDWR);
    dup2(devnull, 0);
    dup2(devnull, 1);
    dup2(devnull, 2);
    std::vector<char*> a;
    for (auto& s : argv) a.push_back(const_cast<char*>(s.c_str()));
    a.push_back(nullptr);
    execv(a[0], a.data());
    _exit(127);
  }
  return pid;
}

// Every container id with a record (finished or half-made) under root.
std::set<std::string> ids_on_disk(const std::string& root) {
  std::set<std::string> ids;
  std::error_code ec;
  for (auto& e : fs::directory_iterator(root + "/containers", ec)) {
    std::string n = e.path().filename();
    if (n.size() >= 64) ids.insert(n.substr(0, 64));
  }
  return ids;
}

bool process_with_marker_exists(const std::string& marker) {
  for (auto& e : fs::directory_iterator("/proc")) {
    std::string n = e.path().filename();
    if (n.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream f(e.path() / "cmdline");
    std::string cmd((std::istreambuf_iterator<char>(f)), {});
    if (cmd.find(marker) != std::string::npos) return true;
  }
  return false;
}

class ContainerCrash : public StoreFixture {
 protected:
  void SetUp() override {
    HVRUN_REQUIRE_ROOT();
    StoreFixture::SetUp();
  }
};

TEST_F(ContainerCrash, SigkillAtRandomPointsThenRmForceLeavesNothing) {
  std::mt19937 rng(std::random_device{}());
  const std::string marker = "hvrun-crash-" + std::to_string(getpid());
  const int delays_ms[] = {0, 2, 5, 10, 20, 35, 50, 80, 120, 200};  // bounded: 10 iterations
  std::set<std::string> seen;
  for (int i = 0; i < 10; ++i) {
    bool detached = i % 2 == 1;
    int delay = delays_ms[i] + static_cast<int>(rng() % 5);
    std::vector<std::string> argv{hvrun_bin(), "--root", root(), "run"};
    if (detached) argv.push_back("-d");
    argv.insert(argv.end(), {"busybox", "sh", "-c", "sleep 30; : " + marker});
    pid_t pid = spawn(argv);
    usleep(static_cast<useconds_t>(delay) * 1000);
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    if (detached) {
      // Also kill the detached monitor, wherever it got to.
      usleep(static_cast<useconds_t>(rng() % 30) * 1000);
      for (const auto& id : ids_on_disk(root())) {
        std::ifstream f(root() + "/containers/" + id + "/state.json");
        auto j = nlohmann::json::parse(f, nullptr, false);
        if (j.is_object() && j.value("monitor_pid", 0) > 0) kill(j["monitor_pid"].get<int>(), SIGKILL);
      }
    }
    for (const auto& id : ids_on_disk(root())) seen.insert(id);
  }
  Result ps = hv({"ps", "-aq"});
  ASSERT_EQ(ps.code, 0) << ps.err;
  std::istringstream in(ps.out);
  for (std::string id; in >> id;) {
    Result rm = hv({"rm", "-f", id});
    EXPECT_EQ(rm.code, 0) << rm.err;
  }
  EXPECT_EQ(hv({"ps", "-aq"}).out, "");
  for (int k = 0; k < 50 && process_with_marker_exists(marker); ++k) usleep(20000);
  EXPECT_FALSE(process_with_marker_exists(marker)) << "a container process survived";
  EXPECT_TRUE(ids_on_disk(root()).empty()) << "a container dir survived";
  for (const auto& id : seen) {
    for (auto& ctrl : fs::directory_iterator("/sys/fs/cgroup")) {
      fs::path cg = ctrl.path() / "hvrun" / id;
      EXPECT_FALSE(fs::exists(cg)) << cg;
    }
  }
}

TEST_F(ContainerCrash, PsIsTruthfulAfterTheMonitorIsKilled) {
  const std::string marker = "hvrun-orphan-" + std::to_string(getpid());
  Result d = hv({"run", "-d", "--name", "orphan", "busybox", "sh", "-c", "sleep 30; : " + marker});
  ASSERT_EQ(d.code, 0) << d.err;
  std::string id = trim(d.out);
  std::ifstream f(root() + "/containers/" + id + "/state.json");
  auto st = nlohmann::json::parse(f, nullptr, false);
  ASSERT_TRUE(st.is_object());
  ASSERT_GT(st.value("monitor_pid", 0), 0);
  ASSERT_TRUE(process_with_marker_exists(marker));
  kill(st["monitor_pid"].get<int>(), SIGKILL);
  for (int k = 0; k < 100 && fs::exists("/proc/" + std::to_string(st["monitor_pid"].get<int>())); ++k) usleep(10000);

  Result ps = hv({"ps", "-a"});
  // Its workload died by SIGKILL with its monitor: 137, as Docker says.
  EXPECT_NE(ps.out.find("Exited (137)"), std::string::npos) << ps.out;
  EXPECT_NE(hv({"inspect", "orphan"}).out.find("\"ExitCode\": 137"), std::string::npos);
  EXPECT_EQ(hv({"ps", "-q"}).out, "");  // not listed as running
  for (int k = 0; k < 50 && process_with_marker_exists(marker); ++k) usleep(20000);
  EXPECT_FALSE(process_with_marker_exists(marker)) << "the workload outlived its monitor";
  EXPECT_FALSE(fs::exists("/sys/fs/cgroup/pids/hvrun/" + id));
  EXPECT_EQ(hv({"rm", "orphan"}).code, 0);  // no -f needed: it is not running
}

// Starts `hvrun run ARGS` in the foreground (it is the monitor), waits until
// its container runs, and kill -9s it. Returns the container's id.
std::string start_and_kill_foreground_hvrun(const std::string& root, const std::vector<std::string>& args) {
  std::vector<std::string> argv{hvrun_bin(), "--root", root, "run"};
  argv.insert(argv.end(), args.begin(), args.end());
  pid_t pid = spawn(argv);
  std::string id;
  for (int k = 0; k < 500 && id.empty(); ++k) {
    for (const auto& c : ids_on_disk(root)) {
      std::ifstream f(root + "/containers/" + c + "/state.json");
      auto j = nlohmann::json::parse(f, nullptr, false);
      if (j.is_object() && j.value("status", "") == "running") id = c;
    }
    if (id.empty()) usleep(10000);
  }
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  return id;
}

TEST_F(ContainerCrash, RmContainerWhoseHvrunIsKilledIsRemovedByTheNextCommand) {
  const std::string marker = "hvrun-rm-orphan-" + std::to_string(getpid());
  std::string id = start_and_kill_foreground_hvrun(root(), {"--rm", "--name", "doomed", "busybox", "sh", "-c", "sleep 30; : " + marker});
  ASSERT_FALSE(id.empty()) << "the container never ran";
  ASSERT_TRUE(fs::exists(root() + "/containers/" + id)) << "nothing left to finish: the test proves nothing";
  Result ps = hv({"ps", "-a"});
  EXPECT_EQ(ps.code, 0) << ps.err;
  EXPECT_EQ(ps.out.find("doomed"), std::string::npos) << ps.out;
  EXPECT_FALSE(fs::exists(root() + "/containers/" + id)) << "ps did not finish the removal";
  EXPECT_TRUE(ids_on_disk(root()).empty());
  for (int k = 0; k < 50 && process_with_marker_exists(marker); ++k) usleep(20000);
  EXPECT_FALSE(process_with_marker_exists(marker)) << "the workload outlived its monitor";
  for (auto& ctrl : fs::directory_iterator("/sys/fs/cgroup")) EXPECT_FALSE(fs::exists(ctrl.path() / "hvrun" / id));
  // The name is free again.
  Result again = hv({"run", "--rm", "--name", "doomed", "busybox", "true"});
  EXPECT_EQ(again.code, 0) << again.err;
}

TEST_F(ContainerCrash, RmContainerWhoseHvrunIsKilledIsRemovedByInspectAndGivesUpItsName) {
  std::string id = start_and_kill_foreground_hvrun(root(), {"--rm", "--name", "gone", "busybox", "sleep", "30"});
  ASSERT_FALSE(id.empty()) << "the container never ran";
  Result i = hv({"inspect", id.substr(0, 12)});
  EXPECT_EQ(i.code, 125);
  // inspect looks at images too when no container has that name.
  EXPECT_NE(i.err.find("no such object"), std::string::npos) << i.err;
  EXPECT_FALSE(fs::exists(root() + "/containers/" + id));
  // Taking the name again finishes the removal by itself too.
  std::string id2 = start_and_kill_foreground_hvrun(root(), {"--rm", "--name", "gone", "busybox", "sleep", "30"});
  ASSERT_FALSE(id2.empty());
  Result again = hv({"run", "--rm", "--name", "gone", "busybox", "true"});
  EXPECT_EQ(again.code, 0) << again.err;
  EXPECT_FALSE(fs::exists(root() + "/containers/" + id2));
}

TEST_F(ContainerCrash, ContainerKilledWithItsForegroundHvrunReports137) {
  std::string id = start_and_kill_foreground_hvrun(root(), {"--name", "killed", "busybox", "sleep", "30"});
  ASSERT_FALSE(id.empty()) << "the container never ran";
  Result ps = hv({"ps", "-a"});
  EXPECT_NE(ps.out.find("Exited (137)"), std::string::npos) << ps.out;
  EXPECT_EQ(ps.out.find("Exited (255)"), std::string::npos) << ps.out;
  Result i = hv({"inspect", "killed"});
  EXPECT_NE(i.out.find("\"ExitCode\": 137"), std::string::npos) << i.out;
}

}  // namespace
}  // namespace hvrun::test
