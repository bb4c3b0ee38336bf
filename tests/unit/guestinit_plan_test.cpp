// guest-init's decisions: mounts, RunSpec rewrite for the guest disks, and
// the control-channel protocol.
#include <gtest/gtest.h>
#include <sys/mount.h>

#include <algorithm>
#include <csignal>
#include <nlohmann/json.hpp>

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

TEST(GuestInitPlan, SpecWithoutLowerdirsGetsTheImageDiskRootAndUpperWorkOnTheWritableDisk) {
  container::RunSpec s;
  s.args = {"/bin/sh"};
  s.rootfs = "/host/path/that/does/not/exist/in/the/guest";
  s.upperdir = "/var/lib/hvrun/host-upper";
  Layout l;
  auto p = plan_spec(s, l);
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
  auto p = plan_spec(s, Layout{});
  EXPECT_EQ(p.lowerdirs, (std::vector<std::string>{"/mnt/image/layers/top", "/mnt/image/layers/base", "/mnt/image"}));
}

TEST(GuestInitPlan, RejectsLowerdirsThatEscapeTheImageDisk) {
  container::RunSpec s;
  s.args = {"true"};
  for (std::string bad : {"..", "../etc", "/layers/../../x", "a/.."}) {
    s.lowerdirs = {bad};
    EXPECT_THROW(plan_spec(s, Layout{}), Error) << bad;
  }
  s.lowerdirs = {"a..b/..c"};  // dots inside names are fine
  EXPECT_NO_THROW(plan_spec(s, Layout{}));
}

TEST(GuestInitPlan, RejectsEmptyArgsAndHostBindMounts) {
  container::RunSpec s;
  EXPECT_THROW(plan_spec(s, Layout{}), Error);
  s.args = {"true"};
  s.mounts = {{"/host/data", "/data", false}};
  try {
    plan_spec(s, Layout{});
    FAIL() << "bind mount accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/host/data"), std::string::npos) << e.what();
  }
}

TEST(GuestInitPlan, VolumeSharesBecome9pMountsReadOnlyOnlyWhereTheVolumeIs) {
  container::RunSpec s;
  s.args = {"true"};
  s.mounts = {{"hvrun-vol0", "/data", false}, {"hvrun-vol1", "/etc/cfg", true}};
  Layout l;
  auto p = plan_spec(s, l);
  ASSERT_EQ(p.mounts.size(), 2u);
  EXPECT_EQ(p.mounts[0].source, "/mnt/vol/0");
  EXPECT_EQ(p.mounts[0].target, "/data");
  EXPECT_FALSE(p.mounts[0].readonly);
  EXPECT_EQ(p.mounts[1].source, "/mnt/vol/1");
  EXPECT_TRUE(p.mounts[1].readonly);
  auto v = share_mounts(s, l);
  ASSERT_EQ(v.size(), 2u);
  EXPECT_EQ(v[0].source, "hvrun-vol0");
  EXPECT_EQ(v[0].target, "/mnt/vol/0");
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
  s.mounts = {{"hvrun-vol0", "/data", false}};
  s.netcfg.address = "10.88.0.5";
  s.netcfg.hosts_path = kHostsShareTag;
  Layout l;
  auto p = plan_spec(s, l);
  EXPECT_EQ(p.netcfg.hosts_path, "/mnt/hosts/hosts");
  auto v = share_mounts(s, l);
  ASSERT_EQ(v.size(), 2u);
  EXPECT_EQ(v[1].source, "hvrun-hosts");
  EXPECT_EQ(v[1].target, "/mnt/hosts");
  EXPECT_EQ(v[1].fstype, "9p");
  EXPECT_TRUE(v[1].flags & MS_RDONLY);
  // A host path cannot reach into the guest.
  s.netcfg.hosts_path = "/var/lib/hvrun/containers/x/etc/hosts";
  EXPECT_THROW(plan_spec(s, l), Error);
  EXPECT_THROW(share_mounts(s, l), Error);
  // No hosts path (no network): no share.
  s.netcfg.hosts_path.clear();
  EXPECT_EQ(share_mounts(s, l).size(), 1u);
  EXPECT_EQ(plan_spec(s, l).netcfg.hosts_path, "");
}

TEST(GuestInitPlan, AFileVolumeMountsItsShareAndBindsTheOneFileInIt) {
  container::RunSpec s;
  s.args = {"true"};
  s.mounts = {{"hvrun-vol0/file", "/app/config.json", false}, {"hvrun-vol1", "/data", true}};
  Layout l;
  auto p = plan_spec(s, l);
  ASSERT_EQ(p.mounts.size(), 2u);
  EXPECT_EQ(p.mounts[0].source, "/mnt/vol/0/file");
  EXPECT_EQ(p.mounts[0].target, "/app/config.json");
  EXPECT_EQ(p.mounts[1].source, "/mnt/vol/1");
  auto v = share_mounts(s, l);
  ASSERT_EQ(v.size(), 2u);
  EXPECT_EQ(v[0].source, "hvrun-vol0") << "the 9p mount is of the share, by its tag";
  EXPECT_EQ(v[0].target, "/mnt/vol/0");
  EXPECT_FALSE(v[0].flags & MS_RDONLY);
}

TEST(GuestInitPlan, OnlyTheHostsVolumeTagsInOrderAreAcceptedAsVolumeSources) {
  container::RunSpec s;
  s.args = {"true"};
  Layout l;
  for (const char* bad : {"/dev/vdc", "/host/data", "hvrun-vol", "hvrun-volx", "hvrun-vol123", "../hvrun-vol0",
                          "hvrun-vol0/other", "hvrun-vol0/file/x", "hvrun-vol0/../file", "/file"}) {
    s.mounts = {{bad, "/data", true}};
    EXPECT_THROW(plan_spec(s, l), Error) << bad;
    EXPECT_THROW(share_mounts(s, l), Error) << bad;
  }
  s.mounts = {{"hvrun-vol1", "/data", true}};  // mount 0 must be share 0
  EXPECT_THROW(plan_spec(s, l), Error);
}

TEST(GuestInitPlan, ParseSpecReadsARunSpecAndNamesWhatIsWrong) {
  auto s = parse_spec(R"({"args":["echo","hi"],"tty":true,"memory_bytes":1048576})");
  EXPECT_EQ(s.args, (std::vector<std::string>{"echo", "hi"}));
  EXPECT_TRUE(s.tty);
  EXPECT_EQ(s.memory_bytes, 1048576);
  EXPECT_EQ(s.cwd, "/");  // defaults kept for absent fields
  EXPECT_THROW(parse_spec("{not json"), Error);
  EXPECT_THROW(parse_spec("[1,2]"), Error);
  EXPECT_THROW(parse_spec(R"({"args":"not-a-list"})"), Error);
}

TEST(GuestInitControl, ParsesSignalWinsizeAndStdinEof) {
  auto sig = parse_control(R"({"signal":15})");
  ASSERT_TRUE(sig);
  EXPECT_EQ(sig->kind, ControlMsg::Kind::Signal);
  EXPECT_EQ(sig->signal, SIGTERM);
  auto ws = parse_control(R"({"winsize":[40,120]})");
  ASSERT_TRUE(ws);
  EXPECT_EQ(ws->kind, ControlMsg::Kind::Winsize);
  EXPECT_EQ(ws->rows, 40);
  EXPECT_EQ(ws->cols, 120);
  auto eof = parse_control(R"({"stdin_eof":true})");
  ASSERT_TRUE(eof);
  EXPECT_EQ(eof->kind, ControlMsg::Kind::StdinEof);
}

TEST(GuestInitControl, RejectsMalformedOrHostileMessagesWithAReason) {
  for (std::string bad : {"", "garbage", "[]", R"({"signal":0})", R"({"signal":99999})", R"({"signal":"9"})",
                          R"({"winsize":[1]})", R"({"winsize":[-1,5]})", R"({"winsize":[70000,5]})",
                          R"({"stdin_eof":false})", R"({"other":1})"}) {
    std::string why;
    EXPECT_FALSE(parse_control(bad, &why)) << bad;
    EXPECT_FALSE(why.empty()) << bad;
  }
}

TEST(GuestInitControl, ExitAndErrorEventsAreOneJsonLineEach) {
  container::ExitStatus st;
  st.code = 0;
  st.signal = 9;
  st.oom_killed = true;
  auto e = exit_event(st);
  ASSERT_EQ(e.back(), '\n');
  EXPECT_EQ(std::count(e.begin(), e.end(), '\n'), 1);
  auto j = nlohmann::json::parse(e);
  EXPECT_EQ(j["event"], "exit");
  EXPECT_EQ(j["signal"], 9);
  EXPECT_EQ(j["oom"], true);
  auto f = nlohmann::json::parse(error_event("mount /dev/vda failed:\nline two"));
  EXPECT_EQ(f["code"], 125);
  EXPECT_EQ(f["error"], "mount /dev/vda failed:\nline two");
  EXPECT_EQ(nlohmann::json::parse(ready_event())["event"], "ready");
  auto two = error_event("a\nb");
  EXPECT_EQ(std::count(two.begin(), two.end(), '\n'), 1);
}

}  // namespace
}  // namespace hvrun::guestinit
