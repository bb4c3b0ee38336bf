// The real podman with hvrun-oci as its OCI runtime (podman --runtime):
// run --rm, exit codes, the config podman writes (env, cwd, user,
// hostname, memory limit), run -d, logs, exec (plain, -t, with env/user),
// stop, ps and rm; a bridge network of podman's (netavark) and a pod whose
// containers join its infra container's namespaces by path. podman keeps a
// store and network configs of its own (vfs, cgroupfs, no systemd): nothing
// of the machine's podman state is read or changed.
#include <unistd.h>

#include <fstream>
#include <iterator>

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
    std::ofstream(dir_->path() + "/containers.conf") <<
               "[containers]\ndefault_ulimits = [\"nofile=1024:1024\", \"nproc=1024:1024\"]\n";
    Result tar = run({"tar", "-C", busybox_rootfs(), "-cf", dir_->path() + "/bb.tar", "."});
    ASSERT_EQ(tar.code, 0) << tar.err;
    Result imp = podman({"import", "-q", dir_->path() + "/bb.tar", "localhost/bb:latest"});
    ASSERT_EQ(imp.code, 0) << imp.err;
  }
  void TearDown() override {
    if (!dir_) return;
    podman({"rm", "-af", "-t", "0"});
    podman({"pod", "rm", "-af", "-t", "0"});
    podman({"network", "rm", "-f", "hvrun-test-net"});
  }
  Result podman(const std::vector<std::string>& args, int timeout_s = 120) const {
    // podman asks for rlimits (nofile, nproc 1048576) above the hard limits
    // a container host may set, and hvrun-oci applies them as runc does:
    // a containers.conf of the test's own gives every container (a pod's
    // infra container too) the same modest ones as
    // tests/integration/image_archive_test.cpp.
    std::vector<std::string> argv{"env", "CONTAINERS_CONF=" + dir_->path() + "/containers.conf", "podman", "--root", dir_->path() + "/storage", "--runroot", dir_->path() + "/run",
                                  "--tmpdir", dir_->path() + "/tmp", "--storage-driver", "vfs", "--runtime",
                                  HVRUN_OCI_BIN, "--cgroup-manager", "cgroupfs", "--events-backend", "file",
                                  "--network-config-dir", dir_->path() + "/networks"};
    argv.insert(argv.end(), args.begin(), args.end());
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

// podman's default path for networks: the container's network namespace
// is made by podman (netavark) and joined by path (linux.namespaces), and
// a pod's containers join its infra container's network and uts
// namespaces: one container serves on 127.0.0.1, another reaches it.
TEST_F(OciPodman, ABridgeNetworkAndAPodsSharedNamespacesAreJoinedByPath) {
  Result net = podman({"network", "create", "--subnet", "10.213.7.0/24", "--disable-dns",
                       "hvrun-test-net"});
  ASSERT_EQ(net.code, 0) << net.err;
  Result addr = podman({"run", "--rm", "--network", "hvrun-test-net", "--ip", "10.213.7.9", "localhost/bb", "sh", "-c",
                        "ip -4 -o addr show eth0 | grep -o 'inet [0-9./]*'; ip route | grep -o '^default via [0-9.]*'"});
  ASSERT_EQ(addr.code, 0) << addr.err;
  EXPECT_EQ(addr.out, "inet 10.213.7.9/24\ndefault via 10.213.7.1\n");
  // Across the bridge: a second container reaches the first's server.
  Result web = podman({"run", "-d", "--network", "hvrun-test-net", "--ip", "10.213.7.10", "--name", "web",
                       "localhost/bb", "sh", "-c", "echo served-by-web > /tmp/i; exec httpd -f -p 8080 -h /tmp"});
  ASSERT_EQ(web.code, 0) << web.err;
  Result get = podman({"run", "--rm", "--network", "hvrun-test-net", "localhost/bb", "sh", "-c",
                       "for i in $(seq 50); do wget -qO- http://10.213.7.10:8080/i && exit 0; sleep 0.3; done; exit 1"});
  EXPECT_EQ(get.code, 0) << get.err;
  EXPECT_EQ(get.out, "served-by-web\n");

  Result pod = podman({"pod", "create", "--name", "p1", "--hostname", "podhost", "--network", "none"});
  ASSERT_EQ(pod.code, 0) << pod.err;
  Result srv = podman({"run", "-d", "--pod", "p1", "--name", "srv", "localhost/bb", "sh", "-c",
                       "hostname > /tmp/h; exec httpd -f -p 8081 -h /tmp"});
  ASSERT_EQ(srv.code, 0) << srv.err;
  Result cli = podman({"run", "--rm", "--pod", "p1", "localhost/bb", "sh", "-c",
                       "for i in $(seq 50); do wget -qO- http://127.0.0.1:8081/h && exit 0; sleep 0.3; done; exit 1"});
  EXPECT_EQ(cli.code, 0) << cli.err;
  EXPECT_EQ(cli.out, "podhost\n");
}

// podman --uidmap: a user namespace of its own for the container, with
// the network namespace podman made (netavark) joined by path; the
// container's root is host uid 200000 and has its address on the bridge.
TEST_F(OciPodman, AUidmapContainerGetsItsOwnUserNamespaceAndPodmansNetworkNamespace) {
  Result net = podman({"network", "create", "--subnet", "10.213.7.0/24", "--disable-dns", "hvrun-test-net"});
  ASSERT_EQ(net.code, 0) << net.err;
  Result r = podman({"run", "--rm", "--uidmap", "0:200000:65536", "--gidmap", "0:200000:65536", "--network",
                     "hvrun-test-net", "--ip", "10.213.7.11", "localhost/bb", "sh", "-c",
                     "head -1 /proc/self/uid_map | tr -s ' '; id -u; ip -4 -o addr show eth0 | grep -o 'inet [0-9./]*'; "
                     "stat -c %u /bin; touch /tmp/x && echo writable"});
  ASSERT_EQ(r.code, 0) << r.err;
  // podman gave the container a copy of the image owned by its mapped root:
  // root's inside, as with runc.
  EXPECT_EQ(r.out, " 0 200000 65536\n0\ninet 10.213.7.11/24\n0\nwritable\n");
}

// podman pod create --uidmap: the infra container gets a new user
// namespace (with the pod's network namespace joined by path), and each
// container of the pod joins that user namespace by path, with the pod's
// network, ipc and uts namespaces, and a pid namespace of its own.
TEST_F(OciPodman, APodsContainersJoinItsUserNamespaceByPath) {
  Result net = podman({"network", "create", "--subnet", "10.213.7.0/24", "--disable-dns", "hvrun-test-net"});
  ASSERT_EQ(net.code, 0) << net.err;
  Result pod = podman({"pod", "create", "--name", "up1", "--uidmap", "0:300000:65536", "--gidmap", "0:300000:65536",
                       "--network", "hvrun-test-net", "--hostname", "podhost"});
  ASSERT_EQ(pod.code, 0) << pod.err;
  Result srv = podman({"run", "-d", "--pod", "up1", "--name", "usrv", "localhost/bb", "sh", "-c",
                       "echo from-uid-$(id -u) > /tmp/i; exec httpd -f -p 8082 -h /tmp"});
  ASSERT_EQ(srv.code, 0) << srv.err;
  Result cli = podman({"run", "--rm", "--pod", "up1", "localhost/bb", "sh", "-c",
                       "head -1 /proc/self/uid_map | tr -s ' '; echo $$; hostname; "
                       "for i in $(seq 50); do wget -qO- http://127.0.0.1:8082/i && exit 0; sleep 0.3; done; exit 1"});
  EXPECT_EQ(cli.code, 0) << cli.err;
  EXPECT_EQ(cli.out, " 0 300000 65536\n1\npodhost\nfrom-uid-0\n");
  Result top = podman({"inspect", "--format", "{{.State.Pid}}", "usrv"});
  ASSERT_EQ(top.code, 0) << top.err;
  std::ifstream status_file("/proc/" + trim(top.out) + "/status");
  const std::string status((std::istreambuf_iterator<char>(status_file)), std::istreambuf_iterator<char>());
  EXPECT_NE(status.find("Uid:\t300000\t300000"), std::string::npos)
      << "the pod's container is not host uid 300000";
}

}  // namespace
}  // namespace hvrun::test
