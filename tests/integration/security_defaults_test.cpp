// Security defaults next to Docker's (docs/security.md): what --cap-add
// SYS_ADMIN may not do (the mount guard), what --privileged does, set-user-ID
// programs without no_new_privs, ptrace of one's own child, and --hostname.
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "tests/integration/harness.hpp"

namespace hvrun::test {
namespace {

namespace fs = std::filesystem;

int count_lines(const std::string& s) { return static_cast<int>(std::count(s.begin(), s.end(), '\n')); }

class SecurityDefaults : public StoreFixture {
 protected:
  void SetUp() override {
    HVRUN_REQUIRE_ROOT();
    StoreFixture::SetUp();
  }
  Result runc(std::vector<std::string> args) {
    args.insert(args.begin(), {"--container", "--rm", "--net", "none"});
    return hv(args);
  }
  // A directory holding a root-owned copy of the probe (set-user-ID when
  // asked), for a read-only volume at /probe.
  std::string probe_dir(bool setuid) {
    probe_ = std::make_unique<TempDir>();
    std::string bin = probe_->path() + "/probe";
    fs::copy_file(HVRUN_SECURITY_PROBE, bin);
    EXPECT_EQ(::chown(bin.c_str(), 0, 0), 0);
    EXPECT_EQ(::chmod(bin.c_str(), setuid ? 04755 : 0755), 0);
    EXPECT_EQ(::chmod(probe_->path().c_str(), 0755), 0);  // reachable for uid 1000
    return probe_->path();
  }
  std::unique_ptr<TempDir> probe_;
};

TEST_F(SecurityDefaults, CapSysAdminCannotRemountSysOrProcSysReadWriteNorUncoverMaskedPaths) {
  Result r = runc({"--cap-add", "SYS_ADMIN", "busybox", "sh", "-c", R"SH(
mkdir -p /m
mount -o remount,rw /proc/sys 2>/dev/null; echo remount-proc-sys=$?
mount -o remount,rw /sys 2>/dev/null; echo remount-sys=$?
umount /proc/timer_list 2>/dev/null; echo umount-timer-list=$?
umount -l /sys/firmware 2>/dev/null; echo umount-firmware=$?
umount /proc/sys 2>/dev/null; echo umount-proc-sys=$?
unshare -m sh -c 'umount /proc/timer_list' 2>/dev/null; echo umount-in-new-mntns=$?
mount -t proc proc /m 2>/dev/null; echo mount-proc=$?
mount -t tmpfs none /m 2>/dev/null; echo mount-tmpfs=$?
echo 1 > /proc/sys/kernel/ns_last_pid 2>/dev/null; echo write-proc-sys=$?
echo timer-list-bytes=$(wc -c < /proc/timer_list) firmware-entries=$(ls /sys/firmware | wc -l)
grep -E ' /(sys|proc/sys) ' /proc/self/mounts | cut -d' ' -f2,4 | cut -d, -f1
hostname renamed-with-sys-admin && echo sethostname=$(hostname)
grep -E '^Seccomp_filters:' /proc/self/status
)SH"});
  ASSERT_EQ(r.code, 0) << r.err;
  for (const char* what : {"remount-proc-sys", "remount-sys", "umount-timer-list", "umount-firmware", "umount-proc-sys",
                           "umount-in-new-mntns", "mount-proc", "mount-tmpfs", "write-proc-sys"}) {
    EXPECT_EQ(r.out.find(std::string(what) + "=0\n"), std::string::npos) << what << " succeeded:\n" << r.out;
    EXPECT_NE(r.out.find(std::string(what) + "="), std::string::npos) << what << " did not run:\n" << r.out;
  }
  EXPECT_NE(r.out.find("timer-list-bytes=0 firmware-entries=0\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("/sys ro\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("/proc/sys ro\n"), std::string::npos) << r.out;
  // SYS_ADMIN still does what does not touch mounts.
  EXPECT_NE(r.out.find("sethostname=renamed-with-sys-admin\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Seccomp_filters:\t2\n"), std::string::npos) << r.out;
}

TEST_F(SecurityDefaults, SeccompUnconfinedWithCapSysAdminStillCannotRemountProcSys) {
  Result r = runc({"--cap-add", "SYS_ADMIN", "--security-opt", "seccomp=unconfined", "busybox", "sh", "-c",
                   "mount -o remount,rw /proc/sys 2>/dev/null; echo remount=$?; umount /proc/timer_list 2>/dev/null; "
                   "echo umount=$?; unshare -U true; echo unshare=$?"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("remount=1\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("umount=1\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("unshare=0\n"), std::string::npos) << "the profile is gone: " << r.out;
}

TEST_F(SecurityDefaults, PrivilegedMountsAndHasNoMasksNoFilterAndEveryCapability) {
  Result r = runc({"--privileged", "busybox", "sh", "-c", R"SH(
mkdir -p /m && mount -t tmpfs none /m && echo mounted-tmpfs
grep -E '^(CapEff|NoNewPrivs|Seccomp):' /proc/self/status
echo masked=$(grep -cE ' /proc/(timer_list|keys|sys) ' /proc/self/mounts)
grep ' /sys ' /proc/self/mounts | cut -d' ' -f4 | cut -d, -f1
)SH"});
  ASSERT_EQ(r.code, 0) << r.err;
  // Every capability this (root) process holds.
  std::ifstream status("/proc/self/status");
  std::string line, caps;
  while (std::getline(status, line))
    if (line.rfind("CapPrm:", 0) == 0) caps = line.substr(7);
  EXPECT_EQ(r.out, "mounted-tmpfs\nCapEff:" + caps + "\nNoNewPrivs:\t0\nSeccomp:\t0\nmasked=0\nrw\n");
  Result i = hv({"run", "-d", "--privileged", "--name", "priv", "busybox", "true"});
  ASSERT_EQ(i.code, 0) << i.err;
  EXPECT_NE(hv({"inspect", "priv"}).out.find("\"Privileged\": true"), std::string::npos);
}

TEST_F(SecurityDefaults, SetuidProgramGivesANonRootUserEuid0UnlessNoNewPrivileges) {
  std::string dir = probe_dir(true);
  auto ids = [&](std::vector<std::string> extra) {
    std::vector<std::string> args{"-u", "1000", "-v", dir + ":/probe:ro"};
    args.insert(args.end(), extra.begin(), extra.end());
    args.insert(args.end(), {"busybox", "/probe/probe", "ids"});
    Result r = runc(args);
    EXPECT_EQ(r.code, 0) << r.err;
    return r.out;
  };
  EXPECT_EQ(ids({}), "uid=1000 euid=0\n") << "Docker's default: no_new_privs off";
  EXPECT_EQ(ids({"--security-opt", "no-new-privileges=false"}), "uid=1000 euid=0\n");
  EXPECT_EQ(ids({"--security-opt", "no-new-privileges"}), "uid=1000 euid=1000\n");
  EXPECT_EQ(ids({"--security-opt", "no-new-privileges:true"}), "uid=1000 euid=1000\n");
  EXPECT_EQ(ids({"--security-opt", "no-new-privileges=true"}), "uid=1000 euid=1000\n");
  // The set-user-ID root program still gets no more than the container's
  // capability bounding set, and the filters stay.
  Result r = runc({"-u", "1000", "-v", dir + ":/probe:ro", "--cap-drop", "ALL", "busybox", "sh", "-c",
                   "/probe/probe ids; grep -E '^(NoNewPrivs|Seccomp):' /proc/self/status"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "uid=1000 euid=0\nNoNewPrivs:\t0\nSeccomp:\t2\n");
}

TEST_F(SecurityDefaults, DefaultProfileLetsAProcessPtraceItsOwnChildStrictProfileDoesNot) {
  std::string dir = probe_dir(false);
  for (const std::string user : {"0", "1000"}) {
    Result r = runc({"-u", user, "-v", dir + ":/probe:ro", "busybox", "/probe/probe", "ptrace"});
    EXPECT_EQ(r.code, 0) << user << ": " << r.out << r.err;
    EXPECT_EQ(r.out, "ptrace: ok\nprocess_vm_readv: ok\n") << user;
  }
  Result s = runc({"--security-opt", "seccomp=strict", "-v", dir + ":/probe:ro", "busybox", "/probe/probe", "ptrace"});
  EXPECT_EQ(s.code, 1) << s.err;
  EXPECT_EQ(s.out, "ptrace: Operation not permitted\nprocess_vm_readv: Operation not permitted\n");
  Result c = runc({"--security-opt", "seccomp=strict", "--cap-add", "SYS_PTRACE", "-v", dir + ":/probe:ro", "busybox",
                   "/probe/probe", "ptrace"});
  EXPECT_EQ(c.out, "ptrace: ok\nprocess_vm_readv: ok\n") << c.err;
}

TEST_F(SecurityDefaults, HostnameOutsideRfc1123IsRefusedInOneLineWithExit125) {
  for (const std::string& bad : std::vector<std::string>{"a/b", "-x", "x-", "a..b", "sp ace", std::string(64, 'h'), "under_score"}) {
    Result r = runc({"--hostname", bad, "busybox", "hostname"});
    EXPECT_EQ(r.code, 125) << bad;
    EXPECT_EQ(r.out, "") << bad;
    EXPECT_NE(r.err.find("invalid hostname \"" + bad + "\""), std::string::npos) << r.err;
    EXPECT_EQ(count_lines(r.err), 1) << r.err;
  }
  EXPECT_EQ(hv({"ps", "-aq"}).out, "");  // none of them left a record
  Result ok = runc({"--hostname", "web-1.example.com", "busybox", "hostname"});
  EXPECT_EQ(ok.code, 0) << ok.err;
  EXPECT_EQ(ok.out, "web-1.example.com\n");
}

}  // namespace
}  // namespace hvrun::test
