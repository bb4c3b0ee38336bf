// One test per container-escape class other runtimes shipped
// (../shared/notes/container-security-baseline.md, docs/security.md "CVE
// regression tests"). Each starts a container with the built hvrun, makes
// the workload (or a hostile image) attempt the attack the CVE describes,
// and checks the host afterwards.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "tests/integration/harness.hpp"

namespace hvrun::test {
namespace {

namespace fs = std::filesystem;

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool same_bytes(const std::string& a, const std::string& b) { return run({"cmp", "-s", a, b}).code == 0; }

class SecurityCve : public StoreFixture {
 protected:
  void SetUp() override {
    HVRUN_REQUIRE_ROOT();
    StoreFixture::SetUp();
  }
  // Imports a copy of the busybox rootfs as `name`, changed by `script`
  // (run by the host's sh in the copy's directory) first.
  void hostile_image(const std::string& name, const std::string& script) {
    images_.push_back(std::make_unique<TempDir>());
    std::string dir = images_.back()->path() + "/rootfs";
    Result cp = run({"cp", "-a", busybox_rootfs(), dir});
    ASSERT_EQ(cp.code, 0) << cp.err;
    Result s = run({"sh", "-c", "set -e; cd " + dir + "; " + script});
    ASSERT_EQ(s.code, 0) << s.err;
    Result i = hv({"image", "import", dir, "--name", name + ":latest"});
    ASSERT_EQ(i.code, 0) << i.err;
  }
  Result runc(std::vector<std::string> args, int timeout_s = 60) {
    args.insert(args.begin(), {"run", "--rm", "--net", "none"});
    return hv(args, "", timeout_s);
  }
  std::vector<std::unique_ptr<TempDir>> images_;
};

// --- CVE-2019-5736 ---------------------------------------------------------
// The image's /evil starts "#!/proc/self/exe" and its ELF interpreter is the
// payload (exe_overwrite_payload.c): when the runtime execs /evil, the kernel
// runs the runtime's own binary in the container with the payload in
// control, which keeps /proc/self/exe open and, from a child that no longer
// maps the binary, keeps trying to reopen it for writing for five seconds.
// The runtime used is a copy (A); `exec` is run once by A itself (the
// container's monitor runs A too) and once by a second copy B (a different
// inode, as after hvrun was upgraded while the container ran: nothing else
// executes B once that exec is over, so the kernel's ETXTBSY protects
// nothing). Neither copy may change.
TEST_F(SecurityCve, Cve2019_5736_WorkloadCannotOverwriteTheRuntimeThroughProcSelfExe) {
  ASSERT_NO_FATAL_FAILURE(hostile_image(
      "exe-overwrite", "mkdir -p lib64; cp " + std::string(HVRUN_EXE_OVERWRITE_PAYLOAD) +
                           " lib64/ld-linux-x86-64.so.2; chmod 755 lib64/ld-linux-x86-64.so.2; "
                           "printf '#!/proc/self/exe\\n' > evil; chmod 755 evil"));
  {
    // The payload stands in for the interpreter this hvrun asks for.
    Result interp = run({"sh", "-c", "readelf -l " + hvrun_bin() + " | grep -o '/lib64/ld-linux-x86-64.so.2'"});
    ASSERT_EQ(trim(interp.out), "/lib64/ld-linux-x86-64.so.2") << "hvrun's ELF interpreter moved: update the test";
  }
  TempDir bins;
  const std::string a = bins.path() + "/hvrun-a", b = bins.path() + "/hvrun-b";
  for (const std::string& copy : {a, b}) {
    fs::copy_file(hvrun_bin(), copy);
    fs::permissions(copy, fs::perms(0755));
  }
  auto with = [&](const std::string& bin, std::vector<std::string> args, int timeout_s = 60) {
    args.insert(args.begin(), {bin, "--root", root()});
    return run(args, "", timeout_s);
  };
  Result started = with(a, {"run", "-d", "--name", "victim", "--net", "none", "exe-overwrite", "sleep", "120"});
  ASSERT_EQ(started.code, 0) << started.err;

  for (const std::string& runtime : {a, b}) {
    SCOPED_TRACE("hvrun exec by " + runtime);
    ASSERT_EQ(with(a, {"exec", "victim", "rm", "-f", "/tmp/cve-2019-5736.log"}).code, 0);
    Result e = with(runtime, {"exec", "victim", "/evil"});
    // The payload opened the runtime's binary: the attack really ran.
    std::string log;
    for (int i = 0; i < 60 && log.find("writer: ") == std::string::npos; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(250));
      log = with(a, {"exec", "victim", "cat", "/tmp/cve-2019-5736.log"}).out;
    }
    EXPECT_NE(log.find("exe="), std::string::npos) << "exec: " << e.code << " " << e.err << "\nlog:\n" << log;
    EXPECT_NE(log.find("open-exe=3\n"), std::string::npos) << log;
    EXPECT_NE(log.find("writer: gave up errno="), std::string::npos) << log;
    EXPECT_EQ(log.find("wrote"), std::string::npos) << log;
    EXPECT_TRUE(same_bytes(runtime, hvrun_bin())) << runtime << " was changed from inside the container:\n" << log;
  }
  EXPECT_TRUE(same_bytes(a, hvrun_bin()));
  EXPECT_TRUE(same_bytes(b, hvrun_bin()));
  EXPECT_EQ(with(a, {"rm", "-f", "victim"}).code, 0);
}

// --- CVE-2024-21626 --------------------------------------------------------
// A host directory fd leaks into hvrun (opened here without O_CLOEXEC, as a
// careless caller would). A workdir of /proc/self/fd/N (runc's bug: the
// leaked fd became the cwd, a host directory) must be refused, and neither
// the workload nor an exec'd process may hold any fd but 0, 1, 2 or have a
// cwd outside its root.
TEST_F(SecurityCve, Cve2024_21626_LeakedHostDirectoryFdNeverBecomesTheWorkloadCwd) {
  TempDir host;
  std::ofstream(host.path() + "/host-secret-file") << "secret";
  int leaked = ::open(host.path().c_str(), O_RDONLY | O_DIRECTORY);  // no O_CLOEXEC: inherited by hvrun
  ASSERT_GE(leaked, 0);
  int n = ::fcntl(leaked, F_DUPFD, 40);  // a number of its own, also inherited
  ASSERT_GE(n, 40);
  std::vector<int> fds{leaked, n};
  // No pipeline: while the shell forks the two ends of `ls | tr`, it holds
  // the pipe's read end itself, and ls could list it.
  const std::string list_fds = "ls -x /proc/$$/fd; readlink /proc/$$/cwd; ls";

  for (int fd : fds) {
    std::string wd = "/proc/self/fd/" + std::to_string(fd);
    Result r = runc({"-w", wd, "busybox", "sh", "-c", list_fds});
    EXPECT_EQ(r.code, 125) << wd << ": " << r.out;
    EXPECT_EQ(r.out.find("host-secret-file"), std::string::npos) << wd << ": the workload listed the host directory";
    EXPECT_NE(r.err.find("path " + wd + " in the container root: a symbolic link is in the way"), std::string::npos) << r.err;
    // The same through /proc/1 and a path below the magic link.
    Result below = runc({"-w", "/proc/1/fd/" + std::to_string(fd) + "/sub", "busybox", "sh", "-c", list_fds});
    EXPECT_NE(below.code, 0) << below.out;
    EXPECT_EQ(below.out.find("host-secret-file"), std::string::npos) << below.out;
  }
  // A workload started normally holds 0, 1 and 2 only, its cwd is its /.
  Result r = runc({"busybox", "sh", "-c", list_fds + "; true"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out.substr(0, r.out.find('\n')), "0  1  2") << r.out;
  EXPECT_NE(r.out.find("\n/\n"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("host-secret-file"), std::string::npos) << r.out;

  ASSERT_EQ(hv({"run", "-d", "--name", "leaky", "--net", "none", "busybox", "sleep", "60"}).code, 0);
  for (int fd : fds) {
    Result e = hv({"exec", "-w", "/proc/self/fd/" + std::to_string(fd), "leaky", "sh", "-c", list_fds});
    EXPECT_NE(e.code, 0) << e.out;
    EXPECT_EQ(e.out.find("host-secret-file"), std::string::npos) << e.out;
  }
  Result e = hv({"exec", "leaky", "sh", "-c", list_fds + "; true"});
  ASSERT_EQ(e.code, 0) << e.err;
  EXPECT_EQ(e.out.substr(0, e.out.find('\n')), "0  1  2") << e.out;
  EXPECT_NE(e.out.find("\n/\n"), std::string::npos) << e.out;
  Result init = hv({"exec", "leaky", "sh", "-c", "ls /proc/1/fd | tr '\\n' ' '; readlink /proc/1/cwd"});
  EXPECT_EQ(init.out, "0 1 2 /\n") << init.err;
  for (int fd : fds) ::close(fd);
  EXPECT_EQ(slurp(host.path() + "/host-secret-file"), "secret");
}

// --- CVE-2025-31133 / CVE-2025-52565 (and 2019-19921, 2023-27561) ----------
// The image's /dev/null, /dev/console and /dev/ptmx are symlinks to a host
// procfs file (runc bound "/dev/null" over the masked paths and /dev/console
// to the tty, following such links onto the host's core_pattern). hvrun
// mounts a fresh /dev over them and binds the host's /dev/null and the pty
// by fd, so the container sees real device nodes and core_pattern stays.
// A symlinked /dev, /proc or /sys (a mount target) is refused with one
// clear line; a volume whose target is a symlink lands inside the rootfs.
TEST_F(SecurityCve, Cve2025_31133_And_52565_SymlinkedDevNullConsoleAndMountTargetsStayInsideTheRoot) {
  const std::string core_pattern_before = slurp("/proc/sys/kernel/core_pattern");
  ASSERT_NO_FATAL_FAILURE(hostile_image(
      "dev-links", "rm -rf dev; mkdir dev; for n in null console ptmx zero; do ln -s /proc/sys/kernel/core_pattern dev/$n; "
                   "done; ln -s /etc data; ln -s ../../../../../etc data-rel"));
  TempDir vol;
  std::ofstream(vol.path() + "/in-volume") << "v";
  std::string etc_before = run({"ls", "-A", "/etc"}).out;

  Result r = runc({"-v", vol.path() + ":/data", "-v", vol.path() + ":/data-rel", "dev-links", "sh", "-c", R"SH(
for n in null console zero; do
  if [ -L /dev/$n ]; then echo "/dev/$n=link"; elif [ -c /dev/$n ]; then echo "/dev/$n=char"; else echo "/dev/$n=absent"; fi
done
stat -c '%t:%T' /dev/null
echo ptmx=$(readlink /dev/ptmx)
echo '|/bin/busybox hvrun-cve-2025-31133' > /dev/null
echo '|/bin/busybox hvrun-cve-2025-31133' > /proc/kcore 2>/dev/null
echo '|/bin/busybox hvrun-cve-2025-31133' > /proc/timer_list 2>/dev/null
echo '|/bin/busybox hvrun-cve-2025-31133' > /proc/sys/kernel/core_pattern 2>/dev/null || echo core-pattern-write-refused
echo timer-list-bytes=$(wc -c < /proc/timer_list)
ls /etc | grep -c in-volume
touch /data/planted-through-link
)SH"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("/dev/null=char\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("/dev/zero=char\n"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("=link"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("ptmx=pts/ptmx\n"), std::string::npos) << "hvrun's own link, not the image's: " << r.out;
  EXPECT_NE(r.out.find("\n1:3\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("core-pattern-write-refused\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("timer-list-bytes=0\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\n1\n"), std::string::npos) << "the volume is not at the container's /etc: " << r.out;
  EXPECT_EQ(slurp("/proc/sys/kernel/core_pattern"), core_pattern_before);
  EXPECT_FALSE(fs::exists("/etc/planted-through-link"));
  EXPECT_TRUE(fs::exists(vol.path() + "/planted-through-link"));
  EXPECT_EQ(run({"ls", "-A", "/etc"}).out, etc_before);

  // With a terminal: /dev/console is the container's pty, not the link.
  Result t = run_in_pty({hvrun_bin(), "--root", root(), "run", "--rm", "-t", "--net", "none", "dev-links", "sh", "-c",
                         "[ -c /dev/console ] && echo console-is-char; readlink /dev/console || echo console-not-a-link; "
                         "echo x > /dev/console; echo done-$((6*7))"},
                        {{"done-42", ""}});
  EXPECT_NE(t.out.find("console-is-char"), std::string::npos) << t.out << t.err;
  EXPECT_NE(t.out.find("console-not-a-link"), std::string::npos) << t.out;
  EXPECT_EQ(slurp("/proc/sys/kernel/core_pattern"), core_pattern_before);

  // A symlinked mount target is refused, in one line, before the workload runs.
  for (const std::string dir : {"dev", "proc", "sys"}) {
    SCOPED_TRACE(dir);
    ASSERT_NO_FATAL_FAILURE(hostile_image("link-" + dir, "rm -rf " + dir + "; ln -s /proc/sys/kernel " + dir));
    Result l = runc({"link-" + dir, "sh", "-c", "echo workload-ran"});
    EXPECT_EQ(l.code, 125) << l.out;
    EXPECT_EQ(l.out, "");
    EXPECT_NE(l.err.find("path /" + dir + " in the container root: a symbolic link is in the way (refusing to follow it)"),
              std::string::npos)
        << l.err;
    EXPECT_EQ(std::count(l.err.begin(), l.err.end(), '\n'), 1) << l.err;
  }
  EXPECT_EQ(slurp("/proc/sys/kernel/core_pattern"), core_pattern_before);
}

// --- CVE-2025-52881 ----------------------------------------------------------
// runc's writes to /proc/self/attr/* and /proc/sys could be redirected to
// other procfs files (core_pattern) through a /proc the container shaped.
// hvrun writes nothing into a container's /proc (uid/gid maps are written
// from the host's /proc by pid; no sysctl or LSM label is set); the
// container's /proc is a procfs hvrun mounted itself, over whatever the image
// put there, with /proc/sys read-only. Here the image ships a /proc holding a
// fake sys/kernel tree and self link, and the workload, with CAP_SYS_ADMIN,
// tries every redirect: writes through /proc/sys, a bind of its own file
// over /proc/self/attr, a fresh procfs, a remount of /proc/sys.
TEST_F(SecurityCve, Cve2025_52881_ProcfsWritesCannotBeRedirectedToTheHost) {
  const std::string core_pattern_before = slurp("/proc/sys/kernel/core_pattern");
  ASSERT_NO_FATAL_FAILURE(hostile_image(
      "fake-proc", "rm -rf proc; mkdir -p proc/sys/kernel proc/1; echo fake > proc/sys/kernel/core_pattern; "
                   "ln -s ../etc proc/self; ln -s /etc/passwd proc/sys/kernel/hostname"));
  std::string etc_before = run({"ls", "-lA", "/etc"}).out;
  Result r = runc({"--cap-add", "SYS_ADMIN", "fake-proc", "sh", "-c", R"SH(
echo fstype=$(stat -f -c %T /proc)
echo core=$(cat /proc/sys/kernel/core_pattern)
[ -L /proc/self ] && echo self=$(readlink /proc/self)
echo '|/bin/busybox hvrun-cve-2025-52881' > /proc/sys/kernel/core_pattern 2>/dev/null; echo write-core=$?
echo hvrun > /proc/sys/kernel/hostname 2>/dev/null; echo write-hostname=$?
echo x > /proc/self/attr/current 2>/dev/null; echo write-attr=$?
echo x > /proc/self/attr/exec 2>/dev/null; echo write-attr-exec=$?
echo '|/bin/busybox evil' > /tmp/decoy
mount --bind /tmp/decoy /proc/self/attr/exec 2>/dev/null; echo bind-attr=$?
mount --bind /tmp/decoy /proc/sys/kernel/core_pattern 2>/dev/null; echo bind-core=$?
mkdir -p /p && mount -t proc proc /p 2>/dev/null; echo mount-proc=$?
mount -o remount,rw /proc/sys 2>/dev/null; echo remount-sys=$?
ls /etc/passwd >/dev/null && echo passwd-still-there
)SH"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("fstype=proc\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("core=" + trim(core_pattern_before) + "\n"), std::string::npos) << "not the kernel's procfs: " << r.out;
  EXPECT_EQ(r.out.find("self=../etc"), std::string::npos) << r.out;
  for (const char* what : {"write-core", "write-hostname", "bind-attr", "bind-core", "mount-proc", "remount-sys"}) {
    EXPECT_EQ(r.out.find(std::string(what) + "=0\n"), std::string::npos) << what << " succeeded:\n" << r.out;
    EXPECT_NE(r.out.find(std::string(what) + "="), std::string::npos) << what << " did not run:\n" << r.out;
  }
  EXPECT_NE(r.out.find("passwd-still-there\n"), std::string::npos) << r.out;
  EXPECT_EQ(slurp("/proc/sys/kernel/core_pattern"), core_pattern_before);
  EXPECT_EQ(run({"ls", "-lA", "/etc"}).out, etc_before);
}

}  // namespace
}  // namespace hvrun::test
