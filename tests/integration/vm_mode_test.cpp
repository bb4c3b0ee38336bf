// VM mode on the host itself (not in the test host): what hvrun --vm does
// before any guest boots.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <string>

#include "tests/integration/harness.hpp"
#include "util/fs.hpp"

namespace hvrun::test {
namespace {

// The KVM kind as hvrun itself sees it: "none", "pvm", "vt-x", "amd-v" or
// "unknown" (the tests below hold on every kind of host).
std::string kvm_kind() {
  Result r = run({hvrun_bin(), "check", "--json"});
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  if (!j.is_object() || !j.contains("kvm")) return "?";
  return j["kvm"]["kind"].get<std::string>();
}

class VmMode : public StoreFixture {};

TEST_F(VmMode, OnAHostThatCannotBootLinuxRunRefusesAtOnceWithTheWayOut) {
  HVRUN_REQUIRE_ROOT();
  const std::string kind = kvm_kind();
  ASSERT_NE(kind, "?");
  if (kind == "vt-x" || kind == "amd-v")
    GTEST_SKIP() << "this host has hardware KVM (" << kind << "): --vm boots, nothing to refuse "
                 << "(OnAHardwareKvmHostRunBootsTheGuest covers it)";
  Result r = hv({"--vm", "busybox", "true"}, "", 20);
  EXPECT_EQ(r.code, 125);
  EXPECT_NE(r.err.find("KVM kind: " + kind), std::string::npos) << r.err;
  if (kind == "pvm") {
    EXPECT_NE(r.err.find("PVM"), std::string::npos) << r.err;
  }
  if (kind == "none") {
    EXPECT_NE(r.err.find("/dev/kvm"), std::string::npos) << r.err;
  }
  // The way out that works on every such host: the nested test host.
  EXPECT_NE(r.err.find("scripts/vmhost"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "one line: " << r.err;
  // Nothing was created.
  Result ps = hv({"ps", "-aq"});
  EXPECT_EQ(trim(ps.out), "");
}

TEST_F(VmMode, OnAHardwareKvmHostRunBootsTheGuest) {
  HVRUN_REQUIRE_ROOT();
  const std::string kind = kvm_kind();
  if (kind != "vt-x" && kind != "amd-v")
    GTEST_SKIP() << "no hardware KVM on this host (kind " << kind << "); VM mode is proven in the nested test "
                 << "host (VmE2E)";
  Result r = hv({"--vm", "--rm", "busybox", "sh", "-c", "echo booted; uname -r"}, "", 120);
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("booted\n", 0), 0u) << r.out << r.err;
}

TEST_F(VmMode, AVolumeThatIsAFifoSocketOrDeviceIsRefusedInVmModeWithAClearError) {
  HVRUN_REQUIRE_ROOT();
  // HVRUN_FORCE_VM skips the KVM-kind check, so the refusal tested here is
  // the backend's own, before any VMM starts: through 9p only directories
  // and regular files can work.
  TempDir host;
  ASSERT_EQ(::mkfifo((host.path() + "/fifo").c_str(), 0600), 0);
  for (const std::string& src : {std::string("/dev/null"), host.path() + "/fifo"}) {
    Result r = run({"env", "HVRUN_FORCE_VM=1", hvrun_bin(), "--root", root(), "--vm", "--rm", "-v", src + ":/x",
                    "busybox", "true"},
                   "", 60);
    EXPECT_EQ(r.code, 125) << src;
    EXPECT_NE(r.err.find("with --vm a volume must be a directory or a regular file"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find(src), std::string::npos) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "one line: " << r.err;
  }
  EXPECT_EQ(trim(hv({"ps", "-aq"}).out), "") << "a refused run leaves no container behind";
}

// hvrun cp into a microVM that is not running goes onto its writable disk
// (engine/changes.cpp write_into_stopped_vm), with no guest: created here
// (HVRUN_FORCE_VM: no boot is needed), written twice, read back by cp and
// diff; a refused copy leaves the disk byte for byte as it was. That the
// guest boots on what was written is VmE2E's scenario cp-stopped.
TEST_F(VmMode, CpIntoAMicroVmThatIsNotRunningWritesItsDiskAndARefusedCopyLeavesItAsItWas) {
  HVRUN_REQUIRE_ROOT();
  auto hvf = [&](std::vector<std::string> args) {
    std::vector<std::string> cmd = {"env", "HVRUN_FORCE_VM=1", hvrun_bin(), "--root", root()};
    cmd.insert(cmd.end(), args.begin(), args.end());
    return run(cmd, "", 60);
  };
  Result c = hvf({"create", "--vm", "--name", "cold", "busybox", "cat", "/etc/motd"});
  ASSERT_EQ(c.code, 0) << c.err;
  const std::string id = trim(c.out);
  const std::string dir = root() + "/containers/" + id;
  TempDir host;
  write_file_atomic(host.path() + "/motd", "copied in while cold\n");
  mkdir_p(host.path() + "/tree/sub");
  write_file_atomic(host.path() + "/tree/sub/data", std::string(200000, 'z'));
  Result r = hvf({"cp", host.path() + "/motd", "cold:/etc/motd"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(path_exists(dir + "/vm-rw.ext4")) << "no disk made for the microVM that never started";
  EXPECT_TRUE(path_exists(dir + "/vm-rw.keep")) << "its first start would not keep the disk";
  r = hvf({"cp", host.path() + "/tree", "cold:/opt"});
  ASSERT_EQ(r.code, 0) << r.err;
  // Read back through the disk, as any copy out of a microVM is.
  TempDir back;
  r = hvf({"cp", "cold:/etc/motd", back.path() + "/motd"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(read_file(back.path() + "/motd"), "copied in while cold\n");
  r = hvf({"cp", "cold:/opt/sub/data", back.path() + "/data"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(read_file(back.path() + "/data"), std::string(200000, 'z'));
  r = hvf({"diff", "cold"});
  EXPECT_NE(r.out.find("A /etc/motd"), std::string::npos) << r.out << r.err;
  EXPECT_NE(r.out.find("A /opt/sub/data"), std::string::npos) << r.out << r.err;
  EXPECT_EQ(run({"e2fsck", "-fn", dir + "/vm-rw.ext4"}, "", 60).code, 0) << "the written disk is not clean";
  // Refused: a destination that is not there; the disk is not touched (a
  // copy that succeeds puts a new file in its place).
  struct stat before {}, after {};
  ASSERT_EQ(::stat((dir + "/vm-rw.ext4").c_str(), &before), 0);
  r = hvf({"cp", host.path() + "/motd", "cold:/no/such/dir/"});
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("/no/such/dir"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "one line: " << r.err;
  ASSERT_EQ(::stat((dir + "/vm-rw.ext4").c_str(), &after), 0);
  EXPECT_EQ(before.st_ino, after.st_ino) << "a refused copy replaced the disk";
  EXPECT_EQ(before.st_mtim.tv_sec, after.st_mtim.tv_sec);
  EXPECT_EQ(before.st_mtim.tv_nsec, after.st_mtim.tv_nsec) << "a refused copy wrote the disk";
  // No scratch left behind.
  for (const auto& name : list_dir(dir))
    EXPECT_TRUE(name.find("vm-upper.") == std::string::npos && name.find("vm-cp-") == std::string::npos &&
                name.find(".cp-") == std::string::npos)
        << "left behind: " << name;
}

}  // namespace
}  // namespace hvrun::test
