// scripts/vmhost: runs a command inside the nested QEMU-TCG test host and
// passes its output and exit status back out.
#include <sys/utsname.h>
#include <unistd.h>

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

// The point of the test host: inside it, /dev/kvm boots a real Linux guest.
// The guest kernel runs guest-init under KVM (not TCG), which reports on the
// serial console that the spec has no command.
// DISABLED: about 1 run in 4 the nested guest hangs (no output until the
// timeout) even with the kvm_amd workarounds in scripts/vmhost; passes in
// ~7 s otherwise. Run by hand: --gtest_also_run_disabled_tests.
TEST(Vmhost, DISABLED_NestedKvmBootsTheGuestKernelToGuestInit) {
  HVRUN_REQUIRE_VMHOST();
  auto k = run({source_dir() + "/scripts/build-kernel.sh", "--print-path", "guest"});
  ASSERT_EQ(k.code, 0) << "guest kernel not built: " << k.err;
  std::string bin = hvrun_bin();
  std::string init = bin.substr(0, bin.rfind('/')) + "/../guest-init/hvrun-guest-init";
  ASSERT_EQ(::access(init.c_str(), X_OK), 0) << "guest-init not built at " << init;
  TempDir dir;
  std::string d = dir.path();
  ASSERT_EQ(run({"sh", "-c", "echo '{\"args\":[]}' > " + d + "/spec.json"}).code, 0);
  auto m = run({source_dir() + "/scripts/make-initramfs.sh", d + "/initrd.cpio", init, d + "/spec.json"});
  ASSERT_EQ(m.code, 0) << m.err;
  std::string cons;
  for (int i = 0; i < 3; ++i) {
    std::string id = "c" + std::to_string(i);
    cons += " -chardev file,id=" + id + ",path=/tmp/nested-" + id + " -device virtio-serial-device -device virtconsole,chardev=" + id;
  }
  auto r = run({vmhost(), "--timeout", "60", "--", "sh", "-c",
                "qemu-system-x86_64 -M microvm,acpi=off,pit=off,pic=off,rtc=off -enable-kvm -cpu host -m 256 "
                "-nodefaults -no-user-config "
                "-nographic -no-reboot -serial stdio" + cons + " -kernel " + trim(k.out) + "/vmlinux -initrd " + d +
                    "/initrd.cpio -append 'console=ttyS0 reboot=t panic=-1 quiet' </dev/null"},
               "", 180);
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("hvrun-guest-init: spec.json has no command"), std::string::npos) << r.out << r.err;
}

TEST(Vmhost, RejectsAMissingCommandWithAClearError) {
  auto r = run({vmhost()}, "", 30);
  EXPECT_EQ(r.code, 125);
  EXPECT_NE(r.err.find("no command given"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace hvrun::test
