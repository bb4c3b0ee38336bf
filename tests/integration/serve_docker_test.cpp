// hvrun serve and the docker CLI: containers (run, exec, -it, logs, cp,
// inspect, stop, rm, labels, top, stats, events), networks, bad requests,
// a server killed, and a scripted session compared line by line with
// hvrun's own CLI. The fixture: serve_docker.hpp.
#include <algorithm>
#include <chrono>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include "serve_docker.hpp"
#include "util/fd.hpp"
#include "util/fs.hpp"

namespace hvrun::test {
namespace {

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
  EXPECT_EQ(file_text(host + "/pw-docker"), docker({"exec", "cpc", "cat", "/etc/passwd"}).out);
  EXPECT_EQ(file_text(host + "/pw-hvrun"), file_text(host + "/pw-docker"));
  ASSERT_EQ(docker({"cp", "cpc:/tmp/newdir", host + "/out"}).code, 0);
  EXPECT_EQ(file_text(host + "/out/sub/b"), "deep\n");
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
  EXPECT_EQ(file_text(host + "/after-stop"), "hello\n");
  ASSERT_EQ(hv({"cp", host + "/big", "cpc:/tmp/big"}, "", 60).code, 0);
  ASSERT_EQ(hv({"cp", "cpc:/tmp/big", host + "/big-back"}, "", 60).code, 0);
  EXPECT_TRUE(file_text(host + "/big-back") == big) << "the big file did not come back whole";
  Result tar = docker({"cp", "cpc:/tmp/renamed.txt", "-"});
  EXPECT_EQ(tar.code, 0);
  EXPECT_NE(tar.out.find("renamed.txt"), std::string::npos);
}

// Root's docker cp into a container (and docker load) may send more than
// a request's 64 MiB: the body streams into a file in the store's
// serve-tmp/ as it arrives, so the server's memory does not grow with it
// (its peak RSS, VmHWM, stays far below the upload), the bytes arrive
// whole, and the file is gone once the request is done.
TEST_F(ServeDocker, ARootUploadLargerThanARequestBodyStreamsThroughAFileNotTheServersMemory) {
  const std::string host = root() + "/up";
  ASSERT_EQ(::mkdir(host.c_str(), 0755), 0);
  const off_t size = off_t{300} << 20;
  {
    UniqueFd f(::open((host + "/big").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    ASSERT_TRUE(f);
    ASSERT_EQ(::pwrite(f.get(), "head", 4, 0), 4);
    ASSERT_EQ(::pwrite(f.get(), "tail", 4, size - 4), 4);  // zeros between: read as data by the CLI's tar
  }
  ASSERT_EQ(docker({"run", "-d", "--name", "upc", "busybox", "sleep", "300"}).code, 0);
  Result in = docker({"cp", host + "/big", "upc:/tmp/big"}, 180);
  ASSERT_EQ(in.code, 0) << in.err;
  EXPECT_EQ(docker({"exec", "upc", "sh", "-c", "stat -c %s /tmp/big; head -c 4 /tmp/big; tail -c 4 /tmp/big"}).out,
            std::to_string(size) + "\nheadtail");
  long hwm_kib = 0;
  {
    std::ifstream st("/proc/" + std::to_string(server_) + "/status");
    for (std::string line; std::getline(st, line);)
      if (line.rfind("VmHWM:", 0) == 0) hwm_kib = std::stol(line.substr(6));
  }
  ASSERT_GT(hwm_kib, 0);
  EXPECT_LT(hwm_kib, 150 * 1024) << "the server's peak RSS grew with the 300 MiB upload";
  auto uploads_left = [&] {
    size_t n = 0;
    for (const auto& name : list_dir(root() + "/serve-tmp")) n += name.rfind("upload-", 0) == 0;
    return n;
  };
  EXPECT_EQ(uploads_left(), 0u);
  // docker load streams the same way: a saved image, tagged anew by the load.
  ASSERT_EQ(docker({"save", "-o", host + "/bb.tar", "busybox"}).code, 0);
  Result load = docker({"load", "-i", host + "/bb.tar"});
  ASSERT_EQ(load.code, 0) << load.err;
  EXPECT_NE(load.out.find("Loaded image: busybox:latest"), std::string::npos) << load.out;
  EXPECT_EQ(uploads_left(), 0u);
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
  // ps's NETWORKS and its network filter, through the API and in hvrun's own ps.
  const std::vector<std::string> ps = {"ps", "--filter", "network=tnet", "--format", "{{.Names}} {{.Networks}}"};
  EXPECT_EQ(docker(ps).out, "x hvrun,tnet\n");
  EXPECT_EQ(hv(ps).out, "x hvrun,tnet\n");
  EXPECT_EQ(docker({"ps", "-q", "--filter", "network=nosuch"}).out, "");
  EXPECT_NE(docker({"network", "inspect", "-f", "{{range .Containers}}{{.Name}}{{end}}", "tnet"}).out.find("x"), std::string::npos);
  Result twice = docker({"network", "connect", "tnet", "x"});
  EXPECT_NE(twice.err.find("already connected to network tnet"), std::string::npos) << twice.err;
  Result inuse = docker({"network", "rm", "tnet"});
  EXPECT_NE(inuse.err.find("is in use by container x"), std::string::npos) << inuse.err;
  Result disconnect = docker({"network", "disconnect", "tnet", "x"});
  ASSERT_EQ(disconnect.code, 0) << disconnect.err;
  Result links = docker({"exec", "x", "ip", "-o", "link"});
  ASSERT_EQ(links.code, 0) << links.err;
  EXPECT_NE(links.out.find("eth0"), std::string::npos) << links.out;
  EXPECT_EQ(links.out.find("eth1"), std::string::npos) << links.out;
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

TEST_F(ServeDocker, DockerRunInitAddHostDnsPidIpcAndStopSignalDoWhatHvrunsOwnFlagsDo) {
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
  // --pid host and --ipc host: the host's namespaces (the server's), as
  // hvrun's own flags give them.
  char pid_ns[64] = {}, ipc_ns[64] = {};
  ASSERT_GT(::readlink("/proc/self/ns/pid", pid_ns, sizeof pid_ns - 1), 0);
  ASSERT_GT(::readlink("/proc/self/ns/ipc", ipc_ns, sizeof ipc_ns - 1), 0);
  const std::vector<std::string> host_ns = {"run", "--rm", "--pid", "host", "--ipc", "host", "busybox", "sh", "-c",
                                            "readlink /proc/self/ns/pid; readlink /proc/self/ns/ipc; [ $$ != 1 ] && echo not-pid-1"};
  Result dns = docker(host_ns);
  EXPECT_EQ(dns.out, std::string(pid_ns) + "\n" + ipc_ns + "\nnot-pid-1\n") << dns.err;
  EXPECT_EQ(dns.out, hv(host_ns).out);
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
const std::regex& age_text() {
  static const std::regex age(
      "(Less than a second|About a minute|About an hour|[0-9]+ (second|minute|hour)s?)( ago)?");
  return age;
}
std::string same_ages(const std::string& text) {
  static const std::regex spaces("  +");
  return std::regex_replace(std::regex_replace(text, age_text(), "<age>"), spaces, "  ");
}
// The ages a table shows, in order ("Less than a second ago", "2 seconds").
std::vector<std::string> ages_in(const std::string& text) {
  std::vector<std::string> out;
  for (std::sregex_iterator it(text.begin(), text.end(), age_text()), end; it != end; ++it) out.push_back(it->str());
  return out;
}

TEST_F(ServeDocker, AScriptedSessionPrintsTheSameThroughTheDockerCliAsThroughHvrunsOwn) {
  // Commands that make or end something run once each way; the rest are compared.
  struct Step {
    std::vector<std::string> args;
    bool header = false;  // its first line is a table's header
  };
  auto both = [&](const Step& s) {
    Result d = docker(s.args), h = hv(s.args);
    // A table's widths follow its widest cell, an age among them: the two
    // runs, a moment apart, may straddle a second ("Less than a second ago"
    // against "1 second ago"). A table (read only) is read again until
    // both show the same ages, so that its header compares exactly.
    for (int i = 0; s.header && i < 5 && ages_in(d.out) != ages_in(h.out); ++i) {
      d = docker(s.args);
      h = hv(s.args);
    }
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

TEST_F(ServeDocker, AnImagesLabelsAreListedFilteredAndInheritedByItsContainers) {
  TempDir ctx;
  {
    std::ofstream(ctx.path() + "/Dockerfile") << "FROM busybox\nLABEL team=infra tier=back\n";
  }
  Result b = hv({"build", "-q", "--network", "none", "-t", "labelled:1", ctx.path()}, "", 300);
  ASSERT_EQ(b.code, 0) << b.err;
  const std::string fmt = "{{.Repository}}:{{.Tag}}";
  EXPECT_EQ(docker({"images", "--filter", "label=team=infra", "--format", fmt}).out, "labelled:1\n");
  EXPECT_EQ(docker({"images", "--filter", "label=team", "--format", fmt}).out, "labelled:1\n") << "busybox has no labels";
  EXPECT_EQ(docker({"images", "--filter", "label=team=infra", "--filter", "label=tier=front", "--format", fmt}).out, "")
      << "every label filter must match";
  EXPECT_EQ(docker({"images", "--filter", "dangling=true"}).code, 1) << "an unknown image filter is refused";
  // A container's labels start from its image's; --label wins for its key.
  ASSERT_EQ(docker({"create", "--name", "inh", "--label", "tier=front", "labelled:1", "true"}).code, 0);
  EXPECT_EQ(trim(docker({"inspect", "-f", "{{json .Config.Labels}}", "inh"}).out), "{\"team\":\"infra\",\"tier\":\"front\"}");
  EXPECT_EQ(trim(hv({"inspect", "-f", "{{json .Config.Labels}}", "inh"}).out), "{\"team\":\"infra\",\"tier\":\"front\"}");
  EXPECT_EQ(docker({"ps", "-a", "--filter", "label=team=infra", "--filter", "label=tier=front", "--format", "{{.Names}}"}).out,
            "inh\n");
  EXPECT_EQ(docker({"ps", "-a", "--filter", "label=team=infra", "--filter", "label=tier=back", "--format", "{{.Names}}"}).out,
            "");
  EXPECT_EQ(docker({"rm", "inh"}).code, 0);
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

}  // namespace
}  // namespace hvrun::test
