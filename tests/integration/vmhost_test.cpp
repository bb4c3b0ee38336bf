// scripts/vmhost: runs a command inside the nested QEMU-TCG test host and
// passes its output and exit status back out.
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include "harness.hpp"

namespace hvrun::test {
namespace {

std::string vmhost() { return source_dir() + "/scripts/vmhost"; }

// Skips unless the pieces the test host needs are here.
#define HVRUN_REQUIRE_VMHOST()                                                                  \
  do {                                                                                          \
    HVRUN_REQUIRE_ROOT();                                                                       \
    if (run({"sh", "-c", "command -v qemu-system-x86_64"}).code != 0)                           \
      GTEST_SKIP() << "qemu-system-x86_64 is not installed";                                    \
  } while (0)

std::string testhost_release() {
  auto r = run({source_dir() + "/scripts/build-kernel.sh", "--print-path", "testhost"});
  EXPECT_EQ(r.code, 0) << "test-host kernel not built: " << r.err;
  return trim(run({"cat", trim(r.out) + "/release"}).out);
}

TEST(Vmhost, PassesTheCommandsExitStatusOut) {
  HVRUN_REQUIRE_VMHOST();
  auto r = run({vmhost(), "--", "sh", "-c", "exit 7"}, "", 120);
  EXPECT_EQ(r.code, 7) << r.out << r.err;
  auto z = run({vmhost(), "true"}, "", 120);
  EXPECT_EQ(z.code, 0) << z.out << z.err;
}

TEST(Vmhost, StreamsOutputAndRunsTheTestHostKernelWithKvmAndCallersCwd) {
  HVRUN_REQUIRE_VMHOST();
  std::string want_release = testhost_release();
  struct utsname u {};
  ::uname(&u);
  ASSERT_NE(want_release, std::string(u.release)) << "test-host and machine kernels must differ for this test";
  TempDir dir;
  auto r = run({"sh", "-c",
                "cd '" + dir.path() + "' && exec '" + vmhost() +
                    "' -- sh -c 'echo out-line; echo err-line >&2; uname -r; pwd; test -c /dev/kvm && echo kvm-ok; "
                    "echo 3 > written-inside && cat written-inside'"},
               "", 120);
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("out-line\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("err-line\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(want_release + "\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(dir.path() + "\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("kvm-ok\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("3\n"), std::string::npos) << r.out;
  // Writes inside land in the test host's overlay, not on this machine.
  EXPECT_NE(::access((dir.path() + "/written-inside").c_str(), F_OK), 0);
}

TEST(Vmhost, OutputThatLooksLikeAStatusDoesNotChangeTheExitStatus) {
  HVRUN_REQUIRE_VMHOST();
  auto r = run({vmhost(), "--", "sh", "-c", "echo 0; echo status 0; exit 3"}, "", 120);
  EXPECT_EQ(r.code, 3) << r.out << r.err;
}

// An init for the test host (HVRUN_VMHOST_INIT) written to `path`.
void write_init(const std::string& path, const std::string& body) {
  std::ofstream(path) << "#!/bin/bash\n" << body << "\n";
  ASSERT_EQ(::chmod(path.c_str(), 0755), 0);
}

// A test host whose boot hangs (its init never starts) is killed after
// --boot-timeout and booted once more; CMD runs once, in the second.
TEST(Vmhost, ATestHostThatHangsAtBootIsBootedOnceMoreAndTheCommandRunsOnce) {
  HVRUN_REQUIRE_VMHOST();
  TempDir d;
  const std::string init = d.path() + "/init";
  write_init(init, "[ \"$vmhost_attempt\" != 1 ] || exec sleep 100000\nexec /bin/bash " + source_dir() +
                       "/scripts/vmhost-init.sh \"$@\"");
  auto r = run({"env", "HVRUN_VMHOST_INIT=" + init, vmhost(), "--boot-timeout", "15", "--", "sh", "-c",
                "echo ran-once; exit 5"},
               "", 180);
  EXPECT_EQ(r.code, 5) << r.out << r.err;
  EXPECT_NE(r.out.find("ran-once"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("ran-once"), r.out.rfind("ran-once")) << r.out;
  EXPECT_NE(r.err.find("did not reach its init within 15s"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("booting it once more"), std::string::npos) << r.err;
}

TEST(Vmhost, ATestHostThatHangsAtBootTwiceExits124SayingSo) {
  HVRUN_REQUIRE_VMHOST();
  TempDir d;
  const std::string init = d.path() + "/init";
  write_init(init, "exec sleep 100000");
  auto r = run({"env", "HVRUN_VMHOST_INIT=" + init, vmhost(), "--boot-timeout", "8", "--", "echo", "never"}, "",
               120);
  EXPECT_EQ(r.code, 124) << r.out << r.err;
  EXPECT_EQ(r.out.find("never"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("booting it once more"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("did not reach its init within 8s, twice"), std::string::npos) << r.err;
}

// That nested KVM in the test host boots real guests is proven by
// vm_e2e_test.cpp (VmE2E), which runs every VM-mode scenario there.

}  // namespace
}  // namespace hvrun::test
