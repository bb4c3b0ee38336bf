// Detached containers and the lifecycle commands: ps, logs, stop, kill, rm,
// inspect, exec, --rm, -it.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "tests/integration/harness.hpp"

namespace hvrun::test {
namespace {

class ContainerLifecycle : public StoreFixture {
 protected:
  void SetUp() override {
    HVRUN_REQUIRE_ROOT();
    StoreFixture::SetUp();
  }
  nlohmann::json inspect(const std::string& name) {
    Result r = hv({"inspect", name});
    EXPECT_EQ(r.code, 0) << r.err;
    auto j = nlohmann::json::parse(r.out, nullptr, false);
    return j.is_array() && !j.empty() ? j[0] : nlohmann::json::object();
  }
  size_t container_dirs() {
    size_t n = 0;
    std::error_code ec;
    for (auto& e : std::filesystem::directory_iterator(root() + "/containers", ec))
      n += e.path().filename().string().size() >= 64;
    return n;
  }
};

const std::string kServer = "trap 'echo bye; exit 0' TERM; echo started; echo oops >&2; while :; do sleep 0.05; done";

TEST_F(ContainerLifecycle, DetachPsLogsStopRm) {
  Result d = hv({"run", "-d", "--name", "web", "busybox", "sh", "-c", kServer});
  ASSERT_EQ(d.code, 0) << d.err;
  std::string id = trim(d.out);
  ASSERT_EQ(id.size(), 64u) << d.out;

  Result ps = hv({"ps"});
  EXPECT_NE(ps.out.find("CONTAINER ID"), std::string::npos);
  EXPECT_NE(ps.out.find(id.substr(0, 12)), std::string::npos);
  EXPECT_NE(ps.out.find("Up "), std::string::npos);
  EXPECT_NE(ps.out.find("web"), std::string::npos);
  auto j = inspect("web");
  EXPECT_EQ(j["State"]["Status"], "running");
  EXPECT_GT(j["State"]["Pid"].get<int>(), 0);
  EXPECT_EQ(j["Mode"], "container");

  Result rm = hv({"rm", "web"});
  EXPECT_EQ(rm.code, 125);  // refuses a running container without -f
  EXPECT_NE(rm.err.find("running"), std::string::npos);

  Result st = hv({"stop", "-t", "5", id.substr(0, 8)});  // by unique id prefix
  EXPECT_EQ(st.code, 0) << st.err;
  j = inspect("web");
  EXPECT_EQ(j["State"]["Status"], "exited");
  EXPECT_EQ(j["State"]["ExitCode"], 0);

  Result logs = hv({"logs", "web"});
  EXPECT_EQ(logs.out, "started\nbye\n");
  EXPECT_EQ(logs.err, "oops\n");
  EXPECT_EQ(hv({"ps"}).out.find("web"), std::string::npos);
  EXPECT_NE(hv({"ps", "-a"}).out.find("web"), std::string::npos);

  EXPECT_EQ(hv({"rm", "web"}).code, 0);
  EXPECT_EQ(hv({"ps", "-aq"}).out, "");
  EXPECT_EQ(container_dirs(), 0u);
  EXPECT_FALSE(std::filesystem::exists("/sys/fs/cgroup/pids/hvrun/" + id));
}

TEST_F(ContainerLifecycle, StopEscalatesToSigkillAfterTimeout) {
  ASSERT_EQ(hv({"run", "-d", "--name", "stubborn", "busybox", "sh", "-c", "trap '' TERM; while :; do sleep 0.05; done"}).code, 0);
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(hv({"stop", "-t", "1", "stubborn"}).code, 0);
  double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_GE(took, 0.9);
  EXPECT_EQ(inspect("stubborn")["State"]["ExitCode"], 137);
}

TEST_F(ContainerLifecycle, StopSendsTheStopSignalAndWaitsTheStopTimeout) {
  // The workload ignores SIGTERM and notes SIGUSR1: only --stop-signal
  // reaches it, and --stop-timeout 1 (not 10) ends the wait for it.
  ASSERT_EQ(hv({"run", "-d", "--name", "usr1", "--stop-signal", "SIGUSR1", "--stop-timeout", "1", "busybox", "sh", "-c",
                "trap '' TERM; trap 'echo got-usr1' USR1; while :; do sleep 0.05; done"})
                .code,
            0);
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(hv({"stop", "usr1"}).code, 0);
  double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_GE(took, 0.9);
  EXPECT_LT(took, 8.0) << "stop did not use --stop-timeout 1";
  EXPECT_EQ(hv({"logs", "usr1"}).out, "got-usr1\n");
  nlohmann::json j = inspect("usr1");
  EXPECT_EQ(j["State"]["ExitCode"], 137);
  EXPECT_EQ(j["Config"]["StopSignal"], "SIGUSR1");
  EXPECT_EQ(j["Config"]["StopTimeout"], 1);
  // The image's STOPSIGNAL is the default; --stop-signal overrides it.
  ASSERT_EQ(hv({"commit", "-c", "STOPSIGNAL SIGUSR2", "usr1", "stopsig:1"}).code, 0);
  ASSERT_EQ(hv({"run", "-d", "--name", "byimage", "stopsig:1", "sh", "-c", "trap 'exit 12' USR2; while :; do sleep 0.05; done"}).code, 0);
  EXPECT_EQ(inspect("byimage")["Config"]["StopSignal"], "SIGUSR2");
  EXPECT_EQ(hv({"stop", "byimage"}).code, 0);
  EXPECT_EQ(inspect("byimage")["State"]["ExitCode"], 12);
  ASSERT_EQ(hv({"create", "--name", "over", "--stop-signal", "9", "stopsig:1", "true"}).code, 0);
  EXPECT_EQ(inspect("over")["Config"]["StopSignal"], "9");
  EXPECT_EQ(inspect("over")["Config"]["StopTimeout"], 10);
}

TEST_F(ContainerLifecycle, RestartOnFailureStopsAtItsLimitAndAlwaysRestartsUntilStoppedByHand) {
  ASSERT_EQ(hv({"run", "-d", "--name", "flaky", "--restart", "on-failure:2", "busybox", "sh", "-c", "echo run; exit 3"}).code, 0);
  // Three runs (the first and two restarts, 100 then 200 ms apart), then it stays exited.
  for (int i = 0; i < 100; ++i) {
    nlohmann::json j = inspect("flaky");
    if (j["RestartCount"] == 2 && j["State"]["Status"] == "exited") break;
    usleep(100000);
  }
  nlohmann::json j = inspect("flaky");
  EXPECT_EQ(j["RestartCount"], 2);
  EXPECT_EQ(j["State"]["ExitCode"], 3);
  EXPECT_EQ(j["HostConfig"]["RestartPolicy"]["Name"], "on-failure");
  EXPECT_EQ(j["HostConfig"]["RestartPolicy"]["MaximumRetryCount"], 2);
  usleep(500000);
  EXPECT_EQ(hv({"logs", "flaky"}).out, "run\nrun\nrun\n");
  // A success ends on-failure's restarts.
  ASSERT_EQ(hv({"run", "-d", "--name", "fine", "--restart", "on-failure", "busybox", "sh", "-c", "echo once"}).code, 0);
  EXPECT_EQ(hv({"wait", "fine"}).out, "0\n");
  usleep(500000);
  EXPECT_EQ(inspect("fine")["RestartCount"], 0);
  // always: a workload that ends by itself comes back; stop by hand ends it for good.
  ASSERT_EQ(hv({"run", "-d", "--name", "again", "--restart", "always", "busybox", "sh", "-c", "echo up; sleep 0.2"}).code, 0);
  for (int i = 0; i < 100 && inspect("again")["RestartCount"] < 2; ++i) usleep(100000);
  EXPECT_GE(inspect("again")["RestartCount"], 2);
  EXPECT_EQ(hv({"stop", "again"}).code, 0);
  const nlohmann::json stopped = inspect("again");
  EXPECT_EQ(stopped["State"]["Status"], "exited");
  usleep(1000000);
  EXPECT_EQ(inspect("again")["RestartCount"], stopped["RestartCount"]) << "restarted after a stop by hand";
  EXPECT_EQ(inspect("again")["State"]["Status"], "exited");
  // Started by hand: the policy applies again, counted afresh.
  ASSERT_EQ(hv({"start", "again"}).code, 0);
  EXPECT_EQ(inspect("again")["RestartCount"], 0);
  for (int i = 0; i < 100 && inspect("again")["RestartCount"] < 1; ++i) usleep(100000);
  EXPECT_GE(inspect("again")["RestartCount"], 1);
  EXPECT_EQ(hv({"rm", "-f", "flaky", "fine", "again"}).code, 0);
  EXPECT_EQ(hv({"ps", "-aq"}).out, "");
}

TEST_F(ContainerLifecycle, RestartPoliciesBringContainersBackWhenServeStartsAfterTheirMonitorsDied) {
  // A reboot, as the store sees it: every monitor and workload gone at once.
  for (const char* p : {"always", "unless-stopped", "on-failure", "no"})
    ASSERT_EQ(hv({"run", "-d", "--name", std::string("c-") + p, "--restart", p, "busybox", "sleep", "300"}).code, 0);
  ASSERT_EQ(hv({"run", "-d", "--name", "c-stopped", "--restart", "unless-stopped", "busybox", "sleep", "300"}).code, 0);
  ASSERT_EQ(hv({"stop", "-t", "0", "c-stopped"}).code, 0);
  for (const char* n : {"c-always", "c-unless-stopped", "c-on-failure", "c-no"}) {
    const std::string id = trim(hv({"inspect", "-f", "{{.Id}}", n}).out);
    std::ifstream f(root() + "/containers/" + id + "/state.json");
    const int monitor = nlohmann::json::parse(f, nullptr, false).value("monitor_pid", 0);
    ASSERT_GT(monitor, 0);
    ASSERT_EQ(::kill(monitor, SIGKILL), 0);
  }
  for (int i = 0; i < 100 && hv({"ps", "-q"}).out != ""; ++i) usleep(100000);
  ASSERT_EQ(hv({"ps", "-q"}).out, "") << "the workloads outlived their monitors";
  // hvrun serve applies the policies before it listens (killed after 3 s here).
  Result serve = hv({"serve", "-H", "unix://" + root() + "/api.sock", "--group", "root"}, "", 3);
  EXPECT_NE(serve.err.find("(its restart policy)"), std::string::npos) << serve.err;
  Result ps = hv({"ps", "--format", "{{.Names}}"});
  // on-failure too: the monitor's death was a failure (137).
  EXPECT_EQ(ps.out, "c-on-failure\nc-unless-stopped\nc-always\n") << ps.err;
  EXPECT_EQ(hv({"rm", "-f", "c-always", "c-unless-stopped", "c-on-failure", "c-no", "c-stopped"}).code, 0);
}

TEST_F(ContainerLifecycle, LogsFollowEndsWhenContainerExits) {
  ASSERT_EQ(hv({"run", "-d", "--name", "counter", "busybox", "sh", "-c", "for i in 1 2 3; do echo $i; sleep 0.2; done"}).code, 0);
  Result f = hv({"logs", "-f", "counter"}, "", 20);
  EXPECT_FALSE(f.timed_out);
  EXPECT_EQ(f.out, "1\n2\n3\n");
}

TEST_F(ContainerLifecycle, LogsTailTimestampsAndStreams) {
  Result r = hv({"run", "--name", "lg", "busybox", "sh", "-c", "echo a; echo b; echo c >&2; sleep 0.1; echo d"});
  ASSERT_EQ(r.code, 0) << r.err;
  // Foreground output is live and also logged. stdout and stderr are
  // separate pipes, so only the order within a stream is defined (the sleep
  // orders c before d).
  EXPECT_EQ(r.out, "a\nb\nd\n");
  EXPECT_EQ(r.err, "c\n");
  EXPECT_EQ(hv({"logs", "--tail", "2", "lg"}).out, "d\n");
  EXPECT_EQ(hv({"logs", "--tail", "2", "lg"}).err, "c\n");
  Result ts = hv({"logs", "--timestamps", "--tail", "1", "lg"});
  ASSERT_GT(ts.out.size(), 30u);
  EXPECT_EQ(ts.out.substr(ts.out.size() - 3), " d\n");
  EXPECT_EQ(ts.out[10], 'T');
  // The file itself is Docker json-file.
  Result cat = run({"sh", "-c", "cat " + root() + "/containers/*/container.log"});
  auto first = nlohmann::json::parse(cat.out.substr(0, cat.out.find('\n')));
  EXPECT_EQ(first["log"], "a\n");
  EXPECT_EQ(first["stream"], "stdout");
  EXPECT_TRUE(first["time"].is_string());
}

TEST_F(ContainerLifecycle, ExecRunsInTheContainerAndReturnsItsStatus) {
  ASSERT_EQ(hv({"run", "-d", "--name", "box", "--hostname", "inside", "-e", "X=1", "busybox", "sleep", "30"}).code, 0);
  Result e = hv({"exec", "-e", "Y=2", "-w", "/tmp", "box", "sh", "-c", "hostname; echo $X$Y; pwd; exit 5"});
  EXPECT_EQ(e.code, 5) << e.err;
  EXPECT_EQ(e.out, "inside\n12\n/tmp\n");
  Result in = hv({"exec", "-i", "box", "cat"}, "piped\n");
  EXPECT_EQ(in.out, "piped\n");
  Result nf = hv({"exec", "box", "/no/such"});
  EXPECT_EQ(nf.code, 127);
  EXPECT_EQ(hv({"kill", "-s", "KILL", "box"}).code, 0);
  hv({"logs", "-f", "box"});
  Result stopped = hv({"exec", "box", "true"});
  EXPECT_EQ(stopped.code, 125);
  EXPECT_NE(stopped.err.find("not running"), std::string::npos);
}

TEST_F(ContainerLifecycle, RmLeavesNothingAndNamesCanBeReused) {
  Result r = hv({"run", "--rm", "--name", "tmp1", "busybox", "true"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(hv({"ps", "-aq"}).out, "");
  EXPECT_EQ(container_dirs(), 0u);
  EXPECT_EQ(hv({"run", "--name", "tmp1", "busybox", "true"}).code, 0);
  Result dup = hv({"run", "--name", "tmp1", "busybox", "true"});
  EXPECT_EQ(dup.code, 125);
  EXPECT_NE(dup.err.find("already in use"), std::string::npos);
  EXPECT_EQ(hv({"rm", "-f", "tmp1"}).code, 0);
  EXPECT_EQ(hv({"run", "--rm", "-d", "--name", "tmp2", "busybox", "true"}).code, 0);
  for (int i = 0; i < 100 && container_dirs() > 0; ++i) usleep(20000);
  EXPECT_EQ(container_dirs(), 0u);
}

TEST_F(ContainerLifecycle, SigtermToHvrunExecReachesTheExecdProcess) {
  ASSERT_EQ(hv({"run", "-d", "--name", "host1", "busybox", "sleep", "30"}).code, 0);
  int out[2];
  ASSERT_EQ(pipe2(out, O_CLOEXEC), 0);
  pid_t pid = fork();
  if (pid == 0) {
    dup2(out[1], 1);
    execl(hvrun_bin().c_str(), "hvrun", "--root", root().c_str(), "exec", "host1", "sh", "-c",
          "trap 'echo exec-term; exit 9' TERM; echo ready; while :; do sleep 0.05; done", nullptr);
    _exit(127);
  }
  close(out[1]);
  std::string got;
  char buf[256];
  while (got.find("ready") == std::string::npos) {
    ssize_t n = read(out[0], buf, sizeof buf);
    if (n <= 0) break;
    got.append(buf, static_cast<size_t>(n));
  }
  kill(pid, SIGTERM);
  for (ssize_t n; (n = read(out[0], buf, sizeof buf)) > 0;) got.append(buf, static_cast<size_t>(n));
  close(out[0]);
  int st = 0;
  waitpid(pid, &st, 0);
  EXPECT_NE(got.find("exec-term"), std::string::npos) << got;
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 9);
}

TEST_F(ContainerLifecycle, RmForceKillsARunningContainer) {
  Result d = hv({"run", "-d", "busybox", "sleep", "30"});
  ASSERT_EQ(d.code, 0);
  std::string id = trim(d.out);
  EXPECT_EQ(hv({"rm", "-f", id}).code, 0);
  EXPECT_EQ(hv({"ps", "-aq"}).out, "");
  EXPECT_FALSE(std::filesystem::exists("/sys/fs/cgroup/pids/hvrun/" + id));
}

TEST_F(ContainerLifecycle, InteractivePipesStdinWithoutTty) {
  Result r = hv({"run", "--rm", "-i", "busybox", "sh", "-c", "read x; echo got $x; cat"}, "one\ntwo\n");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "got one\ntwo\n");
  Result no_i = hv({"run", "--rm", "busybox", "cat"}, "ignored\n");
  EXPECT_EQ(no_i.out, "");  // without -i stdin is /dev/null
}

TEST_F(ContainerLifecycle, TtySessionShowsOutputWindowSizeAndExitStatus) {
  Result r = run_in_pty({hvrun_bin(), "--root", root(), "run", "--rm", "-it", "busybox", "sh"},
                        {{"# ", "stty size; echo h''i; exit 7\r"}}, 30, 33, 101);
  EXPECT_FALSE(r.timed_out) << r.out << r.err;
  EXPECT_EQ(r.code, 7) << r.out;
  EXPECT_NE(r.out.find("33 101"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("hi\r\n"), std::string::npos) << r.out;
}

TEST_F(ContainerLifecycle, TtyCtrlDEndsTheSession) {
  Result r = run_in_pty({hvrun_bin(), "--root", root(), "run", "--rm", "-it", "busybox", "sh"}, {{"# ", "\x04"}}, 30);
  EXPECT_FALSE(r.timed_out) << r.out;
  EXPECT_EQ(r.code, 0) << r.out;
}

}  // namespace
}  // namespace hvrun::test
