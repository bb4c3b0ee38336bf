// hvrun serve driven by the real clients: Debian's docker CLI (docker.io,
// its client only; no dockerd runs) and docker-py (python3-docker), over
// the test's own socket and store. What they print is compared with what
// hvrun's own CLI prints for the same containers.
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include "harness.hpp"
#include "test_registry.hpp"

namespace hvrun::test {
namespace {

constexpr const char* kDocker = "/usr/bin/docker";
constexpr const char* kPython = "/usr/bin/python3";

class ServeDocker : public StoreFixture {
 protected:
  void SetUp() override {
    if (!is_root()) GTEST_SKIP() << "needs root (CI runs as root)";
    if (::access(kDocker, X_OK) != 0) GTEST_SKIP() << kDocker << " is missing (scripts/setup.sh installs docker.io)";
    StoreFixture::SetUp();
    sock_ = root() + "/api.sock";
    start_server();
  }
  void TearDown() override {
    stop_server();
    StoreFixture::TearDown();
  }
  void start_server(const std::vector<std::string>& extra = {}) {
    server_ = ::fork();
    ASSERT_GE(server_, 0);
    if (server_ == 0) {
      ::setpgid(0, 0);
      const std::string bin = hvrun_bin(), host = "unix://" + sock_, r = root(), log = r + "/serve.log";
      int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (fd >= 0) {
        ::dup2(fd, 1);
        ::dup2(fd, 2);
      }
      std::vector<std::string> args{bin, "--root", r, "serve", "--host", host};
      args.insert(args.end(), extra.begin(), extra.end());
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(bin.c_str(), argv.data());
      ::_exit(127);
    }
    for (int i = 0; i < 200; ++i) {
      if (ping()) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    FAIL() << "hvrun serve did not answer on " << sock_;
  }
  void stop_server(int sig = SIGTERM) {
    if (server_ <= 0) return;
    ::kill(server_, sig);
    int st = 0;
    ::waitpid(server_, &st, 0);
    server_ = 0;
  }
  bool ping() const { return run({"curl", "-sf", "--unix-socket", sock_, "http://d/_ping"}, "", 5).out == "OK"; }
  std::map<std::string, std::string> env() const {
    return {{"DOCKER_HOST", "unix://" + sock_}, {"DOCKER_CONFIG", root() + "/docker-config"}};
  }
  Result docker(const std::vector<std::string>& args, int timeout_s = 60) const {
    std::vector<std::string> argv{kDocker};
    argv.insert(argv.end(), args.begin(), args.end());
    return run(argv, "", timeout_s, env());
  }
  // curl -X METHOD on the API: "STATUS BODY" (a body "@FILE" is read from FILE).
  std::string api(const std::string& method, const std::string& path, const std::string& body = "") const {
    std::vector<std::string> argv{"curl", "-s", "-o", "/dev/stdout", "-w", " %{http_code}", "--unix-socket", sock_,
                                  "-X", method, "http://d" + path};
    if (!body.empty()) argv.insert(argv.end(), {"-H", "Content-Type: application/json", "--data-binary", body});
    Result r = run(argv, "", 30);
    const size_t sp = r.out.rfind(' ');
    return sp == std::string::npos ? r.out : r.out.substr(sp + 1) + " " + r.out.substr(0, sp);
  }
  // Raw bytes to the socket; what comes back before the server closes.
  std::string raw(const std::string& bytes) const {
    int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::snprintf(sa.sun_path, sizeof sa.sun_path, "%s", sock_.c_str());
    if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) < 0) {
      ::close(fd);
      return "connect failed";
    }
    (void)!::write(fd, bytes.data(), bytes.size());
    ::shutdown(fd, SHUT_WR);
    timeval tv{10, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    std::string out;
    char buf[4096];
    for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) out.append(buf, static_cast<size_t>(n));
    ::close(fd);
    return out;
  }
  std::string sock_;
  pid_t server_ = 0;
};

std::string slurp(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

TEST_F(ServeDocker, DockerCpAndHvrunCpCopyBothWaysInsideTheContainersRootOnly) {
  const std::string host = root() + "/cp";
  ASSERT_EQ(::mkdir(host.c_str(), 0755), 0);
  ASSERT_EQ(::mkdir((host + "/src").c_str(), 0755), 0);
  ASSERT_EQ(::mkdir((host + "/src/sub").c_str(), 0755), 0);
  std::ofstream(host + "/src/a.txt") << "hello\n";
  std::ofstream(host + "/src/sub/b") << "deep\n";
  ASSERT_EQ(docker({"run", "-d", "--name", "cpc", "busybox", "sleep", "300"}).code, 0);
  // In: a file into a directory, a directory under a new name, a file as a new name.
  Result in = docker({"cp", host + "/src/a.txt", "cpc:/tmp/"});
  ASSERT_EQ(in.code, 0) << in.err;
  EXPECT_EQ(docker({"exec", "cpc", "cat", "/tmp/a.txt"}).out, "hello\n");
  ASSERT_EQ(docker({"cp", host + "/src", "cpc:/tmp/newdir"}).code, 0);
  EXPECT_EQ(docker({"exec", "cpc", "sh", "-c", "cat /tmp/newdir/sub/b; stat -c %u:%g /tmp/newdir/a.txt"}).out,
            "deep\n0:0\n");
  ASSERT_EQ(docker({"cp", host + "/src/a.txt", "cpc:/tmp/renamed.txt"}).code, 0);
  EXPECT_EQ(docker({"exec", "cpc", "cat", "/tmp/renamed.txt"}).out, "hello\n");
  // A file never replaces a directory (the CLI's noOverwriteDirNonDir).
  ASSERT_EQ(::mkdir((host + "/x").c_str(), 0755), 0);
  std::ofstream(host + "/x/newdir") << "a file\n";
  Result swap = docker({"cp", host + "/x/newdir", "cpc:/tmp/"});
  EXPECT_NE(swap.code, 0);
  EXPECT_NE(swap.err.find("refusing to replace the directory"), std::string::npos) << swap.err;
  EXPECT_EQ(docker({"exec", "cpc", "cat", "/tmp/newdir/sub/b"}).out, "deep\n");
  // Out: a file and a directory; hvrun's own cp gives the same bytes.
  ASSERT_EQ(docker({"cp", "cpc:/etc/passwd", host + "/pw-docker"}).code, 0);
  ASSERT_EQ(hv({"cp", "cpc:/etc/passwd", host + "/pw-hvrun"}).code, 0);
  EXPECT_EQ(slurp(host + "/pw-docker"), docker({"exec", "cpc", "cat", "/etc/passwd"}).out);
  EXPECT_EQ(slurp(host + "/pw-hvrun"), slurp(host + "/pw-docker"));
  ASSERT_EQ(docker({"cp", "cpc:/tmp/newdir", host + "/out"}).code, 0);
  EXPECT_EQ(slurp(host + "/out/sub/b"), "deep\n");
  // Missing paths: the CLI's own errors, non-zero.
  Result missing = docker({"cp", "cpc:/nope", host + "/x"});
  EXPECT_NE(missing.code, 0);
  EXPECT_NE(missing.err.find("No such container:path: cpc:/nope"), std::string::npos) << missing.err;
  Result notdir = docker({"cp", host + "/src/a.txt", "cpc:/etc/passwd/x"});
  EXPECT_NE(notdir.code, 0);
  EXPECT_NE(notdir.err.find("not a directory"), std::string::npos) << notdir.err;
  // Symlinks the container planted lead nowhere outside it: a write
  // "through" /tmp/esc -> / lands in the container's /, and a read of a
  // link to /etc/shadow gives the link, never the host's file.
  ASSERT_EQ(docker({"exec", "cpc", "sh", "-c", "ln -s / /tmp/esc; ln -s /etc/shadow /tmp/shadow"}).code, 0);
  const std::string marker = "hvrun-cp-escape-" + std::to_string(::getpid());
  ASSERT_EQ(docker({"cp", host + "/src/a.txt", "cpc:/tmp/esc/" + marker}).code, 0);
  EXPECT_NE(::access(("/" + marker).c_str(), F_OK), 0) << "written on the host's /";
  EXPECT_EQ(docker({"exec", "cpc", "cat", "/" + marker}).out, "hello\n");
  ASSERT_EQ(docker({"cp", "cpc:/tmp/shadow", host + "/shadow"}).code, 0);
  struct stat st {};
  ASSERT_EQ(::lstat((host + "/shadow").c_str(), &st), 0);
  EXPECT_TRUE(S_ISLNK(st.st_mode));
  // hvrun cp in, and both ways on a stopped container (through its overlay),
  // a file larger than a pipe's buffer included.
  ASSERT_EQ(hv({"cp", host + "/src/sub/b", "cpc:/tmp/b-by-hvrun"}).code, 0);
  const std::string big(3 << 20, 'z');
  std::ofstream(host + "/big") << big;
  EXPECT_EQ(docker({"exec", "cpc", "cat", "/tmp/b-by-hvrun"}).out, "deep\n");
  ASSERT_EQ(docker({"stop", "-t", "1", "cpc"}).code, 0);
  ASSERT_EQ(docker({"cp", host + "/src/a.txt", "cpc:/tmp/after-stop"}).code, 0);
  Result back = hv({"cp", "cpc:/tmp/after-stop", host + "/after-stop"});
  ASSERT_EQ(back.code, 0) << back.err;
  EXPECT_EQ(slurp(host + "/after-stop"), "hello\n");
  ASSERT_EQ(hv({"cp", host + "/big", "cpc:/tmp/big"}, "", 60).code, 0);
  ASSERT_EQ(hv({"cp", "cpc:/tmp/big", host + "/big-back"}, "", 60).code, 0);
  EXPECT_TRUE(slurp(host + "/big-back") == big) << "the big file did not come back whole";
  Result tar = docker({"cp", "cpc:/tmp/renamed.txt", "-"});
  EXPECT_EQ(tar.code, 0);
  EXPECT_NE(tar.out.find("renamed.txt"), std::string::npos);
}

TEST_F(ServeDocker, LabelsTopStatsRenameRestartEventsAndDfAgreeWithHvrunsCli) {
  // docker events, from before the first container, filtered as a client would.
  Result events;
  std::thread follower([&] {
    events = docker({"events", "--filter", "event=start", "--filter", "event=die", "--filter", "event=destroy",
                     "--format", "{{.Action}} {{.Actor.Attributes.name}} {{.Actor.Attributes.exitCode}}"},
                    15);  // (what follows takes about 5 s here)
  });
  struct Join {
    std::thread& t;
    ~Join() {
      if (t.joinable()) t.join();
    }
  } join{follower};
  std::this_thread::sleep_for(std::chrono::milliseconds(700));
  // (its ports: Network.PublishedPort..., where a network can be made)
  ASSERT_EQ(docker({"run", "-d", "--name", "live", "-l", "role=web", "busybox", "sh", "-c",
                    "echo up $(cat /count 2>/dev/null); echo x >> /count; exec sleep 600"}).code, 0);
  // top: the same processes as hvrun top (PID column).
  Result top = docker({"top", "live"});
  ASSERT_EQ(top.code, 0) << top.err;
  Result htop = hv({"top", "live"});
  ASSERT_EQ(htop.code, 0) << htop.err;
  auto pids = [](const std::string& table) {
    std::vector<std::string> out;
    std::istringstream in(table);
    std::string line;
    std::getline(in, line);  // titles
    while (std::getline(in, line)) {
      std::istringstream f(line);
      std::string uid, pid;
      f >> uid >> pid;
      out.push_back(pid);
    }
    return out;
  };
  EXPECT_EQ(pids(top.out), pids(htop.out)) << top.out << htop.out;
  EXPECT_NE(top.out.find("sleep 600"), std::string::npos) << top.out;
  // labels: kept, and filtered on by both.
  ASSERT_EQ(hv({"create", "--name", "other", "-l", "role=db", "busybox", "true"}).code, 0);
  EXPECT_EQ(docker({"ps", "-a", "--filter", "label=role=web", "--format", "{{.Names}} {{.Labels}}"}).out, "live role=web\n");
  EXPECT_EQ(hv({"ps", "-a", "--filter", "label=role=db", "--format", "{{.Names}} {{.Labels}}"}).out, "other role=db\n");
  EXPECT_EQ(docker({"ps", "-a", "--filter", "label=role", "--format", "{{.Names}}"}).out, "other\nlive\n");
  ASSERT_EQ(docker({"rm", "other"}).code, 0);
  // stats: one process, memory in use.
  Result stats = docker({"stats", "--no-stream", "--format", "{{.Name}} {{.PIDs}}", "live"});
  EXPECT_EQ(stats.out, "live 1\n") << stats.err;
  Result hstats = hv({"stats", "--no-stream", "--format", "{{.Name}} {{.PIDs}} {{.Mode}}", "live"});
  EXPECT_EQ(hstats.out, "live 1 container\n") << hstats.err;
  // The default table: Docker's columns, network I/O from the container's own namespace.
  // (Columns as wide as their values, which move: runs of spaces read as one.)
  const std::string header = "CONTAINER ID  NAME  CPU %  MEM USAGE / LIMIT  MEM %  NET I/O  BLOCK I/O  PIDS";
  auto first_line = [](const std::string& s) { return std::regex_replace(s.substr(0, s.find('\n')), std::regex("  +"), "  "); };
  Result dtable = docker({"stats", "--no-stream", "live"}), htable = hv({"stats", "--no-stream", "live"});
  EXPECT_EQ(first_line(dtable.out), header) << dtable.out;
  EXPECT_EQ(first_line(htable.out), header) << htable.out;
  const std::string io = hv({"stats", "--no-stream", "--format", "{{.NetIO}}|{{.BlockIO}}", "live"}).out;
  EXPECT_TRUE(std::regex_match(io, std::regex("[0-9.]+[kMG]?B / [0-9.]+[kMG]?B\\|([0-9.]+[kMG]?B / [0-9.]+[kMG]?B|--)\n"))) << io;
  // rename: seen by both; the old name is gone.
  ASSERT_EQ(docker({"rename", "live", "renamed"}).code, 0);
  EXPECT_EQ(trim(hv({"ps", "--format", "{{.Names}}"}).out), "renamed");
  EXPECT_NE(docker({"inspect", "live"}).code, 0);
  // restart: it goes on from its own files.
  ASSERT_EQ(docker({"restart", "-t", "1", "renamed"}).code, 0);
  std::string logs;
  for (int i = 0; i < 100 && (logs = docker({"logs", "renamed"}).out) != "up\nup x\n"; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(logs, "up\nup x\n");
  // system df counts the image and the container.
  Result df = docker({"system", "df", "--format", "{{.Type}} {{.TotalCount}}"});
  EXPECT_NE(df.out.find("Images 1\nContainers 1\n"), std::string::npos) << df.out << df.err;
  ASSERT_EQ(docker({"run", "--rm", "--name", "brief", "busybox", "sh", "-c", "exit 4"}).code, 4);
  ASSERT_EQ(docker({"rm", "-f", "renamed"}).code, 0);
  follower.join();
  // Every event, in order, even for a container whose whole life was shorter
  // than any poll.
  EXPECT_EQ(events.out,
            "start live <no value>\n"
            "destroy other <no value>\n"
            "die renamed 137\n"  // (restart's stop: SIGTERM to a shell as PID 1 is ignored, then SIGKILL)
            "start renamed <no value>\n"
            "start brief <no value>\n"
            "die brief 4\n"
            "destroy brief <no value>\n"
            "die renamed 137\n"
            "destroy renamed <no value>\n")
      << events.err;
}

TEST_F(ServeDocker, NetworksAreMadeListedInspectedConnectedAndRemovedAsHvrunSeesThem) {
  Result made = docker({"network", "create", "--subnet", "10.99.7.0/24", "tnet"});
  ASSERT_EQ(made.code, 0) << made.err;
  EXPECT_EQ(made.out, "tnet\n");
  EXPECT_NE(hv({"network", "ls"}).out.find("10.99.7.0/24"), std::string::npos);
  EXPECT_EQ(docker({"network", "inspect", "-f", "{{.Name}} {{range .IPAM.Config}}{{.Subnet}} {{.Gateway}}{{end}}", "tnet"}).out,
            "tnet 10.99.7.0/24 10.99.7.1\n");
  EXPECT_NE(docker({"network", "ls", "--format", "{{.Name}}"}).out.find("tnet\n"), std::string::npos);
  Result taken = docker({"network", "create", "tnet"});
  EXPECT_NE(taken.code, 0);
  Result nobody = docker({"network", "connect", "tnet", "x"});
  EXPECT_NE(nobody.code, 0);
  EXPECT_NE(nobody.err.find("No such container: x"), std::string::npos) << nobody.err;
  // A container on the default network gains eth1 on tnet, and loses it.
  ASSERT_EQ(docker({"run", "-d", "--name", "x", "--network", "bridge", "busybox", "sleep", "120"}).code, 0);
  Result connect = docker({"network", "connect", "--alias", "xa", "tnet", "x"});
  ASSERT_EQ(connect.code, 0) << connect.err;
  const std::string addrs = "{{.NetworkSettings.Networks.hvrun.IPAddress}} {{.NetworkSettings.Networks.tnet.IPAddress}}";
  EXPECT_EQ(docker({"inspect", "-f", addrs, "x"}).out, hv({"inspect", "-f", addrs, "x"}).out);
  EXPECT_TRUE(std::regex_match(hv({"inspect", "-f", addrs, "x"}).out, std::regex("10\\.[0-9]+\\.0\\.2 10\\.99\\.7\\.2\n")));
  EXPECT_NE(docker({"inspect", "-f", "{{.NetworkSettings.Networks.tnet.IPAddress}} {{.NetworkSettings.Networks.tnet.Aliases}}", "x"}).out
                .find("10.99.7.2 [xa]"),
            std::string::npos);
  EXPECT_NE(docker({"exec", "x", "ip", "-o", "-4", "addr", "show", "eth1"}).out.find("inet 10.99.7.2/24"), std::string::npos);
  EXPECT_NE(docker({"network", "inspect", "-f", "{{range .Containers}}{{.Name}}{{end}}", "tnet"}).out.find("x"), std::string::npos);
  Result twice = docker({"network", "connect", "tnet", "x"});
  EXPECT_NE(twice.err.find("already connected to network tnet"), std::string::npos) << twice.err;
  Result inuse = docker({"network", "rm", "tnet"});
  EXPECT_NE(inuse.err.find("is in use by container x"), std::string::npos) << inuse.err;
  Result disconnect = docker({"network", "disconnect", "tnet", "x"});
  ASSERT_EQ(disconnect.code, 0) << disconnect.err;
  EXPECT_NE(docker({"exec", "x", "ip", "-o", "link"}).out.find("eth0"), std::string::npos);
  EXPECT_EQ(docker({"exec", "x", "ip", "-o", "link"}).out.find("eth1"), std::string::npos);
  ASSERT_EQ(docker({"rm", "-f", "x"}).code, 0);
  Result overlay = docker({"network", "create", "--driver", "overlay", "o2"});
  EXPECT_NE(overlay.err.find("invalid driver \"overlay\""), std::string::npos) << overlay.err;
  ASSERT_EQ(docker({"network", "rm", "tnet"}).code, 0);
  EXPECT_EQ(hv({"network", "ls"}).out.find("tnet"), std::string::npos);
  Result gone = docker({"network", "inspect", "tnet"});
  EXPECT_NE(gone.code, 0);
}

TEST_F(ServeDocker, DockerRunRmGivesOutputStreamsAndExitStatusAndLeavesNothing) {
  Result hi = docker({"run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2; exit 3"});
  EXPECT_EQ(hi.code, 3) << hi.err;
  EXPECT_EQ(hi.out, "out\n");
  EXPECT_EQ(hi.err, "err\n");
  Result ok = docker({"run", "--rm", "-e", "A=b", "-w", "/tmp", "-u", "65534", "--hostname", "hh", "busybox", "sh", "-c",
                      "echo $A $(pwd) $(id -u) $(hostname)"});
  EXPECT_EQ(ok.code, 0) << ok.err;
  EXPECT_EQ(ok.out, "b /tmp 65534 hh\n");
  EXPECT_EQ(docker({"run", "--rm", "--entrypoint", "", "busybox", "echo", "no", "entrypoint"}).out, "no entrypoint\n");
  Result tty = docker({"run", "--rm", "-t", "busybox", "tty"});
  EXPECT_EQ(trim(tty.out).rfind("/dev/pts/", 0), 0u) << tty.out << tty.err;
  EXPECT_EQ(hv({"ps", "-aq"}).out, "") << "a --rm container was left";
  Result missing = docker({"run", "--rm", "nosuchimage", "true"});
  EXPECT_EQ(missing.code, 125);
  EXPECT_NE(missing.err.find("nosuchimage"), std::string::npos) << missing.err;
}

TEST_F(ServeDocker, DockerRunInitAddHostDnsAndStopSignalDoWhatHvrunsOwnFlagsDo) {
  // The same flags through the docker CLI and through hvrun's: the same files
  // and the same PID 1.
  const std::vector<std::string> flags = {"--init", "--add-host", "db:192.0.2.9", "--dns", "192.0.2.53",
                                          "--dns-search", "corp.example", "--dns-option", "ndots:3"};
  const std::vector<std::string> script = {"busybox", "sh", "-c",
                                           "tail -n 1 /etc/hosts; cat /etc/resolv.conf; ps -o pid,comm | grep ' 1 '"};
  std::vector<std::string> d = {"run", "--rm"}, h = {"run", "--rm"};
  d.insert(d.end(), flags.begin(), flags.end());
  d.insert(d.end(), script.begin(), script.end());
  h.insert(h.end(), flags.begin(), flags.end());
  h.insert(h.end(), script.begin(), script.end());
  Result viad = docker(d);
  EXPECT_EQ(viad.out, "192.0.2.9\tdb\nnameserver 192.0.2.53\nsearch corp.example\noptions ndots:3\n    1 init\n") << viad.err;
  EXPECT_EQ(viad.out, hv(h).out);
  // --stop-signal and --stop-timeout: kept, shown by inspect, used by a
  // docker stop that names no -t.
  ASSERT_EQ(docker({"run", "-d", "--name", "sig", "--stop-signal", "SIGUSR1", "--stop-timeout", "1", "busybox", "sh",
                    "-c", "trap '' TERM; trap 'echo got-usr1' USR1; while :; do sleep 0.05; done"})
                .code,
            0);
  EXPECT_EQ(docker({"inspect", "-f", "{{.Config.StopSignal}} {{.Config.StopTimeout}} {{.HostConfig.Init}} {{.HostConfig.Dns}}",
                    "sig"})
                .out,
            "SIGUSR1 1 false []\n");
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(docker({"stop", "sig"}).code, 0);
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 8.0)
      << "docker stop without -t did not use --stop-timeout 1";
  EXPECT_EQ(docker({"logs", "sig"}).out, "got-usr1\n");
  EXPECT_EQ(docker({"inspect", "-f", "{{.State.ExitCode}}", "sig"}).out, "137\n");
  // The docker CLI checks --add-host itself; a stop signal it passes on.
  Result bad = docker({"run", "--rm", "--stop-signal", "SIGNOPE", "busybox", "true"});
  EXPECT_EQ(bad.code, 125);
  EXPECT_NE(bad.err.find("--stop-signal: invalid signal \"SIGNOPE\""), std::string::npos) << bad.err;
  EXPECT_EQ(docker({"rm", "sig"}).code, 0);
  // --restart through HostConfig.RestartPolicy.
  ASSERT_EQ(docker({"run", "-d", "--name", "flaky", "--restart", "on-failure:1", "busybox", "sh", "-c", "exit 2"}).code, 0);
  std::string seen;
  for (int i = 0; i < 100 && (seen = docker({"inspect", "-f", "{{.RestartCount}} {{.State.Status}}", "flaky"}).out) != "1 exited\n"; ++i)
    usleep(100000);
  EXPECT_EQ(seen, "1 exited\n");
  EXPECT_EQ(docker({"inspect", "-f", "{{.HostConfig.RestartPolicy.Name}}:{{.HostConfig.RestartPolicy.MaximumRetryCount}}", "flaky"}).out,
            "on-failure:1\n");
  EXPECT_EQ(docker({"rm", "flaky"}).code, 0);
}

// What a person sees: each command of a session run through the docker
// CLI and through hvrun's own, their output compared line by line (ages
// such as "3 seconds ago" read as one token; a column's width may then
// differ, so runs of spaces read as one; header rows are compared exactly).
std::string same_ages(const std::string& text) {
  static const std::regex age(
      "(Less than a second|About a minute|About an hour|[0-9]+ (second|minute|hour)s?)( ago)?");
  static const std::regex spaces("  +");
  return std::regex_replace(std::regex_replace(text, age, "<age>"), spaces, "  ");
}

TEST_F(ServeDocker, AScriptedSessionPrintsTheSameThroughTheDockerCliAsThroughHvrunsOwn) {
  // Commands that make or end something run once each way; the rest are compared.
  struct Step {
    std::vector<std::string> args;
    bool header = false;  // its first line is a table's header
  };
  auto both = [&](const Step& s) {
    Result d = docker(s.args), h = hv(s.args);
    const std::string what = "docker/hvrun " + [&] {
      std::string a;
      for (const auto& w : s.args) a += w + " ";
      return a;
    }();
    EXPECT_EQ(d.code, h.code) << what << "\n" << d.err << h.err;
    EXPECT_EQ(same_ages(d.out), same_ages(h.out)) << what;
    if (s.header) {
      EXPECT_EQ(d.out.substr(0, d.out.find('\n')), h.out.substr(0, h.out.find('\n'))) << what;
    }
  };
  both({{"run", "--rm", "busybox", "echo", "hello"}});
  both({{"run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2; exit 3"}});
  both({{"run", "--rm", "-e", "A=1", "-w", "/tmp", "-u", "65534", "busybox", "sh", "-c", "echo $A $(pwd) $(id -u)"}});
  Result web = docker({"run", "-d", "--name", "web", "--network", "bridge", "-p", "8080", "-l", "tier=front", "busybox",
                       "sh", "-c", "echo started; touch /made; rm /etc/motd 2>/dev/null; sleep 600"});
  ASSERT_EQ(web.code, 0) << web.err;
  ASSERT_EQ(hv({"run", "-d", "--name", "worker", "busybox", "sh", "-c", "echo working; sleep 600"}).code, 0);
  ASSERT_EQ(hv({"run", "--name", "done", "busybox", "sh", "-c", "exit 2"}).code, 2);
  ASSERT_EQ(hv({"volume", "create", "--label", "k=v", "data"}).code, 0);
  for (int i = 0; i < 100 && hv({"logs", "web"}).out.empty(); ++i) ::usleep(50 * 1000);
  const std::vector<Step> look = {
      {{"ps"}, true},
      {{"ps", "-a"}, true},
      {{"ps", "-q"}},
      {{"ps", "-aq", "--no-trunc"}},
      {{"ps", "-a", "--no-trunc"}, true},
      {{"ps", "-n", "2"}, true},
      {{"ps", "-l", "-q"}},
      {{"ps", "-a", "--filter", "status=exited"}, true},
      {{"ps", "-a", "--filter", "label=tier=front", "--format", "{{.Names}} {{.Ports}} {{.Labels}}"}},
      {{"images"}, true},
      {{"images", "-q"}},
      {{"port", "web"}},
      {{"port", "web", "8080/tcp"}},
      {{"logs", "web"}},
      {{"logs", "--tail", "1", "worker"}},
      {{"inspect", "-f", "{{.State.Status}} {{.State.ExitCode}} {{.Name}} {{.Config.Image}} {{.Config.Labels}}", "web", "done"}},
      {{"top", "web"}, true},
      {{"diff", "web"}},
      {{"exec", "web", "cat", "/made"}},
      {{"exec", "worker", "sh", "-c", "echo in-exec; exit 4"}},
      {{"volume", "ls"}, true},
      {{"volume", "ls", "-q"}},
      {{"volume", "inspect", "data"}},
  };
  for (const auto& s : look) both(s);
  // The ends: each way once, each printing the names it was given.
  EXPECT_EQ(docker({"stop", "-t", "1", "web"}).out, "web\n");
  EXPECT_EQ(hv({"stop", "-t", "1", "worker"}).out, "worker\n");
  both({{"ps", "-a"}, true});
  EXPECT_EQ(docker({"rm", "web", "done"}).out, "web\ndone\n");
  EXPECT_EQ(hv({"rm", "worker"}).out, "worker\n");
  both({{"ps", "-a"}, true});
}

TEST_F(ServeDocker, DockerBuildSendsItsContextAndTheImageRunsWithItsHistory) {
  const std::string ctx = root() + "/ctx";
  ASSERT_EQ(run({"mkdir", "-p", ctx + "/sub"}).code, 0);
  {
    std::ofstream(ctx + "/Dockerfile") << "FROM busybox\nARG GREETING=hi\nCOPY msg.txt /msg.txt\n"
                                         "RUN echo \"$GREETING $(cat /msg.txt)\" > /out.txt\nCMD [\"cat\", \"/out.txt\"]\n";
    std::ofstream(ctx + "/msg.txt") << "from-the-context\n";
    std::ofstream(ctx + "/sub/Other.Dockerfile") << "FROM busybox\nRUN exit 7\n";
  }
  Result b = docker({"build", "-t", "built:1", "--build-arg", "GREETING=hello", ctx}, 300);
  ASSERT_EQ(b.code, 0) << b.out << b.err;
  EXPECT_NE(b.out.find("Successfully built "), std::string::npos) << b.out;
  EXPECT_NE(b.out.find("Successfully tagged built:1\n"), std::string::npos) << b.out;
  EXPECT_EQ(docker({"run", "--rm", "built:1"}).out, "hello from-the-context\n");
  EXPECT_EQ(hv({"images", "--format", "{{.Repository}}:{{.Tag}}", "built"}).out, "built:1\n");
  // Its history through the API, as hvrun history has it (the COPY and RUN steps among them).
  EXPECT_EQ(docker({"history", "-q", "built:1"}).out, hv({"history", "-q", "built:1"}).out);
  Result h = docker({"history", "--no-trunc", "--format", "{{.CreatedBy}}", "built:1"});
  EXPECT_NE(h.out.find("COPY"), std::string::npos) << h.out;
  // -q prints the id alone; a failing step fails the build with its reason.
  Result q = docker({"build", "-q", "-t", "built:2", ctx}, 300);
  EXPECT_EQ(q.code, 0) << q.err;
  EXPECT_EQ(trim(q.out).rfind("sha256:", 0), 0u) << q.out;
  Result f = docker({"build", "-f", ctx + "/sub/Other.Dockerfile", ctx}, 300);
  EXPECT_NE(f.code, 0);
  EXPECT_NE((f.out + f.err).find("7"), std::string::npos) << f.out << f.err;
  EXPECT_EQ(hv({"ps", "-aq"}).out, "") << "no build container is left";
  // A context whose Dockerfile is a symlink out of it (the host's /etc/passwd): refused, nothing read.
  const std::string evil = root() + "/evil";
  ASSERT_EQ(run({"mkdir", "-p", evil}).code, 0);
  ASSERT_EQ(run({"ln", "-s", "/etc/passwd", evil + "/Dockerfile"}).code, 0);
  ASSERT_EQ(run({"tar", "-C", evil, "-cf", root() + "/evil.tar", "Dockerfile"}).code, 0);
  const std::string refused = api("POST", "/build?t=evil", "@" + root() + "/evil.tar");
  EXPECT_EQ(refused.rfind("400 ", 0), 0u) << refused;
  EXPECT_NE(refused.find("leads out of the context"), std::string::npos) << refused;
  EXPECT_EQ(refused.find("root:"), std::string::npos) << refused;
}

TEST_F(ServeDocker, DetachedContainerLogsExecInspectStopAndRmAsHvrunSeesThem) {
  Result d = docker({"run", "-d", "--name", "web", "busybox", "sh", "-c",
                     "trap 'echo bye; exit 0' TERM; echo up; while :; do sleep 0.1; done"});
  ASSERT_EQ(d.code, 0) << d.err;
  const std::string id = trim(d.out);
  EXPECT_EQ(id.size(), 64u) << d.out;
  EXPECT_EQ(trim(hv({"inspect", "-f", "{{.Id}}", "web"}).out), id);
  EXPECT_EQ(docker({"ps", "--format", "{{.Names}} {{.Image}}"}).out, "web busybox\n");
  EXPECT_EQ(docker({"inspect", "-f", "{{.State.Status}} {{.Name}} {{.Config.Image}}", "web"}).out, "running /web busybox\n");
  Result e = docker({"exec", "web", "sh", "-c", "echo in exec; echo e2 >&2; exit 4"});
  EXPECT_EQ(e.code, 4) << e.err;
  EXPECT_EQ(e.out, "in exec\n");
  EXPECT_EQ(e.err, "e2\n");
  Result eu = docker({"exec", "-e", "X=y", "-w", "/tmp", "-u", "65534", "web", "sh", "-c", "echo $X $(pwd) $(id -u)"});
  EXPECT_EQ(eu.out, "y /tmp 65534\n") << eu.err;
  Result et = docker({"exec", "-t", "web", "tty"});
  EXPECT_EQ(trim(et.out).rfind("/dev/pts/", 0), 0u) << et.out << et.err;
  Result stop = docker({"stop", "-t", "10", "web"});
  EXPECT_EQ(stop.code, 0) << stop.err;
  EXPECT_EQ(stop.out, "web\n");
  EXPECT_EQ(docker({"logs", "web"}).out, "up\nbye\n");
  EXPECT_EQ(hv({"logs", "web"}).out, "up\nbye\n");
  EXPECT_EQ(docker({"wait", "web"}).out, "0\n");
  // (.Status ends in an age, which may tick between the two calls.)
  const std::string fmt = "{{.ID}} {{.Names}} {{.Image}} {{.State}}";
  EXPECT_EQ(docker({"ps", "-a", "--format", fmt}).out, hv({"ps", "-a", "--format", fmt}).out);
  EXPECT_EQ(docker({"ps", "-a", "--format", "{{.Status}}"}).out.rfind("Exited (0) ", 0), 0u);
  Result rm = docker({"rm", "web"});
  EXPECT_EQ(rm.code, 0) << rm.err;
  EXPECT_EQ(hv({"ps", "-aq"}).out, "");
  Result again = docker({"rm", "web"});
  EXPECT_EQ(again.code, 1);
  EXPECT_NE(again.err.find("No such container: web"), std::string::npos) << again.err;
}

TEST_F(ServeDocker, ExecTakesStdinAndDashItGivesATerminalOfTheClientsSize) {
  ASSERT_EQ(docker({"run", "-d", "--name", "w", "busybox", "sleep", "600"}).code, 0);
  std::vector<std::string> argv{kDocker, "exec", "-i", "w", "sh", "-c", "cat; exit 6"};
  Result in = run(argv, "hello stdin\n", 60, env());
  EXPECT_EQ(in.code, 6) << in.err;
  EXPECT_EQ(in.out, "hello stdin\n");
  Result it = run_in_pty({"env", "DOCKER_HOST=unix://" + sock_, "DOCKER_CONFIG=" + root() + "/docker-config", kDocker,
                          "exec", "-it", "w", "sh"},
                         {{"# ", "stty size; tty; echo mark-$((6*7))\r"}, {"mark-42", "exit 9\r"}}, 60, 24, 80);
  EXPECT_EQ(it.code, 9) << it.out;
  EXPECT_NE(it.out.find("24 80\r\n/dev/pts/"), std::string::npos) << it.out;
  EXPECT_EQ(docker({"rm", "-f", "w"}).code, 0);
}

TEST_F(ServeDocker, RunDashIPipesStdinAndDashItIsAShellAtTheClientsSize) {
  Result in = run({kDocker, "run", "-i", "--rm", "busybox", "sh", "-c", "cat; echo done; exit 4"}, "line1\nline2\n", 60, env());
  EXPECT_EQ(in.code, 4) << in.err;
  EXPECT_EQ(in.out, "line1\nline2\ndone\n");
  Result it = run_in_pty({"env", "DOCKER_HOST=unix://" + sock_, "DOCKER_CONFIG=" + root() + "/docker-config", kDocker,
                          "run", "-it", "--rm", "busybox", "sh"},
                         {{"# ", "stty size; tty; echo mark-$((6*7))\r"}, {"mark-42", "exit 9\r"}}, 60, 30, 100);
  EXPECT_EQ(it.code, 9) << it.out;
  EXPECT_NE(it.out.find("30 100\r\n/dev/pts/"), std::string::npos) << it.out;
  EXPECT_EQ(hv({"ps", "-aq"}).out, "");
}

TEST_F(ServeDocker, FollowedLogsKillRmForceAndImagesMatchHvrunsCli) {
  ASSERT_EQ(docker({"run", "-d", "--name", "ticker", "busybox", "sh", "-c", "for i in 1 2 3; do echo t$i; sleep 0.2; done"}).code, 0);
  Result f = docker({"logs", "-f", "ticker"}, 30);
  EXPECT_EQ(f.code, 0) << f.err;
  EXPECT_EQ(f.out, "t1\nt2\nt3\n");
  EXPECT_EQ(docker({"logs", "--tail", "1", "ticker"}).out, "t3\n");
  ASSERT_EQ(docker({"run", "-d", "--name", "sleeper", "busybox", "sleep", "600"}).code, 0);
  Result rmbusy = docker({"rm", "sleeper"});
  EXPECT_NE(rmbusy.code, 0);
  EXPECT_NE(rmbusy.err.find("stop it first"), std::string::npos) << rmbusy.err;
  EXPECT_EQ(docker({"kill", "sleeper"}).code, 0);
  EXPECT_EQ(docker({"wait", "sleeper"}).out, "137\n");
  EXPECT_EQ(docker({"run", "-d", "--name", "s2", "busybox", "sleep", "600"}).code, 0);
  EXPECT_EQ(docker({"rm", "-f", "s2", "sleeper", "ticker"}).code, 0);
  EXPECT_EQ(hv({"ps", "-aq"}).out, "");
  const std::string ifmt = "{{.Repository}}:{{.Tag}} {{.ID}}";
  Result imgs = docker({"images", "--format", ifmt});
  EXPECT_EQ(imgs.out, hv({"images", "--format", ifmt}).out);
  EXPECT_EQ(imgs.out.rfind("busybox:latest ", 0), 0u) << imgs.out;
}

TEST_F(ServeDocker, ImagesSaveLoadTagRmiPullAndPushThroughARegistry) {
  const std::string tar = root() + "/bb.tar";
  Result save = docker({"save", "-o", tar, "busybox"});
  ASSERT_EQ(save.code, 0) << save.err;
  EXPECT_EQ(docker({"tag", "busybox", "mybb:v1"}).code, 0);
  const std::string ifmt = "{{.Repository}}:{{.Tag}} {{.ID}}";
  // (one image's tags come in any order from the docker CLI: it walks a Go map)
  auto sorted_lines = [](const std::string& text) {
    std::vector<std::string> v;
    std::istringstream in(text);
    for (std::string l; std::getline(in, l);) v.push_back(l);
    std::sort(v.begin(), v.end());
    return v;
  };
  EXPECT_EQ(sorted_lines(docker({"images", "--format", ifmt}).out), sorted_lines(hv({"images", "--format", ifmt}).out));
  Result rmi = docker({"rmi", "mybb:v1", "busybox"});
  EXPECT_EQ(rmi.code, 0) << rmi.err;
  EXPECT_EQ(rmi.out.rfind("Untagged: mybb:v1\nUntagged: busybox:latest\nDeleted: sha256:", 0), 0u) << rmi.out;
  EXPECT_EQ(hv({"images", "-q"}).out, "");
  Result load = docker({"load", "-i", tar});
  EXPECT_EQ(load.code, 0) << load.err;
  EXPECT_EQ(load.out, "Loaded image: busybox:latest\n");
  EXPECT_EQ(docker({"run", "--rm", "busybox", "echo", "loaded"}).out, "loaded\n");
  // docker pull (and run's pull of a missing image) through hvrun pull,
  // from Debian's docker-registry on 127.0.0.1.
  TestRegistry reg;
  const std::string ref = reg.host() + "/lib/bb:1";
  ASSERT_EQ(hv({"push", "busybox", ref}, "", 120).code, 0);
  Result pull = docker({"pull", ref});
  EXPECT_EQ(pull.code, 0) << pull.err;
  EXPECT_EQ(docker({"images", "--format", "{{.Repository}}:{{.Tag}}", ref}).out, ref + "\n");
  ASSERT_EQ(docker({"rmi", ref}).code, 0);
  Result run_pulls = docker({"run", "--rm", ref, "echo", "pulled"});
  EXPECT_EQ(run_pulls.code, 0) << run_pulls.err;
  EXPECT_EQ(run_pulls.out, "pulled\n");
  Result bad = docker({"pull", reg.host() + "/no/such:image"});
  EXPECT_NE(bad.code, 0);
  EXPECT_NE(bad.err.find("no/such"), std::string::npos) << bad.err;
  // docker push through hvrun push: what comes back from the registry is
  // the same image.
  const std::string ref2 = reg.host() + "/lib/bb:2";
  ASSERT_EQ(docker({"tag", "busybox", ref2}).code, 0);
  Result push = docker({"push", ref2});
  EXPECT_EQ(push.code, 0) << push.err;
  EXPECT_NE(push.out.find("2: digest: sha256:"), std::string::npos) << push.out;
  const std::string id = trim(hv({"inspect", "-f", "{{.Id}}", "busybox"}).out);
  ASSERT_EQ(id.rfind("sha256:", 0), 0u) << id;
  ASSERT_EQ(docker({"rmi", ref2}).code, 0);
  ASSERT_EQ(docker({"pull", ref2}).code, 0);
  EXPECT_EQ(trim(hv({"inspect", "-f", "{{.Id}}", ref2}).out), id);
  Result missing = docker({"push", reg.host() + "/lib/none:1"});
  EXPECT_NE(missing.code, 0);
}

TEST_F(ServeDocker, KillingTheServerLosesNoContainer) {
  ASSERT_EQ(docker({"run", "-d", "--name", "long", "busybox", "sh", "-c", "while :; do echo beat; sleep 0.2; done"}).code, 0);
  stop_server(SIGKILL);
  EXPECT_EQ(trim(hv({"inspect", "-f", "{{.State.Status}}", "long"}).out), "running");
  start_server();
  EXPECT_EQ(docker({"ps", "--format", "{{.Names}} {{.State}}"}).out, "long running\n");
  EXPECT_EQ(docker({"rm", "-f", "long"}).code, 0);
}

TEST_F(ServeDocker, BadRequestsGetAStatusAndAMessageAndTheServerStaysUp) {
  EXPECT_EQ(api("POST", "/v1.41/containers/create", "{not json").rfind("400 {\"message\":\"invalid JSON body: ", 0), 0u);
  EXPECT_EQ(api("POST", "/containers/create", "{\"Image\":\"busybox\",\"Cmd\":\"true\",\"HostConfig\":{\"Memory\":\"lots\"}}"),
            "400 {\"message\":\"invalid Memory: expected an integer\"}\n");
  EXPECT_EQ(api("POST", "/containers/create", "{\"Image\":\"busybox\",\"HostConfig\":{\"Runtime\":\"kata\"}}"),
            "400 {\"message\":\"unknown runtime \\\"kata\\\": hvrun has container and vm\"}\n");
  EXPECT_EQ(api("POST", "/containers/create", "{\"Image\":\"nope\"}"), "404 {\"message\":\"No such image: nope:latest\"}\n");
  EXPECT_EQ(api("GET", "/containers/nope/json"), "404 {\"message\":\"No such container: nope\"}\n");
  EXPECT_EQ(api("GET", "/no/such/route"), "404 {\"message\":\"page not found: GET /no/such/route\"}\n");
  EXPECT_EQ(api("GET", "/containers/json?filters=%7Bbad").rfind("400 {\"message\":\"invalid filters: ", 0), 0u);
  std::string garbage = raw("THIS IS NOT HTTP\r\n\r\n");
  EXPECT_EQ(garbage.rfind("HTTP/1.1 400 ", 0), 0u) << garbage;
  std::string huge = raw("GET /_ping HTTP/1.1\r\nHost: d\r\nX-Big: " + std::string(100000, 'a') + "\r\n\r\n");
  EXPECT_EQ(huge.rfind("HTTP/1.1 431 ", 0), 0u) << huge.substr(0, 200);
  std::string unknown_fields = api("POST", "/containers/create?name=u", "{\"Image\":\"busybox\",\"Cmd\":[\"true\"],\"NoSuchField\":1}");
  EXPECT_EQ(unknown_fields.substr(0, 4), "201 ") << unknown_fields;
  EXPECT_EQ(trim(hv({"inspect", "-f", "{{.State.Status}}", "u"}).out), "created");
  // A body nested 100000 deep (copying or freeing one recurses per level).
  const std::string deep = "{\"Image\":\"x\",\"Cmd\":" + std::string(100000, '[') + std::string(100000, ']') + "}";
  std::ofstream(root() + "/deep.json") << deep;
  EXPECT_EQ(api("POST", "/containers/create", "@" + root() + "/deep.json"),
            "400 {\"message\":\"invalid JSON body: nested deeper than 32 levels\"}\n");
  EXPECT_TRUE(ping()) << "the server died";
}

// The group hvrun's gid ("" when there is none).
std::string hvrun_gid() {
  Result grp = run({"getent", "group", "hvrun"});
  if (grp.code != 0) return "";
  const size_t a = grp.out.find(':', grp.out.find(':') + 1) + 1;
  return grp.out.substr(a, grp.out.find(':', a) - a);
}

// The docker CLI as a tenant: uid (and gid) `uid`, in the group hvrun (the
// socket is root:hvrun 0660).
Result as_tenant(const std::string& sock, const std::string& gid, const std::string& uid,
                 const std::vector<std::string>& args) {
  std::vector<std::string> argv{"setpriv", "--reuid=" + uid, "--regid=" + uid, "--groups=" + gid, "env",
                                "DOCKER_HOST=unix://" + sock, "DOCKER_CONFIG=/nonexistent", kDocker};
  argv.insert(argv.end(), args.begin(), args.end());
  return run(argv, "", 60);
}

TEST_F(ServeDocker, ATenantsExitedContainerStartedAgainIsHeldToItsMemoryQuota) {
  const std::string gid = hvrun_gid();
  if (gid.empty()) GTEST_SKIP() << "no group hvrun (scripts/setup.sh makes it)";
  ASSERT_EQ(::chmod(root().c_str(), 0711), 0);
  stop_server();
  start_server({"--tenant-memory", "100m"});
  auto as = [&](const std::vector<std::string>& args) { return as_tenant(sock_, gid, "65534", args); };
  Result a = as({"run", "-d", "-m", "80m", "--name", "q1", "busybox", "sleep", "600"});
  ASSERT_EQ(a.code, 0) << a.err;
  Result over = as({"run", "-d", "-m", "80m", "--name", "q2", "busybox", "sleep", "600"});
  EXPECT_NE(over.code, 0);
  EXPECT_NE(over.err.find("tenant quota"), std::string::npos) << over.err;
  ASSERT_EQ(as({"stop", "-t", "0", "q1"}).code, 0);
  ASSERT_EQ(as({"run", "-d", "-m", "80m", "--name", "q3", "busybox", "sleep", "600"}).code, 0);
  for (const char* cmd : {"start", "restart"}) {
    Result again = as({cmd, "q1"});
    EXPECT_NE(again.code, 0) << cmd;
    EXPECT_NE(again.err.find("tenant quota: 160 MiB of memory asked, 100 MiB allowed"), std::string::npos) << cmd << ": " << again.err;
  }
  EXPECT_EQ(trim(hv({"inspect", "-f", "{{.State.Status}}", "q1"}).out), "exited");
  ASSERT_EQ(as({"rm", "-f", "q3"}).code, 0);
  EXPECT_EQ(as({"start", "q1"}).code, 0) << "within the quota again";
}

TEST_F(ServeDocker, ATenantSeesAndTouchesOnlyItsOwnContainersAndNotTheHost) {
  const std::string gid = hvrun_gid();
  if (gid.empty()) GTEST_SKIP() << "no group hvrun (scripts/setup.sh makes it)";
  // The socket's directory must be reachable by the tenants (the store's
  // own directory is 0700).
  ASSERT_EQ(::chmod(root().c_str(), 0711), 0);
  stop_server();
  start_server({"--tenant-containers", "2"});
  // Tenants: uids 65534 and 65533.
  auto as = [&](const std::string& uid, const std::vector<std::string>& args) { return as_tenant(sock_, gid, uid, args); };
  Result a = as("65534", {"run", "-d", "--name", "a1", "busybox", "sh", "-c", "echo secret; sleep 600"});
  ASSERT_EQ(a.code, 0) << a.err;
  const std::string id = trim(a.out);
  EXPECT_EQ(as("65534", {"ps", "--format", "{{.Names}}"}).out, "a1\n");
  EXPECT_EQ(as("65533", {"ps", "-a", "--format", "{{.Names}}"}).out, "");
  for (const std::string& ref : {std::string("a1"), id, id.substr(0, 12)}) {
    for (const std::vector<std::string>& cmd :
         std::vector<std::vector<std::string>>{{"container", "inspect", ref}, {"logs", ref}, {"exec", ref, "true"},
                                               {"stop", ref}, {"kill", ref}, {"rm", ref}}) {
      Result r = as("65533", cmd);
      EXPECT_NE(r.code, 0) << cmd[0] << " " << ref;
      EXPECT_NE(r.err.find("No such container"), std::string::npos) << cmd[0] << " " << ref << ": " << r.err;
      EXPECT_EQ(r.out.find("secret"), std::string::npos);
    }
    // (docker rm -f says nothing of a container it does not find.)
    EXPECT_EQ(as("65533", {"rm", "-f", ref}).out.find("a1"), std::string::npos);
  }
  EXPECT_EQ(trim(hv({"inspect", "-f", "{{.State.Status}}", "a1"}).out), "running") << "another tenant stopped it";
  EXPECT_EQ(as("65534", {"logs", "a1"}).out, "secret\n");
  // Networks: another's container is absent; only the default network is a tenant's.
  ASSERT_EQ(docker({"network", "create", "rootnet"}).code, 0);
  Result other = as("65533", {"network", "connect", "rootnet", "a1"});
  EXPECT_NE(other.err.find("No such container"), std::string::npos) << other.err;
  Result own = as("65534", {"network", "connect", "rootnet", "a1"});
  EXPECT_NE(own.code, 0);
  EXPECT_NE(own.err.find("a tenant may connect its containers to the default network only"), std::string::npos) << own.err;
  EXPECT_EQ(docker({"network", "rm", "rootnet"}).code, 0);
  // Root sees every tenant's.
  EXPECT_EQ(docker({"ps", "--format", "{{.Names}}"}).out, "a1\n");
  // Nothing that reaches into the host.
  for (const std::vector<std::string>& flags : std::vector<std::vector<std::string>>{
           {"-v", "/:/host"}, {"--privileged"}, {"--cap-add", "SYS_ADMIN"}, {"--security-opt", "seccomp=unconfined"},
           {"--network", "host"}, {"--network", "othernet"}, {"-p", "80:80"}, {"--ulimit", "rtprio=99"},
           {"--tmpfs", "/t:dev"}}) {
    std::vector<std::string> cmd{"run", "--rm"};
    cmd.insert(cmd.end(), flags.begin(), flags.end());
    cmd.insert(cmd.end(), {"busybox", "true"});
    Result r = as("65533", cmd);
    EXPECT_EQ(r.code, 125) << flags[0];
    EXPECT_NE(r.err.find("a tenant may not"), std::string::npos) << flags[0] << ": " << r.err;
  }
  // No device node of its own (it would be the host's disk), no pull with
  // root's logins into the shared store.
  Result mknod = as("65533", {"run", "--rm", "busybox", "sh", "-c", "mknod /tmp/x b 8 0 && echo made || echo refused"});
  EXPECT_EQ(mknod.out, "refused\n") << mknod.err;
  Result pull = as("65533", {"pull", "127.0.0.1:1/x"});
  EXPECT_NE(pull.code, 0);
  EXPECT_NE(pull.err.find("a tenant may not pull"), std::string::npos) << pull.err;
  // Its quota: two containers.
  EXPECT_EQ(as("65534", {"create", "busybox", "true"}).code, 0);
  Result over = as("65534", {"create", "busybox", "true"});
  EXPECT_NE(over.code, 0);
  EXPECT_NE(over.err.find("tenant quota: at most 2 containers"), std::string::npos) << over.err;
  EXPECT_EQ(as("65534", {"rm", "-f", "a1"}).code, 0);
}

TEST_F(ServeDocker, DockerEventsSinceAndUntilReplayThePastAndEnd) {
  ASSERT_EQ(docker({"run", "--rm", "--name", "past", "busybox", "true"}).code, 0);
  // The docker CLI sends whole seconds: "--until 0s" is the start of this
  // second, and events inside it come after it (as with Docker's daemon).
  ::usleep(1100000);
  // Both bounds in the past: the events between them, then the stream ends by itself.
  Result r = docker({"events", "--since", "5m", "--until", "0s", "--filter", "container=past", "--format",
                     "{{.Action}} {{.Actor.Attributes.name}}"},
                    30);
  EXPECT_FALSE(r.timed_out) << "docker events --until did not end";
  EXPECT_EQ(r.out, "create past\nstart past\ndie past\ndestroy past\n") << r.err;
  // A since after them: none of them.
  const std::string later = std::to_string(::time(nullptr) + 1);
  ::sleep(2);
  Result none = docker({"events", "--since", later, "--until", "0s", "--filter", "container=past"}, 30);
  EXPECT_EQ(none.out, "") << none.err;
  EXPECT_EQ(api("GET", "/events?since=yesterday").rfind("400 ", 0), 0u);
}

TEST_F(ServeDocker, DockerVolumeCommandsAndMountsAgreeWithHvrunAndStayATenantsOwn) {
  ASSERT_EQ(docker({"volume", "create", "--label", "k=v", "shared"}).out, "shared\n");
  EXPECT_EQ(hv({"volume", "ls", "-q"}).out, "shared\n");
  ASSERT_EQ(docker({"run", "--rm", "-v", "shared:/data", "busybox", "sh", "-c", "echo via-docker > /data/f"}).code, 0);
  EXPECT_EQ(hv({"run", "--rm", "-v", "shared:/d", "busybox", "cat", "/d/f"}).out, "via-docker\n");
  Result m = docker({"run", "--rm", "--mount", "type=volume,src=shared,dst=/m,readonly", "--mount",
                     "type=tmpfs,dst=/t,tmpfs-size=1048576", "busybox", "sh", "-c",
                     "cat /m/f; touch /m/x 2>/dev/null || echo ro; grep -c ' /t tmpfs' /proc/mounts"});
  EXPECT_EQ(m.out, "via-docker\nro\n1\n") << m.err;
  EXPECT_EQ(docker({"volume", "inspect", "-f", "{{.Name}} {{.Driver}} {{.Labels}}", "shared"}).out, "shared local map[k:v]\n");
  EXPECT_EQ(docker({"volume", "ls", "--format", "{{.Name}}"}).out, hv({"volume", "ls", "-q"}).out);
  ASSERT_EQ(docker({"create", "--name", "user", "-v", "shared:/x", "busybox", "true"}).code, 0);
  Result busy = docker({"volume", "rm", "shared"});
  EXPECT_NE(busy.code, 0);
  EXPECT_NE(busy.err.find("volume shared is in use by container"), std::string::npos) << busy.err;
  ASSERT_EQ(docker({"rm", "user"}).code, 0);
  ASSERT_EQ(docker({"volume", "create", "spare"}).code, 0);
  Result prune = docker({"volume", "prune", "-f"});
  EXPECT_NE(prune.out.find("shared"), std::string::npos) << prune.out << prune.err;
  EXPECT_EQ(hv({"volume", "ls", "-q"}).out, "");
  // docker run -v /path (Config.Volumes): an anonymous volume, gone with --rm or rm -v.
  EXPECT_EQ(docker({"run", "--rm", "-v", "/data", "busybox", "sh", "-c", "echo a > /data/f; cat /data/f"}).out, "a\n");
  EXPECT_EQ(hv({"volume", "ls", "-q"}).out, "");
  ASSERT_EQ(docker({"run", "-d", "--name", "anon", "-v", "/data", "busybox", "sleep", "600"}).code, 0);
  EXPECT_EQ(docker({"inspect", "-f", "{{range .Mounts}}{{.Type}} {{.Destination}}{{end}}", "anon"}).out, "volume /data\n");
  EXPECT_EQ(hv({"volume", "ls", "-q"}).out.size(), 65u);
  ASSERT_EQ(docker({"rm", "-fv", "anon"}).code, 0);
  EXPECT_EQ(hv({"volume", "ls", "-q"}).out, "");
  // A tenant's volumes are its own: another neither lists, uses nor removes them.
  const std::string gid = hvrun_gid();
  if (gid.empty()) GTEST_SKIP() << "no group hvrun (scripts/setup.sh makes it)";
  ASSERT_EQ(::chmod(root().c_str(), 0711), 0);
  auto as = [&](const std::string& uid, const std::vector<std::string>& args) { return as_tenant(sock_, gid, uid, args); };
  ASSERT_EQ(as("65534", {"volume", "create", "mine"}).code, 0);
  ASSERT_EQ(as("65534", {"run", "--rm", "-v", "mine:/v", "busybox", "sh", "-c", "echo private > /v/p"}).code, 0);
  EXPECT_EQ(as("65533", {"volume", "ls", "-q"}).out, "");
  Result steal = as("65533", {"run", "--rm", "-v", "mine:/v", "busybox", "cat", "/v/p"});
  EXPECT_NE(steal.code, 0);
  EXPECT_EQ(steal.out.find("private"), std::string::npos);
  EXPECT_NE(steal.err.find("belongs to another user"), std::string::npos) << steal.err;
  EXPECT_NE(as("65533", {"volume", "rm", "mine"}).err.find("No such volume"), std::string::npos);
  Result bind = as("65533", {"run", "--rm", "--mount", "type=bind,src=/etc,dst=/e", "busybox", "true"});
  EXPECT_NE(bind.err.find("a tenant may not bind host paths"), std::string::npos) << bind.err;
  Result binds = as("65533", {"run", "--rm", "-v", "/etc:/e", "busybox", "true"});
  EXPECT_NE(binds.err.find("a tenant may not bind host paths"), std::string::npos) << binds.err;
  EXPECT_EQ(as("65533", {"run", "--rm", "-v", "/scratch", "busybox", "true"}).code, 0) << "an anonymous volume is a tenant's own";
  EXPECT_EQ(as("65534", {"volume", "ls", "-q"}).out, "mine\n");
  EXPECT_EQ(docker({"volume", "ls", "-q"}).out, "mine\n") << "root sees every tenant's";
}

TEST_F(ServeDocker, TwoHundredConcurrentRequestsOverFiftyContainersLoseAndLeakNothing) {
  Result load = run({kPython, source_dir() + "/tests/integration/serve_load.py", sock_, std::to_string(server_)}, "", 600);
  EXPECT_EQ(load.code, 0) << load.out << load.err;
  EXPECT_NE(load.out.find("SERVE-LOAD: PASS"), std::string::npos) << load.out << load.err;
}

TEST_F(ServeDocker, DockerPyRunsDetachedWaitsReadsLogsAndExecs) {
  if (run({kPython, "-c", "import docker"}).code != 0) GTEST_SKIP() << "python3-docker is missing (scripts/setup.sh installs it)";
  const std::string script = R"(
import docker
c = docker.from_env()
print(c.containers.run("busybox", ["sh", "-c", "echo hello py"], remove=True).decode(), end="")
k = c.containers.run("busybox", ["sh", "-c", "echo a; echo b >&2; exit 5"], detach=True, name="pyc")
print("wait", k.wait()["StatusCode"])
print("logs", k.logs(stdout=True, stderr=False).decode().strip(), k.logs(stdout=False, stderr=True).decode().strip())
k.reload()
print("attrs", k.attrs["State"]["Status"], k.attrs["State"]["ExitCode"], k.name)
k.remove()
s = c.containers.run("busybox", ["sleep", "600"], detach=True)
r = s.exec_run(["sh", "-c", "echo ex; exit 2"])
print("exec", r.exit_code, r.output.decode().strip())
print("list", [x.short_id == s.short_id for x in c.containers.list()])
s.remove(force=True)
print("left", len(c.containers.list(all=True)))
)";
  Result py = run({kPython, "-c", script}, "", 120, env());
  EXPECT_EQ(py.code, 0) << py.err;
  EXPECT_EQ(py.out, "hello py\nwait 5\nlogs a b\nattrs exited 5 pyc\nexec 2 ex\nlist [True]\nleft 0\n");
}

TEST_F(ServeDocker, SandboxApiThroughThePythonClientExecsWritesReadsTimesOutRefusesAContainersSnapshotAndExpires) {
  // docs/examples/hvrun_sandbox.py, as a program would use it.
  const std::string script = R"(
import sys, time
sys.path.insert(0, sys.argv[2])
from hvrun_sandbox import Client, Error
c = Client(sys.argv[1])
box = c.create("busybox", memory="64m", ttl_seconds=600, name="sbx")
print("made", box.name, box.info["mode"], box.info["status"], box.info["expires_at"] > time.time() + 500)
box.write("/tmp/job.sh", "read x; echo got $x; echo oops >&2; exit 3\n", mode=0o755)
seen = []
r = box.exec(["sh", "/tmp/job.sh"], stdin="word\n", on_output=lambda s, t: seen.append(s))
print("exec", r.exit_code, repr(r.stdout), repr(r.stderr), sorted(set(seen)))
print("read", repr(box.read("/tmp/job.sh").decode()))
t = box.exec(["sleep", "30"], timeout_seconds=1)
print("timeout", t.exit_code, t.timed_out)
for path in ["/etc/nope", "relative"]:
    try:
        box.read(path)
    except Error as e:
        print("read-error", e.status)
print("list", [b.name for b in c.list()])
try:
    c.get("plain")
except Error as e:
    print("plain-is-not-a-sandbox", e.status)
# Snapshots are a microVM's (tests/integration/vm_scenarios.sh: docker-api-vm makes, clones and restores them).
for call in [lambda: box.snapshot(), lambda: box.clone(), lambda: c.restore("nosuch"), lambda: c.remove_snapshot("nosuch")]:
    try:
        call()
    except Error as e:
        print("snapshot-error", e.status)
print("snapshots", c.snapshots())
box.extend(1)
for _ in range(100):
    if not c.list():
        break
    time.sleep(0.1)
print("expired", [b.name for b in c.list()])
)";
  ASSERT_EQ(docker({"run", "-d", "--name", "plain", "busybox", "sleep", "600"}).code, 0);
  Result py = run({kPython, "-c", script, sock_, source_dir() + "/docs/examples"}, "", 120);
  EXPECT_EQ(py.code, 0) << py.err;
  EXPECT_EQ(py.out,
            "made sbx container running True\n"
            "exec 3 'got word\\n' 'oops\\n' ['stderr', 'stdout']\n"
            "read 'read x; echo got $x; echo oops >&2; exit 3\\n'\n"
            "timeout 137 True\n"
            "read-error 404\n"
            "read-error 400\n"
            "list ['sbx']\n"
            "plain-is-not-a-sandbox 404\n"
            "snapshot-error 409\n"
            "snapshot-error 409\n"
            "snapshot-error 404\n"
            "snapshot-error 404\n"
            "snapshots []\n"
            "expired []\n");
  EXPECT_EQ(trim(hv({"ps", "-a", "--format", "{{.Names}}"}).out), "plain") << "the expired sandbox is gone, the rest stays";
}

}  // namespace
}  // namespace hvrun::test
