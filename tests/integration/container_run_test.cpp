// hvrun run --container: output, isolation, exit status, signals, limits,
// options, bad input. Drives the real binary against a fresh store.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <regex>
#include <sstream>

#include "tests/integration/harness.hpp"

namespace hvrun::test {
namespace {

class ContainerRun : public StoreFixture {
 protected:
  void SetUp() override {
    HVRUN_REQUIRE_ROOT();
    StoreFixture::SetUp();
  }
  Result runc(std::vector<std::string> args, const std::string& input = "") {
    args.insert(args.begin(), {"--container", "--rm"});
    return hv(args, input);
  }
};

int count_lines(const std::string& s) {
  int n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

TEST_F(ContainerRun, EchoHelloPrintsHelloAndExitsZero) {
  Result r = runc({"busybox", "echo", "hello"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "hello\n");
}

TEST_F(ContainerRun, TmpfsAndUlimitFlagsReachTheWorkloadAndBadOnesAreOneLine) {
  Result r = runc({"--read-only", "--tmpfs", "/run:size=1m,mode=755", "--tmpfs", "/scratch", "--ulimit",
                   "nofile=100:200", "busybox", "sh", "-c",
                   "grep -E ' /(run|scratch) ' /proc/mounts | cut -d' ' -f2-4; echo x > /run/f && echo written; "
                   "ulimit -n; ulimit -Hn"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out,
            "/run tmpfs rw,nosuid,nodev,noexec,relatime,size=1024k,mode=755\n"
            "/scratch tmpfs rw,nosuid,nodev,noexec,relatime\nwritten\n100\n200\n");
  Result bad = runc({"--tmpfs", "/t:uid=0", "busybox", "true"});
  EXPECT_EQ(bad.code, 125);
  EXPECT_EQ(count_lines(bad.err), 1) << bad.err;
  EXPECT_NE(bad.err.find("invalid --tmpfs \"/t:uid=0\": unknown option \"uid=0\""), std::string::npos) << bad.err;
  Result badu = runc({"--ulimit", "nofile=lots", "busybox", "true"});
  EXPECT_EQ(badu.code, 125);
  EXPECT_NE(badu.err.find("invalid --ulimit \"nofile=lots\""), std::string::npos) << badu.err;
}

TEST_F(ContainerRun, WorkloadUmaskIs022WhateverUmaskHvrunHad) {
  // As runc: the OCI default, not the caller's (here 077, and 0 in a
  // microVM's guest-init: the VM build test caught that).
  Result r = run({"sh", "-c", "umask 077; exec \"$0\" --root \"$1\" --container --rm --network none busybox sh -c 'umask; "
                  "echo x > /f; mkdir /d; stat -c %a /f /d'",
                  hvrun_bin(), root()});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "0022\n644\n755\n");
}

TEST_F(ContainerRun, ShorthandPassesCommandFlagsToTheCommand) {
  Result r = runc({"busybox", "ls", "-1", "/bin/busybox", "/bin/sh"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "/bin/busybox\n/bin/sh\n");
}

TEST_F(ContainerRun, WorkloadIsPid1WithOwnHostname) {
  Result r = runc({"busybox", "sh", "-c", "echo $$; hostname"});
  ASSERT_EQ(r.code, 0) << r.err;
  std::istringstream in(r.out);
  std::string pid, host;
  in >> pid >> host;
  EXPECT_EQ(pid, "1");
  char hn[256] = {};
  gethostname(hn, sizeof hn - 1);
  EXPECT_NE(host, hn);
  EXPECT_EQ(host.size(), 12u);  // default: the short id
  EXPECT_EQ(trim(runc({"--hostname", "box1", "busybox", "hostname"}).out), "box1");
}

TEST_F(ContainerRun, NoHostMountsAreVisible) {
  Result r = runc({"busybox", "cut", "-d", " ", "-f", "2", "/proc/mounts"});
  ASSERT_EQ(r.code, 0) << r.err;
  std::istringstream in(r.out);
  for (std::string mp; std::getline(in, mp);) {
    bool allowed = mp == "/" || mp.rfind("/proc", 0) == 0 || mp.rfind("/sys", 0) == 0 || mp.rfind("/dev", 0) == 0;
    EXPECT_TRUE(allowed) << "unexpected mount in the container: " << mp;
  }
  EXPECT_EQ(r.out.find(root()), std::string::npos);
}

TEST_F(ContainerRun, NetNoneSeesOnlyLoopback) {
  Result r = runc({"busybox", "sh", "-c", "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "lo\n");
}

TEST_F(ContainerRun, NetHostSharesTheHostInterfaces) {
  std::ifstream f("/proc/net/dev");
  std::string host((std::istreambuf_iterator<char>(f)), {});
  Result r = runc({"--net", "host", "busybox", "cat", "/proc/net/dev"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(count_lines(r.out), count_lines(host));
}

// --pid host, --ipc host (Docker's): the container is in hvrun's own pid
// and ipc namespaces (ps sees the host's processes; it is not PID 1), the
// rest stays its own; inspect says so; --userns private, --vm and a mode
// that does not exist are refused in one line.
TEST_F(ContainerRun, PidHostAndIpcHostShareTheHostsNamespacesAndAreRefusedWhereTheyCannotBe) {
  auto own = [](const char* ns) {
    char buf[64] = {};
    const std::string link = std::string("/proc/self/ns/") + ns;
    return ::readlink(link.c_str(), buf, sizeof buf - 1) > 0 ? std::string(buf) : "(unreadable)";
  };
  const std::string me = std::to_string(::getpid());
  Result r = runc({"--pid", "host", "--ipc", "host", "--net", "none", "busybox", "sh", "-c",
                   "for n in pid ipc mnt; do readlink /proc/self/ns/$n; done; [ $$ != 1 ] && echo not-pid-1; "
                   "[ -d /proc/" + me + " ] && echo sees-the-host"});
  ASSERT_EQ(r.code, 0) << r.err;
  std::istringstream lines(r.out);
  std::string pid, ipc, mnt, rest;
  std::getline(lines, pid);
  std::getline(lines, ipc);
  std::getline(lines, mnt);
  std::getline(lines, rest, '\0');
  EXPECT_EQ(pid, own("pid"));
  EXPECT_EQ(ipc, own("ipc"));
  EXPECT_NE(mnt, own("mnt")) << "the mount namespace is still its own";
  EXPECT_EQ(rest, "not-pid-1\nsees-the-host\n");
  // The default: its own (PID 1, a pid namespace of its own).
  EXPECT_EQ(runc({"--pid", "private", "--net", "none", "busybox", "sh", "-c", "echo $$"}).out, "1\n");
  ASSERT_EQ(hv({"create", "--name", "ph", "--pid", "host", "--net", "none", "busybox", "true"}).code, 0);
  EXPECT_EQ(hv({"inspect", "-f", "{{.HostConfig.PidMode}} {{.HostConfig.IpcMode}}", "ph"}).out, "host private\n");
  EXPECT_EQ(hv({"rm", "ph"}).code, 0);
  Result userns = runc({"--pid", "host", "--userns", "private", "busybox", "true"});
  EXPECT_NE(userns.code, 0);
  EXPECT_EQ(trim(userns.err), "hvrun: --pid host needs the host's user namespace: it cannot be combined with --userns private");
  Result bad = runc({"--ipc", "shared", "busybox", "true"});
  EXPECT_NE(bad.code, 0);
  EXPECT_EQ(trim(bad.err), "hvrun: --ipc shared: want private or host");
  Result vm = hv({"create", "--vm", "--ipc", "host", "busybox", "true"});
  EXPECT_NE(vm.code, 0);
  EXPECT_NE(vm.err.find("--ipc host is not supported with --vm: the guest has its own kernel"), std::string::npos) << vm.err;
  EXPECT_EQ(count_lines(vm.err), 1) << vm.err;
  EXPECT_EQ(hv({"ps", "-aq"}).out, "") << "a refused create left a container";
}

TEST_F(ContainerRun, ExitCodePropagates) {
  EXPECT_EQ(runc({"busybox", "sh", "-c", "exit 3"}).code, 3);
  EXPECT_EQ(runc({"busybox", "false"}).code, 1);
}

TEST_F(ContainerRun, ChildKilledBySigtermGives143) {
  // PID 1 ignores its own signals (kernel rule for namespace init), so the
  // signal death is a child's; the shell reports it as 128+15.
  EXPECT_EQ(runc({"busybox", "sh", "-c", "sh -c 'kill -TERM $$'; exit $?"}).code, 143);
}

TEST_F(ContainerRun, InitKilledByHvrunKillGives137) {
  Result d = hv({"run", "-d", "--name", "victim", "busybox", "sleep", "30"});
  ASSERT_EQ(d.code, 0) << d.err;
  Result k = hv({"kill", "victim"});
  EXPECT_EQ(k.code, 0) << k.err;
  Result logs = hv({"logs", "-f", "victim"});  // returns once it has exited
  EXPECT_EQ(logs.code, 0);
  Result i = hv({"inspect", "victim"});
  EXPECT_NE(i.out.find("\"ExitCode\": 137"), std::string::npos) << i.out;
}

TEST_F(ContainerRun, InitReapsOrphansForwardsSignalsAndExitsAsItsWorkload) {
  // An orphan is reparented to PID 1. `exec sleep` as PID 1 never waits for
  // it (it stays a zombie); --init's PID 1 reaps it.
  const std::string orphan = "sh -c 'sleep 0.1 &'; exec sleep 300";
  ASSERT_EQ(hv({"run", "-d", "--name", "plain", "busybox", "sh", "-c", orphan}).code, 0);
  ASSERT_EQ(hv({"run", "-d", "--init", "--name", "inited", "busybox", "sh", "-c", orphan}).code, 0);
  std::string plain_ps;
  // (STAT may carry more letters: "ZN" under nice.)
  for (int i = 0; i < 100 && plain_ps.find(" Z") == std::string::npos; ++i) {
    usleep(100000);
    plain_ps = hv({"exec", "plain", "ps", "-o", "pid,stat,comm"}).out;
  }
  EXPECT_NE(plain_ps.find(" Z"), std::string::npos) << "no zombie without --init:\n" << plain_ps;
  Result ps = hv({"exec", "inited", "ps", "-o", "pid,stat,comm"});
  ASSERT_EQ(ps.code, 0) << ps.err;
  EXPECT_EQ(ps.out.find(" Z"), std::string::npos) << ps.out;
  EXPECT_TRUE(std::regex_search(ps.out, std::regex("\n    1 S[A-Za-z<+]* +init\n"))) << ps.out;
  // PID 1 shows nothing of the host: an empty command line, no environment
  // to read (not dumpable), and no fd but stdio.
  Result proc = hv({"exec", "inited", "sh", "-c",
                    "tr -d '\\0' < /proc/1/cmdline | wc -c; cat /proc/1/environ >/dev/null 2>&1 || echo no-environ; "
                    "ls /proc/1/fd | wc -l"});
  EXPECT_EQ(proc.out, "0\nno-environ\n3\n") << proc.err;
  // SIGTERM reaches the workload (sleep as PID 1 would ignore it).
  ASSERT_EQ(hv({"kill", "-s", "TERM", "inited"}).code, 0);
  Result w = hv({"wait", "inited"}, "", 20);
  EXPECT_EQ(w.out, "143\n") << w.err;
  EXPECT_EQ(hv({"rm", "-f", "plain", "inited"}).code, 0);
  // Exit status: the workload's code, or 128 + its signal; exec failures as without --init.
  EXPECT_EQ(runc({"--init", "busybox", "sh", "-c", "exit 3"}).code, 3);
  EXPECT_EQ(runc({"--init", "busybox", "sh", "-c", "kill -9 $$"}).code, 137);
  Result nf = runc({"--init", "busybox", "/no/such/cmd"});
  EXPECT_EQ(nf.code, 127);
  EXPECT_NE(nf.err.find("/no/such/cmd"), std::string::npos) << nf.err;
}

TEST_F(ContainerRun, AddHostAndDnsFlagsWriteHostsAndResolvConfWithoutANetwork) {
  Result none = runc({"--net", "none", "--add-host", "db:192.0.2.9", "--dns", "192.0.2.53", "--dns-search", ".",
                      "busybox", "sh", "-c", "tail -n 1 /etc/hosts; cat /etc/resolv.conf"});
  EXPECT_EQ(none.out, "192.0.2.9\tdb\nnameserver 192.0.2.53\n") << none.err;
  // Without any of them the image's own files stay (busybox has no resolv.conf).
  Result plain = runc({"--net", "none", "busybox", "sh", "-c", "ls /etc/resolv.conf 2>&1"});
  EXPECT_NE(plain.out.find("No such file"), std::string::npos) << plain.out;
}

TEST_F(ContainerRun, UsernsPrivateMakesRootHostUid100000WhileFilesVolumesExecAndCommitWork) {
  // Its root is uid 0 inside and host uid 100000 outside; the image's files are its own.
  Result r = runc({"--userns", "private", "-v", "uvol:/data", "busybox", "sh", "-c",
                   "id -u; tr -s ' ' < /proc/self/uid_map; stat -c %u /bin/busybox; echo new > /etc/made && cat /etc/made; "
                   "echo kept > /data/f; stat -c %u /data"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "0\n 0 100000 65536\n0\nnew\n0\n");
  struct stat st{};
  ASSERT_EQ(::stat((root() + "/volumes/uvol/_data/f").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 100000u) << "a file the container's root made belongs to the mapped uid on the host";
  // Detached: the host sees uid 100000; exec joins as root of that namespace; commit maps the owners back.
  ASSERT_EQ(hv({"run", "-d", "--name", "u", "--userns", "private", "busybox", "sh", "-c", "touch /mine; sleep 600"}).code, 0);
  const std::string pid = trim(hv({"inspect", "-f", "{{.State.Pid}}", "u"}).out);
  std::string status;
  for (int i = 0; i < 50 && status.find("Uid:\t100000") == std::string::npos; ++i) {
    status = run({"cat", "/proc/" + pid + "/status"}).out;
    ::usleep(20000);
  }
  EXPECT_NE(status.find("Uid:\t100000\t100000"), std::string::npos) << status;
  EXPECT_EQ(hv({"exec", "u", "sh", "-c", "id -u; stat -c %u /mine"}).out, "0\n0\n");
  EXPECT_EQ(hv({"inspect", "-f", "{{.HostConfig.UsernsMode}}", "u"}).out, "private\n");
  // cp out gives the owners it sees (as docker cp does), running and stopped.
  EXPECT_EQ(run({"sh", "-c", hvrun_bin() + " --root " + root() + " cp u:/mine - | tar --numeric-owner -tv"}).out.substr(0, 14),
            "-rw-r--r-- 0/0") << "running";
  ASSERT_EQ(hv({"commit", "u", "userns:1"}).code, 0);
  ASSERT_EQ(hv({"stop", "-t", "1", "u"}).code, 0);
  EXPECT_EQ(run({"sh", "-c", hvrun_bin() + " --root " + root() + " export u | tar --numeric-owner -tv | grep 'mine$'"})
                .out.substr(0, 14),
            "-rw-r--r-- 0/0")
      << "stopped, exported";
  EXPECT_EQ(runc({"busybox", "true"}).code, 0);
  EXPECT_EQ(runc({"userns:1", "stat", "-c", "%u", "/mine"}).out, "0\n") << "the image holds root's file, not uid 100000's";
  EXPECT_EQ(hv({"rm", "-f", "u"}).code, 0);
  // Refused: a mode that does not exist, and privileged (it needs the host's namespace).
  Result bad = runc({"--userns", "remap", "busybox", "true"});
  EXPECT_EQ(bad.code, 125);
  EXPECT_NE(bad.err.find("--userns remap: want host or private"), std::string::npos) << bad.err;
  Result priv = runc({"--userns", "private", "--privileged", "busybox", "true"});
  EXPECT_EQ(priv.code, 125);
  EXPECT_NE(priv.err.find("cannot be combined with --userns private"), std::string::npos) << priv.err;
  EXPECT_EQ(hv({"ps", "-aq"}).out, "");
}

TEST_F(ContainerRun, ExecFailuresExit127And126) {
  Result nf = runc({"busybox", "/no/such/cmd"});
  EXPECT_EQ(nf.code, 127);
  EXPECT_EQ(count_lines(nf.err), 1) << nf.err;
  Result nx = runc({"busybox", "/etc/passwd"});
  EXPECT_EQ(nx.code, 126);
}

TEST_F(ContainerRun, SigtermToHvrunReachesTheContainer) {
  int out[2];
  ASSERT_EQ(pipe2(out, O_CLOEXEC), 0);
  pid_t pid = fork();
  if (pid == 0) {
    dup2(out[1], 1);
    execl(hvrun_bin().c_str(), "hvrun", "--root", root().c_str(), "--container", "--rm", "busybox", "sh", "-c",
          "trap 'echo got-term; exit 42' TERM; echo ready; while :; do sleep 0.05; done", nullptr);
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
  ASSERT_NE(got.find("ready"), std::string::npos);
  kill(pid, SIGTERM);
  for (ssize_t n; (n = read(out[0], buf, sizeof buf)) > 0;) got.append(buf, static_cast<size_t>(n));
  close(out[0]);
  int st = 0;
  waitpid(pid, &st, 0);
  EXPECT_NE(got.find("got-term"), std::string::npos) << got;
  ASSERT_TRUE(WIFEXITED(st));
  EXPECT_EQ(WEXITSTATUS(st), 42);
}

TEST_F(ContainerRun, ClosedOutputPipeEndsTheWorkload) {
  Result r = run({"sh", "-c", hvrun_bin() + " --root " + root() + " --container --rm busybox yes | head -2"}, "", 20);
  EXPECT_FALSE(r.timed_out);
  EXPECT_EQ(r.out, "y\ny\n");
  for (int i = 0; i < 100 && !hv({"ps", "-aq"}).out.empty(); ++i) usleep(20000);
  EXPECT_EQ(hv({"ps", "-aq"}).out, "");  // --rm still ran
}

TEST_F(ContainerRun, OomKillExits137AndInspectShowsOOMKilled) {
  Result r = hv({"run", "--name", "hog", "--memory", "32m", "busybox", "sh", "-c",
                 "x=$(head -c 200m /dev/zero | tr '\\0' a); echo survived"});
  EXPECT_EQ(r.code, 137) << r.out << r.err;
  EXPECT_EQ(r.out.find("survived"), std::string::npos);
  Result i = hv({"inspect", "hog"});
  ASSERT_EQ(i.code, 0) << i.err;
  EXPECT_NE(i.out.find("\"OOMKilled\": true"), std::string::npos) << i.out;
}

TEST_F(ContainerRun, PidsLimitStopsForks) {
  Result r = runc({"--pids-limit", "5", "busybox", "sh", "-c", "for i in $(seq 1 20); do sleep 2 & done; echo spawned"});
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("fork"), std::string::npos) << r.err;
  EXPECT_EQ(runc({"--pids-limit", "50", "busybox", "sh", "-c", "for i in $(seq 1 20); do true & done; wait"}).code, 0);
}

TEST_F(ContainerRun, EnvWorkdirUserApply) {
  setenv("HVRUN_TEST_FROM_CALLER", "passed", 1);
  std::string envfile = root() + "/envfile";
  std::ofstream(envfile) << "# c\nFROM_FILE=yes\n";
  Result r = runc({"-e", "A=1", "-e", "HVRUN_TEST_FROM_CALLER", "--env-file", envfile, "-w", "/tmp", "-u", "nobody",
                   "busybox", "sh", "-c", "echo $A $HVRUN_TEST_FROM_CALLER $FROM_FILE; pwd; id -u"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "1 passed yes\n/tmp\n65534\n");
}

TEST_F(ContainerRun, VolumesReadOnlyAndReadWrite) {
  TempDir host;
  std::ofstream(host.path() + "/in.txt") << "from-host\n";
  Result rw = runc({"-v", host.path() + ":/data", "busybox", "sh", "-c", "cat /data/in.txt; echo new > /data/out.txt"});
  EXPECT_EQ(rw.code, 0) << rw.err;
  EXPECT_EQ(rw.out, "from-host\n");
  std::ifstream f(host.path() + "/out.txt");
  std::string line;
  std::getline(f, line);
  EXPECT_EQ(line, "new");
  Result ro = runc({"-v", host.path() + ":/data:ro", "busybox", "sh", "-c", "echo x > /data/ro.txt"});
  EXPECT_NE(ro.code, 0);
  EXPECT_FALSE(std::ifstream(host.path() + "/ro.txt").good());
}

TEST_F(ContainerRun, ReadOnlyRootfsRefusesWrites) {
  EXPECT_NE(runc({"--read-only", "busybox", "touch", "/x"}).code, 0);
  EXPECT_EQ(runc({"busybox", "touch", "/x"}).code, 0);
}

TEST_F(ContainerRun, BadInputGivesOneLineErrorAndNonZeroExit) {
  struct Case {
    std::vector<std::string> args;
    int code;
    std::string needle;
  };
  std::vector<Case> cases = {
      {{"--container", "nosuchimage", "true"}, 125, "nosuchimage"},
      {{"run", "--memory", "abc", "busybox", "true"}, 125, "--memory"},
      {{"run", "--cpus", "-1", "busybox", "true"}, 125, "--cpus"},
      {{"run", "--pids-limit", "many", "busybox", "true"}, 125, "--pids-limit"},
      {{"run", "-v", "/no/such/host/path:/x", "busybox", "true"}, 125, "/no/such/host/path"},
      {{"run", "--net", "bad/name", "busybox", "true"}, 125, "--net"},
      {{"run", "--bogus-flag", "busybox", "true"}, 125, "--bogus-flag"},
      {{"logs", "nosuchcontainer"}, 125, "nosuchcontainer"},
      {{"stop", "nosuchcontainer"}, 125, "nosuchcontainer"},
      {{"rm", "nosuchcontainer"}, 125, "nosuchcontainer"},
      {{"exec", "nosuchcontainer", "true"}, 125, "nosuchcontainer"},
      {{"run", "--add-host", "db", "busybox", "true"}, 125, "invalid --add-host \"db\": expected NAME:IP"},
      {{"run", "--add-host", "db:300.1.1.1", "busybox", "true"}, 125, "\"300.1.1.1\" is not an IP address"},
      {{"run", "--net", "none", "--add-host", "gw:host-gateway", "busybox", "true"}, 125, "host-gateway needs a bridge"},
      {{"run", "--dns", "resolver", "busybox", "true"}, 125, "invalid --dns \"resolver\""},
      {{"run", "--dns-option", "two words", "busybox", "true"}, 125, "invalid --dns-option"},
      {{"run", "--stop-signal", "SIGNOPE", "busybox", "true"}, 125, "--stop-signal: invalid signal \"SIGNOPE\""},
      {{"run", "--stop-timeout", "-5", "busybox", "true"}, 125, "--stop-timeout -5"},
      {{"run", "--restart", "sometimes", "busybox", "true"}, 125, "invalid --restart \"sometimes\""},
      {{"run", "--restart", "always:3", "busybox", "true"}, 125, "only on-failure takes a retry count"},
      {{"run", "--restart", "on-failure:x", "busybox", "true"}, 125, "the retry count must be a number"},
      {{"run", "--rm", "--restart", "always", "busybox", "true"}, 125, "conflicting options: --restart always and --rm"},
  };
  for (const auto& c : cases) {
    Result r = hv(c.args);
    std::string what;
    for (auto& a : c.args) what += a + " ";
    EXPECT_EQ(r.code, c.code) << what << r.err;
    EXPECT_NE(r.err.find(c.needle), std::string::npos) << what << r.err;
    EXPECT_LE(count_lines(r.err), 2) << what << r.err;  // the error (+ a "See --help" hint for flag errors)
  }
  Result ps = hv({"ps", "-aq"});
  EXPECT_EQ(ps.out, "");  // none of them left a record
}

TEST(ContainerStore, AStoreOnOverlayfsIsRefusedInOneLineNamingTheWayOutAndCheckSaysSo) {
  HVRUN_REQUIRE_ROOT();
  // The store lives on an overlay mount (as inside the nested test host, or
  // hvrun run inside a Docker container), made in a private mount namespace.
  TempDir d;
  Result r = run({"unshare", "-m", "--propagation", "private", "sh", "-c", R"SH(
set -e
d=$1; hv=$2; rootfs=$3
mkdir "$d/l" "$d/u" "$d/w" "$d/m"
mount -t overlay overlay -o "lowerdir=$d/l,upperdir=$d/u,workdir=$d/w" "$d/m"
"$hv" --root "$d/m/store" image import "$rootfs" --name busybox:latest >/dev/null
set +e
"$hv" --root "$d/m/store" --container --rm busybox echo ran 2>"$d/err"; echo "rc=$?"
cat "$d/err" >&2
echo "ps=$("$hv" --root "$d/m/store" ps -aq | wc -l)"
"$hv" --root "$d/m/store" check --json > "$d/check.json"; echo "check_rc=$?"
grep -A1 '"holds_container_layers"' "$d/check.json" | head -1)SH",
                  "sh", d.path(), hvrun_bin(), busybox_rootfs()},
                 "", 120);
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("rc=125\n"), std::string::npos) << r.out << r.err;
  EXPECT_EQ(r.out.find("ran"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("is on overlayfs, which cannot hold a container's writable layer"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("put the store (--root) on ext4, xfs, btrfs or tmpfs"), std::string::npos) << r.err;
  EXPECT_EQ(count_lines(r.err), 1) << r.err;
  EXPECT_NE(r.out.find("ps=0\n"), std::string::npos) << "a refused run leaves no record: " << r.out;
  EXPECT_NE(r.out.find("check_rc=0\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"holds_container_layers\": false"), std::string::npos) << r.out;
}

TEST(ContainerStore, CheckSaysAStoreOnAnOrdinaryFileSystemHoldsContainerLayers) {
  TempDir d;
  Result r = run({hvrun_bin(), "--root", d.path() + "/not/yet/made", "check", "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("\"holds_container_layers\": true"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace hvrun::test
