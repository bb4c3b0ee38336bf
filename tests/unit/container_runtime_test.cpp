// Container::start/wait/kill/cleanup end to end against a busybox rootfs.
#include <fcntl.h>
#include <sys/file.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "container/capabilities.hpp"
#include "container/cgroups.hpp"
#include "container_test_util.hpp"
#include "util/error.hpp"

namespace hvrun::container::testing {

std::string read_all(int fd) {
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.append(buf, size_t(n));
  }
  return out;
}

// Built once per (script, busybox) version and shared by every test process
// (ctest runs each test case in its own process): flock + build aside + rename.
const std::string& busybox_rootfs() {
  static const std::string dir = [] {
    std::string src = __FILE__;  // <source>/tests/unit/container_runtime_test.cpp
    for (int i = 0; i < 3; ++i) src = src.substr(0, src.rfind('/'));
    std::string script = src + "/scripts/make-busybox-rootfs.sh";
    struct stat bb {};
    ::stat("/bin/busybox", &bb);
    size_t h = std::hash<std::string>{}(read_file(script) + std::to_string(bb.st_size) + ":" +
                                        std::to_string(bb.st_mtim.tv_sec));
    char hex[32];
    std::snprintf(hex, sizeof hex, "%016zx", h);
    std::string d = std::string("/tmp/hvrun-test-busybox-") + hex;
    if (path_exists(d + "/.complete")) return d;
    UniqueFd lock(::open((d + ".lock").c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0600));
    if (!lock || ::flock(lock.get(), LOCK_EX) < 0) throw_sys("lock", d + ".lock");
    if (path_exists(d + "/.complete")) return d;
    std::string tmp = d + ".tmp." + std::to_string(::getpid());
    std::string cmd = script + " " + tmp + " >/dev/null && touch " + tmp + "/.complete";
    if (std::system(cmd.c_str()) != 0) throw Error("make-busybox-rootfs.sh failed");
    remove_all(d);
    if (::rename(tmp.c_str(), d.c_str()) < 0) throw_sys("rename", tmp);
    return d;
  }();
  return dir;
}

std::string scratch_dir(const std::string& tag) {
  static const bool registered = [] {
    std::atexit([] {
      std::string c = "rm -rf /tmp/hvrun-test-scratch-" + std::to_string(::getpid()) + "-*";
      (void)std::system(c.c_str());
    });
    return true;
  }();
  (void)registered;
  std::string d = "/tmp/hvrun-test-scratch-" + std::to_string(::getpid()) + "-" + tag + "-" + random_hex(4);
  mkdir_p(d);
  return d;
}

RunSpec base_spec(const std::vector<std::string>& args) {
  RunSpec s;
  s.id = random_hex(32);
  s.args = args;
  s.rootfs = busybox_rootfs();
  s.cgroup_parent = "hvrun-test";
  return s;
}

RunResult run_to_end(const RunSpec& spec) {
  Pipe p = Pipe::make();
  RunResult r;
  try {
    Container c = Container::start(spec, Stdio{-1, p.write.get(), p.write.get()});
    p.write.reset();
    r.out = read_all(p.read.get());
    r.status = c.wait();
  } catch (...) {
    cleanup(spec.id, spec.cgroup_parent, spec.cgroup_root);
    throw;
  }
  cleanup(spec.id, spec.cgroup_parent, spec.cgroup_root);
  return r;
}

namespace {


TEST(ContainerRuntime, WorkloadIsPid1InItsOwnPidNamespace) {
  HVRUN_REQUIRE_ROOT();
  // The glob is expanded by sh itself (echo is a builtin, nothing forked), so
  // /proc lists exactly the processes of the namespace: sh alone, as pid 1.
  // (Counting with `ls | wc -l` raced: ls could expand its glob before sh
  // had forked wc, seeing 2 processes instead of 3.)
  EXPECT_EQ(sh_out(sh("echo $$; echo /proc/[0-9]*")), "1\n/proc/1\n");
}

TEST(ContainerRuntime, HostnameIsTheSpecHostnameOrTheShortId) {
  HVRUN_REQUIRE_ROOT();
  auto s = sh("hostname");
  s.hostname = "box-one";
  EXPECT_EQ(sh_out(s), "box-one\n");
  auto t = sh("hostname");
  EXPECT_EQ(sh_out(t), t.id.substr(0, 12) + "\n");
}

TEST(ContainerRuntime, HostMountsAreNotVisibleInside) {
  HVRUN_REQUIRE_ROOT();
  std::string out = sh_out(sh("cut -d' ' -f2 /proc/self/mounts"));
  // Every mount point of the host outside /, /proc, /dev and /sys must be absent inside.
  std::ifstream host("/proc/self/mounts");
  std::string dev, mp, rest;
  int checked = 0;
  while (host >> dev >> mp && std::getline(host, rest)) {
    if (mp == "/" || mp.rfind("/proc", 0) == 0 || mp.rfind("/dev", 0) == 0 || mp.rfind("/sys", 0) == 0) continue;
    ++checked;
    EXPECT_EQ(out.find("\n" + mp + "\n"), std::string::npos) << mp << " leaked into:\n" << out;
  }
  EXPECT_EQ(out.substr(0, 2), "/\n") << out;
  EXPECT_NE(out.find("\n/proc\n"), std::string::npos) << out;
  EXPECT_GT(checked, 0) << "no host mount to compare with";
}

TEST(ContainerRuntime, ExitCodeIsPropagated) {
  HVRUN_REQUIRE_ROOT();
  auto r = run_to_end(sh("exit 42"));
  EXPECT_EQ(r.status.code, 42);
  EXPECT_EQ(r.status.exit_code(), 42);
  EXPECT_FALSE(r.status.oom_killed);
}

TEST(ContainerRuntime, DeathBySignalIs128PlusN) {
  HVRUN_REQUIRE_ROOT();
  auto s = base_spec({"/bin/sleep", "30"});
  Container c = Container::start(s, Stdio{});
  c.kill(SIGKILL);
  auto st = c.wait();
  cleanup(s.id, s.cgroup_parent);
  EXPECT_EQ(st.signal, SIGKILL);
  EXPECT_EQ(st.exit_code(), 137);
}

TEST(ContainerRuntime, MissingCommandThrowsExitError127) {
  HVRUN_REQUIRE_ROOT();
  auto s = base_spec({"no-such-command"});
  try {
    Container::start(s, Stdio{});
    FAIL() << "start succeeded";
  } catch (const ExitError& e) {
    EXPECT_EQ(e.exit_status(), 127);
    EXPECT_STREQ(e.what(), "exec no-such-command: No such file or directory");
  }
  EXPECT_FALSE(is_dir("/sys/fs/cgroup/memory/hvrun-test/" + s.id));
}

TEST(ContainerRuntime, NonExecutableCommandThrowsExitError126) {
  HVRUN_REQUIRE_ROOT();
  auto s = base_spec({"/etc/passwd"});
  try {
    Container::start(s, Stdio{});
    FAIL() << "start succeeded";
  } catch (const ExitError& e) {
    EXPECT_EQ(e.exit_status(), 126);
  }
}

TEST(ContainerRuntime, EnvIsExactlyTheSpecPlusDefaultPathAndTheUsersHome) {
  HVRUN_REQUIRE_ROOT();
  auto s = base_spec({"/bin/env"});
  s.env = {"FOO=bar", "HELLO=world"};
  EXPECT_EQ(sh_out(s),
            "FOO=bar\nHELLO=world\nPATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\nHOME=/root\n");
  auto t = base_spec({"/bin/env"});
  t.env = {"PATH=/bin", "HOME=/mine"};
  EXPECT_EQ(sh_out(t), "PATH=/bin\nHOME=/mine\n");
}

TEST(ContainerRuntime, HomeComesFromTheContainersPasswdOrIsSlashAsDocker) {
  HVRUN_REQUIRE_ROOT();
  auto s = sh("echo $HOME");
  s.user = "nobody";
  EXPECT_EQ(sh_out(s), "/nonexistent\n");
  auto t = sh("echo $HOME");
  t.user = "4242";  // no passwd entry
  EXPECT_EQ(sh_out(t), "/\n");
}

TEST(ContainerRuntime, CwdIsAppliedAndCreatedWhenMissing) {
  HVRUN_REQUIRE_ROOT();
  auto s = sh("pwd");
  s.cwd = "/work/dir";
  EXPECT_EQ(sh_out(s), "/work/dir\n");
  EXPECT_TRUE(is_dir(busybox_rootfs() + "/work/dir"));  // created inside the root, not on the host
}

TEST(ContainerRuntime, UserByNumberAndByNameWithGroup) {
  HVRUN_REQUIRE_ROOT();
  auto s = sh("id -u; id -g; id -G");
  s.user = "1000:1000";
  EXPECT_EQ(sh_out(s), "1000\n1000\n1000\n");
  auto t = sh("id -u; id -g");
  t.user = "nobody:nogroup";
  EXPECT_EQ(sh_out(t), "65534\n65534\n");
  auto u = sh("true");
  u.user = "no-such-user";
  EXPECT_THROW(run_to_end(u), Error);
}

TEST(ContainerRuntime, RootGetsDockerDefaultCapabilities) {
  HVRUN_REQUIRE_ROOT();
  std::string out = sh_out(sh("grep -E '^Cap(Inh|Prm|Eff|Bnd|Amb)' /proc/self/status"));
  EXPECT_NE(out.find("CapInh:\t0000000000000000"), std::string::npos) << out;
  EXPECT_NE(out.find("CapPrm:\t00000000a80425fb"), std::string::npos) << out;
  EXPECT_NE(out.find("CapEff:\t00000000a80425fb"), std::string::npos) << out;
  EXPECT_NE(out.find("CapBnd:\t00000000a80425fb"), std::string::npos) << out;
  EXPECT_NE(out.find("CapAmb:\t0000000000000000"), std::string::npos) << out;
}

TEST(ContainerRuntime, CapAddAndDropChangeTheEffectiveSet) {
  HVRUN_REQUIRE_ROOT();
  auto s = sh("grep CapEff /proc/self/status");
  s.cap_add = {"NET_ADMIN"};       // bit 12
  s.cap_drop = {"CAP_CHOWN"};      // bit 0
  EXPECT_EQ(sh_out(s), "CapEff:\t00000000a80435fa\n");
  auto t = sh("grep CapEff /proc/self/status");
  t.cap_drop = {"ALL"};
  EXPECT_EQ(sh_out(t), "CapEff:\t0000000000000000\n");
  auto u = sh("true");
  u.cap_add = {"NOT_A_CAP"};
  EXPECT_THROW(run_to_end(u), Error);
}

TEST(ContainerRuntime, NonRootUserHasNoCapabilitiesAndNoNewPrivsOnlyWhenAsked) {
  HVRUN_REQUIRE_ROOT();
  auto s = sh("grep -E '^(CapEff|NoNewPrivs)' /proc/self/status");
  s.user = "1000";
  // Docker's default: no_new_privs off, so set-user-ID programs work.
  EXPECT_EQ(sh_out(s), "CapEff:\t0000000000000000\nNoNewPrivs:\t0\n");
  s.no_new_privileges = true;
  EXPECT_EQ(sh_out(s), "CapEff:\t0000000000000000\nNoNewPrivs:\t1\n");
}

TEST(ContainerRuntime, FiltersAreInForceWithAndWithoutNoNewPrivs) {
  HVRUN_REQUIRE_ROOT();
  // Without no_new_privs the filters are loaded before the capabilities are
  // dropped (it needs CAP_SYS_ADMIN then): both still apply to the workload.
  for (bool nnp : {false, true}) {
    auto s = sh("grep -E '^Seccomp(_filters)?:' /proc/self/status; unshare -U true 2>/dev/null; echo unshare=$?");
    s.user = "1000";
    s.no_new_privileges = nnp;
    std::string out = sh_out(s);
    EXPECT_NE(out.find("Seccomp:\t2\n"), std::string::npos) << nnp << ": " << out;
    EXPECT_NE(out.find("Seccomp_filters:\t2\n"), std::string::npos) << "the mount guard and the profile: " << out;
    EXPECT_NE(out.find("unshare=1"), std::string::npos) << nnp << ": " << out;
  }
}

TEST(ContainerRuntime, PrivilegedHasEveryCapabilityNoFilterNoMasksAndAWritableSys) {
  HVRUN_REQUIRE_ROOT();
  auto s = sh("grep -E '^(CapEff|Seccomp):' /proc/self/status; grep -cE ' /proc/(timer_list|sys) ' /proc/self/mounts;"
              "grep ' /sys ' /proc/self/mounts | cut -d' ' -f4 | cut -d, -f1");
  s.privileged = true;
  s.cap_drop = {"ALL"};  // ignored, as by Docker's --privileged
  char want[64];
  std::snprintf(want, sizeof want, "CapEff:\t%016llx\n", static_cast<unsigned long long>(all_capabilities()));
  EXPECT_EQ(sh_out(s), std::string(want) + "Seccomp:\t0\n0\nrw\n");
  auto d = sh("grep -cE ' /proc/(timer_list|sys) ' /proc/self/mounts; grep ' /sys ' /proc/self/mounts | cut -d' ' -f4 | cut -d, -f1");
  EXPECT_EQ(sh_out(d), "2\nro\n");  // not privileged: masked, read-only
}

TEST(ContainerRuntime, DefaultSeccompBlocksUnshareAndKeyctlUnconfinedAllowsUnshare) {
  HVRUN_REQUIRE_ROOT();
  auto s = sh("unshare -U true; echo rc=$?; grep Seccomp: /proc/self/status");
  std::string out = sh_out(s);
  EXPECT_NE(out.find("Operation not permitted"), std::string::npos) << out;
  EXPECT_NE(out.find("rc=1"), std::string::npos) << out;
  EXPECT_NE(out.find("Seccomp:\t2"), std::string::npos) << out;
  auto u = sh("unshare -U true; echo rc=$?; grep Seccomp_filters: /proc/self/status");
  u.seccomp = Seccomp::from_string("unconfined");
  out = sh_out(u);
  EXPECT_NE(out.find("rc=0"), std::string::npos) << out;
  // No profile; the mount guard alone stays (only --privileged lifts it).
  EXPECT_NE(out.find("Seccomp_filters:\t1"), std::string::npos) << out;
}

TEST(ContainerRuntime, MalformedSeccompProfileIsAClearError) {
  HVRUN_REQUIRE_ROOT();
  auto s = sh("true");
  s.seccomp = Seccomp::from_string("{\"defaultAction\": ");
  try {
    run_to_end(s);
    FAIL() << "started";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("seccomp profile: malformed JSON"), std::string::npos) << e.what();
  }
}

TEST(ContainerRuntime, MaskedPathsAreEmptyAndReadonlyPathsReadOnly) {
  HVRUN_REQUIRE_ROOT();
  std::string out = sh_out(
      sh("wc -c < /proc/keys; ls /proc/acpi 2>/dev/null | wc -l; ls /sys/firmware | wc -l;"
         "(echo 1 > /proc/sys/kernel/domainname) 2>/dev/null && echo wrote || echo refused;"
         "touch /sys/x 2>/dev/null && echo sys-rw || echo sys-ro"));
  EXPECT_EQ(out, "0\n0\n0\nrefused\nsys-ro\n") << out;
}

TEST(ContainerRuntime, DevHasTheMinimalNodesAndDevpts) {
  HVRUN_REQUIRE_ROOT();
  std::string out = sh_out(sh("ls /dev | tr '\\n' ' '; echo; readlink /dev/ptmx; echo x > /dev/null && echo null-ok;"
                              "head -c 4 /dev/zero | wc -c; grep -E ' /dev/pts ' /proc/self/mounts"));
  EXPECT_EQ(out.substr(0, out.find('\n')), "core fd full mqueue null ptmx pts random shm stderr stdin stdout tty urandom zero ")
      << out;
  EXPECT_NE(out.find("pts/ptmx\nnull-ok\n4\n"), std::string::npos) << out;
  EXPECT_NE(out.find("gid=5,mode=620,ptmxmode=666"), std::string::npos) << out;
}

TEST(ContainerRuntime, ReadonlyRootfsRefusesWrites) {
  HVRUN_REQUIRE_ROOT();
  auto s = sh("touch /newfile 2>/dev/null && echo wrote || echo refused; touch /dev/shm/ok && echo shm-ok");
  s.readonly_rootfs = true;
  EXPECT_EQ(sh_out(s), "refused\nshm-ok\n");
  EXPECT_FALSE(path_exists(busybox_rootfs() + "/newfile"));
  auto t = sh("pwd");  // a missing workdir is still created (before / turns read-only)
  t.readonly_rootfs = true;
  t.cwd = "/ro-workdir";
  EXPECT_EQ(sh_out(t), "/ro-workdir\n");
}

TEST(ContainerRuntime, BindMountsReadWriteAndReadOnly) {
  HVRUN_REQUIRE_ROOT();
  std::string rw = scratch_dir("rw"), ro = scratch_dir("ro");
  { std::ofstream(ro + "/hello") << "hi\n"; }
  auto s = sh("echo data > /mnt/rw/f && echo rw-ok; cat /opt/ro/hello; touch /opt/ro/x 2>/dev/null || echo ro-refused");
  s.mounts = {{rw, "/mnt/rw", false}, {ro, "/opt/ro", true}};
  EXPECT_EQ(sh_out(s), "rw-ok\nhi\nro-refused\n");
  EXPECT_EQ(read_file(rw + "/f"), "data\n");
  EXPECT_FALSE(path_exists(ro + "/x"));
  auto t = sh("true");
  t.mounts = {{"/no/such/source", "/mnt/x", false}};
  try {
    run_to_end(t);
    FAIL() << "started";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/no/such/source: No such file or directory"), std::string::npos) << e.what();
  }
}

TEST(ContainerRuntime, OverlayWritesLandInUpperdirAndLowerIsUntouched) {
  HVRUN_REQUIRE_ROOT();
  std::string d = scratch_dir("ovl");
  mkdir_p(d + "/upper");
  mkdir_p(d + "/work");
  mkdir_p(d + "/top/etc");
  { std::ofstream(d + "/top/etc/motd") << "from top\n"; }
  auto s = sh("cat /etc/motd; echo new > /created; echo changed > /etc/hostname; rm /bin/vi; ls /bin/vi 2>&1 | wc -l");
  s.rootfs.clear();
  s.lowerdirs = {d + "/top", busybox_rootfs()};
  s.upperdir = d + "/upper";
  s.workdir = d + "/work";
  EXPECT_EQ(sh_out(s), "from top\n1\n");
  EXPECT_EQ(read_file(d + "/upper/created"), "new\n");
  EXPECT_EQ(read_file(d + "/upper/etc/hostname"), "changed\n");
  EXPECT_EQ(read_file(busybox_rootfs() + "/etc/hostname"), "busybox\n");
  EXPECT_FALSE(path_exists(d + "/top/created"));
  struct stat st {};
  EXPECT_EQ(::lstat((busybox_rootfs() + "/bin/vi").c_str(), &st), 0);
}

TEST(ContainerRuntime, VolatileRootfsIsAnOverlayMountedVolatileAndStillWritesToUpperdir) {
  HVRUN_REQUIRE_ROOT();
  std::string d = scratch_dir("ovl-v");
  mkdir_p(d + "/upper");
  mkdir_p(d + "/work");
  // Shown as ",volatile" or (6.x) ",fsync=volatile" in the super options.
  auto s = sh("grep -cE ' / .*[,=]volatile(,|$)' /proc/self/mountinfo; echo kept > /created");
  s.rootfs.clear();
  s.lowerdirs = {busybox_rootfs()};
  s.upperdir = d + "/upper";
  s.workdir = d + "/work";
  s.volatile_rootfs = true;
  EXPECT_EQ(sh_out(s), "1\n");
  EXPECT_EQ(read_file(d + "/upper/created"), "kept\n");
  s.volatile_rootfs = false;
  s.id = random_hex(32);
  mkdir_p(d + "/upper2");
  mkdir_p(d + "/work2");
  s.upperdir = d + "/upper2";
  s.workdir = d + "/work2";
  EXPECT_EQ(sh_out(s), "0\n");
}

TEST(ContainerRuntime, ManyLayersWithLongPathsStillMount) {
  HVRUN_REQUIRE_ROOT();
  std::string d = scratch_dir("many-layers");
  mkdir_p(d + "/upper");
  mkdir_p(d + "/work");
  auto s = sh("cat /layer-0 /layer-59");
  s.rootfs.clear();
  std::string longname(120, 'x');
  for (int i = 0; i < 60; ++i) {
    std::string l = d + "/" + longname + "-" + std::to_string(i);
    mkdir_p(l);
    std::ofstream(l + "/layer-" + std::to_string(i)) << i << "\n";
    s.lowerdirs.push_back(l);
  }
  s.lowerdirs.push_back(busybox_rootfs());
  s.upperdir = d + "/upper";
  s.workdir = d + "/work";
  auto r = run_to_end(s);
  EXPECT_EQ(r.out, "0\n59\n");
}

TEST(ContainerRuntime, MemoryLimitOomKillIsReported) {
  HVRUN_REQUIRE_ROOT();
  auto s = sh("x=aaaaaaaaaaaaaaaa; while :; do x=$x$x; done");
  s.memory_bytes = 32 << 20;
  auto r = run_to_end(s);
  EXPECT_TRUE(r.status.oom_killed);
  EXPECT_EQ(r.status.exit_code(), 137);
}

TEST(ContainerRuntime, PidsLimitStopsAForkLoop) {
  HVRUN_REQUIRE_ROOT();
  // 40 background sleeps, then count processes with a glob (no fork needed).
  const std::string loop =
      "i=0; while [ $i -lt 40 ]; do sleep 5 & i=$((i+1)); echo $i > $MARK; done;"
      "set -- /proc/[0-9]*; echo procs=$#";
  auto s = sh(loop);
  s.pids_limit = 10;
  std::string mark = "/tmp/started-" + s.id;
  s.env = {"MARK=" + mark};
  auto r = run_to_end(s);
  // The shell's fork fails once 10 tasks exist: it gives up before the 10th sleep.
  EXPECT_NE(r.out.find("can't fork"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("procs="), std::string::npos) << r.out;
  EXPECT_EQ(read_file(busybox_rootfs() + mark), "9\n");
  ::unlink((busybox_rootfs() + mark).c_str());
  auto u = sh(loop);
  u.env = {"MARK=/dev/null"};
  auto r2 = run_to_end(u);
  EXPECT_NE(r2.out.find("procs=41"), std::string::npos) << r2.out;  // without a limit all 40 start
}

TEST(ContainerRuntime, CpuQuotaIsWrittenToTheCgroup) {
  HVRUN_REQUIRE_ROOT();
  auto s = base_spec({"/bin/sleep", "30"});
  s.cpus = 0.5;
  Container c = Container::start(s, Stdio{});
  auto cg = Cgroup::for_container(s.cgroup_parent, s.id);
  std::string quota;
  if (cg->version() == CgroupVersion::V2) {
    quota = read_file(cg->path() + "/cpu.max");
    EXPECT_EQ(quota, "50000 100000\n");
  } else {
    for (auto& p : cg->paths())
      if (path_exists(p + "/cpu.cfs_quota_us")) quota = read_file(p + "/cpu.cfs_quota_us");
    EXPECT_EQ(quota, "50000\n");
  }
  c.kill(SIGKILL);
  c.wait();
  cleanup(s.id, s.cgroup_parent);
}

TEST(ContainerRuntime, CleanupKillsEverythingAndRemovesTheCgroupTwiceSafely) {
  HVRUN_REQUIRE_ROOT();
  auto s = sh("sleep 30 & sleep 30");
  Container c = Container::start(s, Stdio{});
  auto cg = Cgroup::for_container(s.cgroup_parent, s.id);
  auto paths = cg->paths();
  ASSERT_FALSE(paths.empty());
  for (auto& p : paths) EXPECT_TRUE(is_dir(p)) << p;
  cleanup(s.id, s.cgroup_parent);
  auto st = c.wait();
  EXPECT_EQ(st.signal, SIGKILL);
  for (auto& p : paths) EXPECT_FALSE(path_exists(p)) << p;
  EXPECT_NO_THROW(cleanup(s.id, s.cgroup_parent));
}

TEST(ContainerRuntime, CgroupFsIsReadOnlyAndRootedAtTheContainer) {
  HVRUN_REQUIRE_ROOT();
  std::string out = sh_out(sh("cat /proc/self/cgroup | grep -c ':/$'; grep -c ' /sys/fs/cgroup' /proc/self/mounts;"
                              "mkdir /sys/fs/cgroup/x 2>/dev/null || echo refused"));
  // Every hierarchy line ends in "/" (the container's cgroup is the root of its view).
  std::string lines = sh_out(sh("wc -l < /proc/self/cgroup"));
  EXPECT_EQ(out.substr(0, out.find('\n') + 1), lines) << out;
  EXPECT_NE(out.find("refused"), std::string::npos) << out;
}

// Reads the pty master until `marker` shows up (or EOF/EIO).
std::string read_until(int fd, const std::string& marker) {
  std::string out;
  char buf[512];
  while (marker.empty() || out.find(marker) == std::string::npos) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;  // EIO once the slave side is gone
    out.append(buf, size_t(n));
  }
  return out;
}

TEST(ContainerRuntime, TtyIsATerminalWithTheInitialSizeAndResizes) {
  HVRUN_REQUIRE_ROOT();
  auto s = sh("[ -t 0 ] && [ -t 1 ] && echo is-a-tty; tty; readlink /proc/self/fd/0; stty size; read x; stty size");
  s.tty = true;
  s.tty_rows = 33;
  s.tty_cols = 111;
  Container c = Container::start(s, Stdio{});
  ASSERT_GE(c.pty_master(), 0);
  std::string out = read_until(c.pty_master(), "33 111");
  c.set_pty_size(40, 100);
  ASSERT_EQ(::write(c.pty_master(), "\n", 1), 1);
  UniqueFd m = c.take_pty_master();
  out += read_until(m.get(), "");
  auto st = c.wait();
  cleanup(s.id, s.cgroup_parent);
  EXPECT_EQ(st.exit_code(), 0);
  EXPECT_NE(out.find("is-a-tty"), std::string::npos) << out;
  EXPECT_NE(out.find("/dev/pts/0\r\n/dev/pts/0"), std::string::npos) << out;
  EXPECT_NE(out.find("33 111"), std::string::npos) << out;
  EXPECT_NE(out.find("40 100"), std::string::npos) << out;
}

TEST(ContainerRuntime, TtyConsoleIsThePtySlave) {
  HVRUN_REQUIRE_ROOT();
  auto s = sh("echo via-console > /dev/console");
  s.tty = true;
  Container c = Container::start(s, Stdio{});
  std::string out = read_until(c.pty_master(), "via-console");
  c.wait();
  cleanup(s.id, s.cgroup_parent);
  EXPECT_NE(out.find("via-console"), std::string::npos) << out;
}

TEST(ContainerRuntime, UserNamespaceMapsRootToTheUnprivilegedRange) {
  HVRUN_REQUIRE_ROOT();
  auto s = sh("cat /proc/self/uid_map; id -u");
  s.userns = true;
  std::string out = sh_out(s);
  EXPECT_NE(out.find("0     100000      65536"), std::string::npos) << out;
  EXPECT_NE(out.find("\n0\n"), std::string::npos) << out;
}

TEST(ContainerRuntime, ExecJoinsTheContainersNamespaces) {
  HVRUN_REQUIRE_ROOT();
  auto s = base_spec({"/bin/sleep", "30"});
  s.hostname = "exec-target";
  s.env = {"A=1"};
  Container c = Container::start(s, Stdio{});
  Pipe p = Pipe::make();
  ExecSpec es;
  es.args = {"/bin/sh", "-c", "hostname; ps -o pid,comm | grep -c sleep; echo $A$B; readlink /proc/1/exe || echo no-access; id -u; pwd"};
  es.env = {"B=2"};
  es.user = "nobody";
  es.cwd = "/tmp";
  auto h = exec_start(c.pid(), s, es, Stdio{-1, p.write.get(), p.write.get()});
  p.write.reset();
  std::string out = read_all(p.read.get());
  auto st = exec_wait(h.pid);
  c.kill(SIGKILL);
  c.wait();
  cleanup(s.id, s.cgroup_parent);
  EXPECT_EQ(st.exit_code(), 0);
  EXPECT_EQ(out, "exec-target\n1\n12\nno-access\n65534\n/tmp\n");
}

TEST(ContainerRuntime, ExecOfAMissingCommandIs127) {
  HVRUN_REQUIRE_ROOT();
  auto s = base_spec({"/bin/sleep", "30"});
  Container c = Container::start(s, Stdio{});
  ExecSpec es;
  es.args = {"nope"};
  try {
    exec_start(c.pid(), s, es, Stdio{});
    ADD_FAILURE() << "exec succeeded";
  } catch (const ExitError& e) {
    EXPECT_EQ(e.exit_status(), 127);
  }
  c.kill(SIGKILL);
  c.wait();
  cleanup(s.id, s.cgroup_parent);
}

TEST(ContainerRuntime, CgroupV2PathEndToEndOnTheHostsCgroup2Mount) {
  HVRUN_REQUIRE_ROOT();
  std::string root;
  for (const char* r : {"/sys/fs/cgroup", "/sys/fs/cgroup/unified"})
    if (path_exists(r) && detect_cgroup_version(r) == CgroupVersion::V2) root = r;
  if (root.empty()) GTEST_SKIP() << "no cgroup2 mount on this host";
  auto s = sh("grep '^0::' /proc/self/cgroup; grep ' /sys/fs/cgroup ' /proc/self/mounts | cut -d' ' -f3,4 | cut -c1-10;"
              "echo done; sleep 30 & exec sleep 30");
  s.cgroup_root = root;
  Pipe p = Pipe::make();
  Container c = Container::start(s, Stdio{-1, p.write.get(), p.write.get()});
  p.write.reset();
  std::string dir = root + "/hvrun-test/" + s.id;
  EXPECT_EQ(c.cgroup_path(), dir);
  std::string out;
  char buf[256];
  while (out.find("done\n") == std::string::npos) {
    ssize_t n = ::read(p.read.get(), buf, sizeof buf);
    if (n <= 0) break;
    out.append(buf, size_t(n));
  }
  EXPECT_EQ(out, "0::/\ncgroup2 ro\ndone\n");
  EXPECT_NE(read_file(dir + "/cgroup.procs").find(std::to_string(c.pid())), std::string::npos);
  cleanup(s.id, s.cgroup_parent, s.cgroup_root);  // cgroup.kill
  auto st = c.wait();
  EXPECT_EQ(st.signal, SIGKILL);
  EXPECT_FALSE(path_exists(dir));
}

TEST(ContainerRuntime, ContainerDiesWithTheProcessThatStartedIt) {
  HVRUN_REQUIRE_ROOT();
  auto s = base_spec({"/bin/sleep", "30"});
  Pipe p = Pipe::make();
  pid_t monitor = ::fork();
  if (monitor == 0) {
    try {
      Container c = Container::start(s, Stdio{});
      pid_t pid = c.pid();
      (void)!::write(p.write.get(), &pid, sizeof pid);
    } catch (...) {
    }
    ::_exit(0);  // no destructor, no wait: a monitor that dies abruptly
  }
  p.write.reset();
  pid_t init = -1;
  ASSERT_EQ(::read(p.read.get(), &init, sizeof init), ssize_t(sizeof init));
  int st;
  ::waitpid(monitor, &st, 0);
  bool gone = false;
  for (int i = 0; i < 400 && !gone; ++i) {
    gone = ::kill(init, 0) < 0 && errno == ESRCH;
    if (!gone) ::usleep(5000);
  }
  EXPECT_TRUE(gone) << "container init " << init << " outlived its monitor";
  cleanup(s.id, s.cgroup_parent);
}

TEST(ContainerRuntime, ExecWithTtyGetsATerminal) {
  HVRUN_REQUIRE_ROOT();
  auto s = base_spec({"/bin/sleep", "30"});
  Container c = Container::start(s, Stdio{});
  ExecSpec es;
  es.args = {"/bin/sh", "-c", "[ -t 0 ] && [ -t 1 ] && echo exec-tty; tty"};
  es.tty = true;
  auto h = exec_start(c.pid(), s, es, Stdio{});
  ASSERT_TRUE(h.pty_master);
  std::string out;
  char buf[512];
  for (;;) {
    ssize_t n = ::read(h.pty_master.get(), buf, sizeof buf);
    if (n <= 0) break;
    out.append(buf, size_t(n));
  }
  auto st = exec_wait(h.pid);
  c.kill(SIGKILL);
  c.wait();
  cleanup(s.id, s.cgroup_parent);
  EXPECT_EQ(st.exit_code(), 0);
  EXPECT_NE(out.find("exec-tty"), std::string::npos) << out;
  EXPECT_NE(out.find("/dev/pts/"), std::string::npos) << out;
}

TEST(ContainerRuntime, ExecJoinsAUserNamespacedContainer) {
  HVRUN_REQUIRE_ROOT();
  auto s = base_spec({"/bin/sleep", "30"});
  s.userns = true;
  s.hostname = "userns-box";
  Container c = Container::start(s, Stdio{});
  Pipe p = Pipe::make();
  ExecSpec es;
  es.args = {"/bin/sh", "-c", "hostname; id -u; cat /proc/self/uid_map"};
  auto h = exec_start(c.pid(), s, es, Stdio{-1, p.write.get(), p.write.get()});
  p.write.reset();
  std::string out = read_all(p.read.get());
  auto st = exec_wait(h.pid);
  c.kill(SIGKILL);
  c.wait();
  cleanup(s.id, s.cgroup_parent);
  EXPECT_EQ(st.exit_code(), 0) << out;
  EXPECT_NE(out.find("userns-box\n0\n"), std::string::npos) << out;
  EXPECT_NE(out.find("100000"), std::string::npos) << out;
}

}  // namespace
}  // namespace hvrun::container::testing

namespace hvrun::container::testing {
namespace {

// The image layers are idmapped into the container's user namespace: host
// root-owned files belong to the container's root, copy-up works, and what
// the container writes lands in upperdir owned by the mapped root (100000).
TEST(ContainerRuntime, UserNamespaceOverlayLayersAreIdmappedToTheContainerRoot) {
  HVRUN_REQUIRE_ROOT();
  std::string d = scratch_dir("ovl-userns");
  mkdir_p(d + "/upper");
  mkdir_p(d + "/work");
  auto s = sh("stat -c %u:%g /bin/busybox /etc/passwd; echo hi > /etc/new && cat /etc/new; id -u");
  s.rootfs.clear();
  s.lowerdirs = {busybox_rootfs()};
  s.upperdir = d + "/upper";
  s.workdir = d + "/work";
  s.userns = true;
  auto r = run_to_end(s);
  EXPECT_EQ(r.out, "0:0\n0:0\nhi\n0\n");
  struct stat st {};
  ASSERT_EQ(::stat((d + "/upper/etc/new").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 100000u);  // container root, as the host sees it
  EXPECT_FALSE(path_exists(busybox_rootfs() + "/etc/new"));
}

TEST(ContainerRuntime, UserNamespaceRootfsDirIsIdmappedToo) {
  HVRUN_REQUIRE_ROOT();
  auto s = sh("stat -c %u:%g /etc/passwd; touch /etc/passwd && echo root-can-write");
  s.userns = true;
  s.readonly_rootfs = true;  // keep the shared rootfs untouched: the write must be refused as read-only, not EPERM
  auto r = run_to_end(s);
  EXPECT_NE(r.out.find("0:0\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Read-only file system"), std::string::npos) << r.out;
}

TEST(ContainerRuntime, UserNamespaceWithHostNetworkStillGetsAReadOnlySys) {
  HVRUN_REQUIRE_ROOT();
  // sysfs cannot be mounted from a userns that does not own the netns: the
  // host's /sys is bound read-only instead, with the masks on top.
  auto s = sh("touch /sys/x 2>/dev/null && echo sys-rw || echo sys-ro; ls /sys/firmware | wc -l; ls /sys/class/net | wc -l");
  s.userns = true;
  s.net = NetMode::Host;
  std::string host_count = std::to_string(std::count_if(
      std::filesystem::directory_iterator("/sys/class/net"), std::filesystem::directory_iterator(), [](auto&) { return true; }));
  EXPECT_EQ(sh_out(s), "sys-ro\n0\n" + host_count + "\n");
}

TEST(ContainerRuntime, DeviceNodesMadeInsideCannotBeOpened) {
  HVRUN_REQUIRE_ROOT();
  // CAP_MKNOD is a default capability, but the rootfs is nodev (and on v1 the
  // devices cgroup refuses it too): a block device node is useless.
  // The host's root block device, which surely exists.
  struct stat root {};
  ASSERT_EQ(::stat("/", &root), 0);
  std::string mm = std::to_string(major(root.st_dev)) + " " + std::to_string(minor(root.st_dev));
  // The rootfs is shared by every test here, and NoKvmHost runs this same
  // test beside the main run: inside, $$ is always 1, so the name carries the
  // host pid.
  std::string node = "/tmp/disk-" + std::to_string(::getpid());
  auto r = run_to_end(sh("mknod " + node + " b " + mm + " && (head -c1 " + node + " >/dev/null 2>&1 && echo opened || echo refused);"
                         "rm -f " + node));
  EXPECT_EQ(r.out, "refused\n");
  auto c = sh("mknod /dev/shm/null-$$ c 1 3 && (echo x > /dev/shm/null-$$) 2>/dev/null && echo opened || echo refused");
  EXPECT_EQ(sh_out(c), "refused\n");
}

TEST(ContainerRuntime, NetNoneHasOnlyLoopbackAndNetHostSeesTheHost) {
  HVRUN_REQUIRE_ROOT();
  EXPECT_EQ(sh_out(sh("ls /sys/class/net")), "lo\n");
  auto s = sh("ls /sys/class/net | wc -l");
  s.net = NetMode::Host;
  std::string host_count = std::to_string(std::count_if(
      std::filesystem::directory_iterator("/sys/class/net"), std::filesystem::directory_iterator(), [](auto&) { return true; }));
  EXPECT_EQ(sh_out(s), host_count + "\n");
}

}  // namespace
}  // namespace hvrun::container::testing
