// guest-init's decisions: mounts, and the RunSpec planned from the host's
// GuestSpec for the guest's disks and shares.
#include <gtest/gtest.h>
#include <sys/mount.h>

#include <algorithm>

#include "guest-init/plan.hpp"
#include "util/error.hpp"

namespace hvrun::guestinit {
namespace {

const MountStep* find_target(const std::vector<MountStep>& v, const std::string& target) {
  auto it = std::find_if(v.begin(), v.end(), [&](const MountStep& m) { return m.target == target; });
  return it == v.end() ? nullptr : &*it;
}

TEST(GuestInitPlan, EarlyMountsCoverProcSysDevtmpfsRunTmpAndCgroup2InOrder) {
  auto m = early_mounts();
  for (auto [target, type] : std::vector<std::pair<std::string, std::string>>{{"/proc", "proc"},
                                                                             {"/sys", "sysfs"},
                                                                             {"/dev", "devtmpfs"},
                                                                             {"/run", "tmpfs"},
                                                                             {"/tmp", "tmpfs"},
                                                                             {"/sys/fs/cgroup", "cgroup2"}}) {
    auto* s = find_target(m, target);
    ASSERT_NE(s, nullptr) << target;
    EXPECT_EQ(s->fstype, type) << target;
  }
  // Parents before children: /sys before /sys/fs/cgroup, /dev before /dev/pts.
  auto pos = [&](const std::string& t) { return find_target(m, t) - m.data(); };
  EXPECT_LT(pos("/sys"), pos("/sys/fs/cgroup"));
  EXPECT_LT(pos("/dev"), pos("/dev/pts"));
}

TEST(GuestInitPlan, ImageDiskIsMountedReadOnlyAndWritableDiskReadWrite) {
  Layout l;
  auto m = disk_mounts(l);
  auto* img = find_target(m, l.image_dir);
  auto* rw = find_target(m, l.rw_dir);
  ASSERT_TRUE(img && rw);
  EXPECT_EQ(img->source, "/dev/vda");
  EXPECT_EQ(rw->source, "/dev/vdb");
  EXPECT_EQ(img->fstype, "ext4");
  EXPECT_TRUE(img->flags & MS_RDONLY);
  EXPECT_FALSE(rw->flags & MS_RDONLY);
}

contract::GuestSpec guest(container::RunSpec w) {
  contract::GuestSpec g;
  g.workload = std::move(w);
  return g;
}

TEST(GuestInitPlan, SpecWithoutLowerdirsGetsTheImageDiskRootAndUpperWorkOnTheWritableDisk) {
  container::RunSpec s;
  s.args = {"/bin/sh"};
  s.rootfs = "/host/path/that/does/not/exist/in/the/guest";
  s.upperdir = "/var/lib/hvrun/host-upper";
  Layout l;
  auto p = plan_spec(guest(s), l);
  EXPECT_EQ(p.lowerdirs, std::vector<std::string>{"/mnt/image"});
  EXPECT_EQ(p.upperdir, "/mnt/rw/upper");
  EXPECT_EQ(p.workdir, "/mnt/rw/work");
  EXPECT_TRUE(p.rootfs.empty());
  EXPECT_EQ(p.args, s.args);
}

TEST(GuestInitPlan, LowerdirsArePathsInsideTheImageDiskKeepingTheirOrder) {
  container::RunSpec s;
  s.args = {"true"};
  s.lowerdirs = {"/layers/top/", "layers/base", "/"};
  auto p = plan_spec(guest(s), Layout{});
  EXPECT_EQ(p.lowerdirs, (std::vector<std::string>{"/mnt/image/layers/top", "/mnt/image/layers/base", "/mnt/image"}));
}

TEST(GuestInitPlan, RejectsLowerdirsThatEscapeTheImageDisk) {
  container::RunSpec s;
  s.args = {"true"};
  for (std::string bad : {"..", "../etc", "/layers/../../x", "a/.."}) {
    s.lowerdirs = {bad};
    EXPECT_THROW(plan_spec(guest(s), Layout{}), Error) << bad;
  }
  s.lowerdirs = {"a..b/..c"};  // dots inside names are fine
  EXPECT_NO_THROW(plan_spec(guest(s), Layout{}));
}

TEST(GuestInitPlan, RejectsEmptyArgsHostBindMountsAHostHostsFileAndBridgeNet) {
  container::RunSpec s;
  EXPECT_THROW(plan_spec(guest(s), Layout{}), Error);
  s.args = {"true"};
  s.mounts = {{"/host/data", "/data", false}};
  try {
    plan_spec(guest(s), Layout{});
    FAIL() << "bind mount accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/host/data"), std::string::npos) << e.what();
  }
  s.mounts.clear();
  s.netcfg.hosts_path = "/var/lib/hvrun/containers/x/etc/hosts";
  EXPECT_THROW(plan_spec(guest(s), Layout{}), Error);
  s.netcfg.hosts_path.clear();
  s.net = container::NetMode::Bridge;
  EXPECT_THROW(plan_spec(guest(s), Layout{}), Error);
  s.net = container::NetMode::Host;
  EXPECT_EQ(plan_spec(guest(s), Layout{}).net, container::NetMode::Host);
}

TEST(GuestInitPlan, VolumeSharesBecome9pMountsReadOnlyOnlyWhereTheVolumeIs) {
  container::RunSpec s;
  s.args = {"true"};
  auto g = guest(s);
  g.volumes = {{"/data", false, false}, {"/etc/cfg", true, false}};
  Layout l;
  auto p = plan_spec(g, l);
  ASSERT_EQ(p.mounts.size(), 2u);
  EXPECT_EQ(p.mounts[0].source, "/mnt/vol/0");
  EXPECT_EQ(p.mounts[0].target, "/data");
  EXPECT_FALSE(p.mounts[0].readonly);
  EXPECT_EQ(p.mounts[1].source, "/mnt/vol/1");
  EXPECT_EQ(p.mounts[1].target, "/etc/cfg");
  EXPECT_TRUE(p.mounts[1].readonly);
  auto v = share_mounts(g, l);
  ASSERT_EQ(v.size(), 2u);
  EXPECT_EQ(v[0].source, "hvrun-vol0");
  EXPECT_EQ(v[0].target, "/mnt/vol/0");
  EXPECT_EQ(v[1].source, "hvrun-vol1");
  EXPECT_EQ(v[0].fstype, "9p");
  EXPECT_NE(v[0].data.find("trans=virtio"), std::string::npos) << v[0].data;
  EXPECT_NE(v[0].data.find("version=9p2000.L"), std::string::npos) << v[0].data;
  EXPECT_FALSE(v[0].flags & MS_RDONLY);
  EXPECT_TRUE(v[1].flags & MS_RDONLY);
  EXPECT_TRUE(v[1].flags & MS_NODEV);
}

TEST(GuestInitPlan, TheHostsShareIsMountedReadOnlyAndItsFileBecomesTheHostsPath) {
  container::RunSpec s;
  s.args = {"true"};
  s.netcfg.address = "10.88.0.5";
  auto g = guest(s);
  g.volumes = {{"/data", false, false}};
  g.hosts_share = true;
  Layout l;
  auto p = plan_spec(g, l);
  EXPECT_EQ(p.netcfg.hosts_path, "/mnt/hosts/hosts");
  auto v = share_mounts(g, l);
  ASSERT_EQ(v.size(), 2u);
  EXPECT_EQ(v[1].source, "hvrun-hosts");
  EXPECT_EQ(v[1].target, "/mnt/hosts");
  EXPECT_EQ(v[1].fstype, "9p");
  EXPECT_TRUE(v[1].flags & MS_RDONLY);
  // No hosts share (no network): no mount, no hosts path.
  g.hosts_share = false;
  EXPECT_EQ(share_mounts(g, l).size(), 1u);
  EXPECT_EQ(plan_spec(g, l).netcfg.hosts_path, "");
}

TEST(GuestInitPlan, AFileVolumeMountsItsShareAndBindsTheOneFileInIt) {
  container::RunSpec s;
  s.args = {"true"};
  auto g = guest(s);
  g.volumes = {{"/app/config.json", false, true}, {"/data", true, false}};
  Layout l;
  auto p = plan_spec(g, l);
  ASSERT_EQ(p.mounts.size(), 2u);
  EXPECT_EQ(p.mounts[0].source, "/mnt/vol/0/file");
  EXPECT_EQ(p.mounts[0].target, "/app/config.json");
  EXPECT_EQ(p.mounts[1].source, "/mnt/vol/1");
  auto v = share_mounts(g, l);
  ASSERT_EQ(v.size(), 2u);
  EXPECT_EQ(v[0].source, "hvrun-vol0") << "the 9p mount is of the share, by its tag";
  EXPECT_EQ(v[0].target, "/mnt/vol/0");
  EXPECT_FALSE(v[0].flags & MS_RDONLY);
}

TEST(GuestInitPlan, TheLayoutIsTheContractsDevicePlan) {
  Layout l;
  EXPECT_EQ(l.spec_path, "/spec.json");
  EXPECT_EQ(l.stdio_dev, "/dev/hvc0");
  EXPECT_EQ(l.stderr_dev, "/dev/hvc1");
  EXPECT_EQ(l.control_dev, "/dev/hvc2");
  EXPECT_EQ(l.image_dev, "/dev/vda");
  EXPECT_EQ(l.rw_dev, "/dev/vdb");
}

}  // namespace
}  // namespace hvrun::guestinit
