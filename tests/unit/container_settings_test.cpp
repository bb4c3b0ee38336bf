// What a RunSpec sets beside the root and the command, end to end against
// a busybox rootfs: resource limits, groups, umask and OOM score; tmpfs
// mounts; the masked and read-only path lists (an OCI config's own).
#include "container_test_util.hpp"
#include "util/error.hpp"

namespace hvrun::container::testing {
namespace {

TEST(ContainerRuntime, RlimitsExtraGroupsUmaskAndOomScoreAreApplied) {
  HVRUN_REQUIRE_ROOT();
  auto s = sh("ulimit -n; ulimit -Hn; id -G; umask; cat /proc/self/oom_score_adj");
  s.user = "1000:1000";
  s.rlimits = {{"RLIMIT_NOFILE", 100, 200}};
  s.additional_gids = {5, 100};
  s.umask = 077;
  s.oom_score_adj = 500;
  s.set_oom_score_adj = true;
  EXPECT_EQ(sh_out(s), "100\n200\n1000 5 100\n0077\n500\n");
  auto bad = sh("true");
  bad.rlimits = {{"RLIMIT_BOGUS", 1, 1}};
  try {
    run_to_end(bad);
    FAIL() << "started";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("RLIMIT_BOGUS"), std::string::npos) << e.what();
  }
}

TEST(ContainerRuntime, OwnMaskedAndReadonlyPathListsReplaceTheDefaults) {
  HVRUN_REQUIRE_ROOT();
  // Only /proc/version masked, only /proc/bus read-only: /proc/keys shows
  // (no mount over it) and /proc/sys is left as the namespaces allow.
  auto s = sh("wc -c < /proc/version; grep -c ' /proc/keys ' /proc/mounts;"
              "grep -c ' /proc/bus ' /proc/mounts; grep -c ' /proc/sys ' /proc/mounts");
  s.own_masked_paths = true;
  s.masked_paths = {"/proc/version", "/no/such/path"};
  s.readonly_paths = {"/proc/bus"};
  EXPECT_EQ(sh_out(s), "0\n0\n1\n0\n");
}

TEST(ContainerRuntime, TmpfsMountsHaveTheirSizeModeAndFlagsOnAReadonlyRoot) {
  HVRUN_REQUIRE_ROOT();
  auto s = sh("grep -E ' /(run|scratch|ro) ' /proc/mounts | cut -d' ' -f2-4; stat -c '%n %a' /run /scratch; "
              "echo x > /run/f && echo run-writable; touch /ro/f 2>/dev/null || echo ro-refused");
  s.readonly_rootfs = true;
  TmpfsMount run;
  run.target = "/run";
  run.size = "1m";
  run.mode = "755";
  run.noexec = true;
  TmpfsMount scratch;
  scratch.target = "/scratch";  // made in a read-only root: as a mount point by the stack
  TmpfsMount ro;
  ro.target = "/ro";
  ro.readonly = true;
  s.tmpfs = {run, scratch, ro};
  std::string out = sh_out(s);
  EXPECT_NE(out.find("/run tmpfs rw,nosuid,nodev,noexec,relatime,size=1024k,mode=755"), std::string::npos) << out;
  EXPECT_NE(out.find("/scratch tmpfs rw,nosuid,nodev,relatime"), std::string::npos) << out;
  EXPECT_NE(out.find("/ro tmpfs ro,"), std::string::npos) << out;
  EXPECT_NE(out.find("/run 755\n/scratch 1777\n"), std::string::npos) << out;
  EXPECT_NE(out.find("run-writable\nro-refused\n"), std::string::npos) << out;
  auto bad = sh("true");
  TmpfsMount b;
  b.target = "/t";
  b.size = "-1";
  bad.tmpfs = {b};
  try {
    run_to_end(bad);
    FAIL() << "started";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("tmpfs /t: size \"-1\""), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace hvrun::container::testing
