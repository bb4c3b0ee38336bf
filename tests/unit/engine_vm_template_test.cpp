// engine/vm_template: when `hvrun --vm` boots instead of restoring a
// template, and that it says why (a real template is made and restored in
// the nested test host: tests/integration/vm_scenarios.sh runs every VM
// scenario without a network from one).
#include <gtest/gtest.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <algorithm>

#include "engine/vm_template.hpp"
#include "tests/unit/image_test_util.hpp"
#include "util/fs.hpp"

using namespace hvrun::engine;

namespace {

class EngineVmTemplate : public ::testing::Test {
 protected:
  void SetUp() override { ::unsetenv("HVRUN_VM_TEMPLATE"); }
  void TearDown() override { ::unsetenv("HVRUN_VM_TEMPLATE"); }
  hvrun::image::testing::Tmp tmp_;
  const std::string root_ = tmp_.path;
};

TEST_F(EngineVmTemplate, HvrunVmTemplateOffAlwaysBootsAndSaysSo) {
  ::setenv("HVRUN_VM_TEMPLATE", "off", 1);
  const TemplateChoice c = vm_template_for(root_, VmAssets{}, hvrun::container::RunSpec{});
  EXPECT_EQ(c.dir, "");
  EXPECT_EQ(c.why_not, "templates are off (HVRUN_VM_TEMPLATE=off)");
  EXPECT_FALSE(hvrun::path_exists(vm_templates_dir(root_)));
}

TEST_F(EngineVmTemplate, AVmWithVolumesOrANetworkWithoutItsHostsFileBootsSayingWhy) {
  hvrun::container::RunSpec s;
  s.mounts.push_back({"/a", "/b", false});
  EXPECT_NE(vm_template_for(root_, VmAssets{}, s).why_not.find("no template for this VM: it has volumes"),
            std::string::npos);
  s.mounts.clear();
  s.net = hvrun::container::NetMode::Bridge;
  EXPECT_NE(vm_template_for(root_, VmAssets{}, s).why_not.find("its network has no hosts file"), std::string::npos);
  s.netcfg.hosts_path = "/var/lib/hvrun/containers/x/hosts";
  ::setenv("HVRUN_VM_TEST_NETCFG", "{}", 1);
  EXPECT_NE(vm_template_for(root_, VmAssets{}, s).why_not.find("HVRUN_VM_TEST_NETCFG"), std::string::npos);
  ::unsetenv("HVRUN_VM_TEST_NETCFG");
}

TEST(EngineVmTemplateRefusal, ANetworkWithItsHostsFileAndNoVolumesCanStartFromATemplate) {
  hvrun::container::RunSpec s;
  EXPECT_EQ(vm_template_refusal(s), "");
  s.net = hvrun::container::NetMode::Bridge;
  s.netcfg.hosts_path = "/var/lib/hvrun/containers/x/hosts";
  EXPECT_EQ(vm_template_refusal(s), "");
  EXPECT_EQ(vm_template_refusal(s, 1), "it is connected to more than one network") << "a template has one card";
}

TEST_F(EngineVmTemplate, AMissingKernelIsAColdBootThatNamesItNotAnError) {
  VmAssets a;
  a.kernel = root_ + "/no-such-vmlinux";
  a.guest_init = root_ + "/no-such-init";
  a.vmm = root_ + "/no-such-vmm";
  const TemplateChoice c = vm_template_for(root_, a, hvrun::container::RunSpec{});
  EXPECT_EQ(c.dir, "");
  EXPECT_NE(c.why_not.find("no template VM: "), std::string::npos) << c.why_not;
  EXPECT_NE(c.why_not.find(a.kernel), std::string::npos) << c.why_not;
  EXPECT_TRUE(hvrun::list_dir(vm_templates_dir(root_)).empty()) << "nothing half-made is left";
}

// A template dir as a make leaves it (template.json; no snapshot needed
// to be listed).
void put_template(const std::string& root, const std::string& key, const nlohmann::json& made_of) {
  const std::string dir = vm_templates_dir(root) + "/" + key;
  hvrun::mkdir_p(dir, 0700);
  hvrun::write_file_atomic(dir + "/template.json", made_of.dump(2) + "\n", 0600);
  hvrun::write_file_atomic(dir + "/vm.snap", std::string(8192, 'x'), 0600);
}

TEST_F(EngineVmTemplate, LsTellsTemplatesThisHvrunCanUseAndPruneRemovesOnlyTheOthersUnlessAll) {
  // This hvrun's files: the ones the environment names.
  VmAssets a;
  a.kernel = root_ + "/vmlinux";
  a.guest_init = root_ + "/guest-init";
  a.vmm = root_ + "/hvrun-vmm";
  for (const auto& f : {a.kernel, a.guest_init, a.vmm}) hvrun::write_file_atomic(f, "#!/bin/true\n", 0755);
  ::setenv("HVRUN_GUEST_KERNEL", a.kernel.c_str(), 1);
  ::setenv("HVRUN_GUEST_INIT", a.guest_init.c_str(), 1);
  ::setenv("HVRUN_VMM", a.vmm.c_str(), 1);
  hvrun::container::RunSpec net;
  net.net = hvrun::container::NetMode::Bridge;
  put_template(root_, "aaaa-current", vm_template_made_of(a, net));
  VmAssets old = a;
  old.kernel = root_ + "/vmlinux.old";
  hvrun::write_file_atomic(old.kernel, "old kernel\n", 0644);
  put_template(root_, "bbbb-old-kernel", vm_template_made_of(old, {}));
  hvrun::write_file_atomic(vm_blank_rw_disk(root_), "blank", 0600);
  const std::string store = vm_templates_dir(root_);
  hvrun::mkdir_p(store + "/.tmp-cccc-dead", 0700);  // a make killed an hour ago
  ASSERT_EQ(hvrun::image::testing::sh("touch -d '1 hour ago' " + store + "/.tmp-cccc-dead"), 0);
  hvrun::mkdir_p(store + "/.tmp-dddd-making", 0700);  // one under way

  auto ls = list_vm_templates(root_);
  ASSERT_EQ(ls.size(), 2u);
  std::sort(ls.begin(), ls.end(), [](const TemplateInfo& x, const TemplateInfo& y) { return x.key < y.key; });
  EXPECT_EQ(ls[0].key, "aaaa-current");
  EXPECT_TRUE(ls[0].current);
  EXPECT_TRUE(ls[0].network_card);
  EXPECT_EQ(ls[0].memory_bytes, vm_guest_memory(0));
  EXPECT_EQ(ls[0].vcpus, 1u);
  EXPECT_GE(ls[0].disk_bytes, 8192u);
  EXPECT_EQ(ls[1].key, "bbbb-old-kernel");
  EXPECT_FALSE(ls[1].current);

  EXPECT_EQ(prune_vm_templates(root_, false), std::vector<std::string>{"bbbb-old-kernel"});
  EXPECT_TRUE(hvrun::path_exists(store + "/aaaa-current/vm.snap"));
  EXPECT_FALSE(hvrun::path_exists(store + "/bbbb-old-kernel"));
  EXPECT_FALSE(hvrun::path_exists(store + "/.tmp-cccc-dead"));
  EXPECT_TRUE(hvrun::path_exists(store + "/.tmp-dddd-making"));
  EXPECT_TRUE(hvrun::path_exists(vm_blank_rw_disk(root_)));

  // A rebuilt guest-init: the current template is stale too.
  ASSERT_EQ(hvrun::image::testing::sh("touch -d '1 minute ago' " + a.guest_init), 0);
  EXPECT_FALSE(list_vm_templates(root_).at(0).current);

  put_template(root_, "eeee-new", vm_template_made_of(a, {}));
  EXPECT_TRUE(list_vm_templates(root_).back().current);
  EXPECT_EQ(prune_vm_templates(root_, true).size(), 2u);
  EXPECT_TRUE(list_vm_templates(root_).empty());
  EXPECT_FALSE(hvrun::path_exists(vm_blank_rw_disk(root_)));
  EXPECT_TRUE(hvrun::path_exists(store + "/.tmp-dddd-making")) << "a make under way is left alone even by --all";
  for (const char* e : {"HVRUN_GUEST_KERNEL", "HVRUN_GUEST_INIT", "HVRUN_VMM"}) ::unsetenv(e);
}

TEST_F(EngineVmTemplate, WarmRefusesWhatATemplateCannotCarryAndTemplatesOff) {
  hvrun::container::RunSpec s;
  s.mounts.push_back({"/a", "/b", false});
  try {
    (void)warm_vm_template(root_, s);
    ADD_FAILURE() << "warm of a VM with volumes did not throw";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("no template for this VM: it has volumes"), std::string::npos) << e.what();
  }
  ::setenv("HVRUN_VM_TEMPLATE", "off", 1);
  ::setenv("HVRUN_FORCE_VM", "1", 1);  // past the KVM check of this host
  const std::string k = root_ + "/vmlinux", g = root_ + "/guest-init", v = root_ + "/hvrun-vmm";
  for (const auto& f : {k, g, v}) hvrun::write_file_atomic(f, "#!/bin/true\n", 0755);
  ::setenv("HVRUN_GUEST_KERNEL", k.c_str(), 1);
  ::setenv("HVRUN_GUEST_INIT", g.c_str(), 1);
  ::setenv("HVRUN_VMM", v.c_str(), 1);
  try {
    (void)warm_vm_template(root_, {});
    ADD_FAILURE() << "warm with HVRUN_VM_TEMPLATE=off did not throw";
  } catch (const std::exception& e) {
    EXPECT_EQ(std::string(e.what()), "templates are off (HVRUN_VM_TEMPLATE=off)");
  }
  for (const char* e : {"HVRUN_GUEST_KERNEL", "HVRUN_GUEST_INIT", "HVRUN_VMM", "HVRUN_FORCE_VM"}) ::unsetenv(e);
}

}  // namespace
