// An OCI bundle's config.json read into the RunSpec (oci/config.hpp): the
// default one, one using every mapped field, the configs runc and crun
// write, and malformed or unsupported ones refused naming the field.
#include <gtest/gtest.h>
#include <sched.h>
#include <unistd.h>

#include <cstdlib>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "container/namespaces.hpp"
#include "container/sysctl.hpp"
#include "oci/config.hpp"
#include "oci/vm.hpp"
#include "tests/unit/p9_test_util.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

using hvrun::oci::Bundle;
using hvrun::oci::parse_config;
using json = nlohmann::json;
namespace container = hvrun::container;

namespace {

bool has_warning(const Bundle& b, const std::string& part) {
  for (const auto& w : b.warnings)
    if (w.find(part) != std::string::npos) return true;
  return false;
}

std::string error_of(const std::string& text) {
  try {
    (void)parse_config(text, "/bundle");
  } catch (const hvrun::Error& e) {
    return e.what();
  }
  return "(accepted)";
}

TEST(OciConfig, TheDefaultConfigRunsShOnTheBundlesRootfsWithItsCapabilitiesAndOwnNetwork) {
  const Bundle b = parse_config(hvrun::oci::default_config(), "/bundle");
  EXPECT_EQ(b.oci_version, "1.0.2");
  EXPECT_EQ(b.spec.rootfs, "/bundle/rootfs");
  EXPECT_TRUE(b.spec.readonly_rootfs);
  EXPECT_EQ(b.spec.args, std::vector<std::string>{"sh"});
  EXPECT_TRUE(b.spec.tty);
  EXPECT_EQ(b.spec.user, "0:0");
  EXPECT_EQ(b.spec.cwd, "/");
  EXPECT_EQ(b.spec.hostname, "hvrun");
  EXPECT_EQ(b.spec.cap_drop, std::vector<std::string>{"ALL"});
  EXPECT_EQ(b.spec.cap_add, (std::vector<std::string>{"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"}));
  EXPECT_TRUE(b.spec.no_new_privileges);
  EXPECT_EQ(b.spec.net, container::NetMode::None);  // a network namespace of its own, lo only
  EXPECT_TRUE(b.spec.mounts.empty());                // the standard ones are the stack's own
  EXPECT_EQ(b.spec.seccomp.mode, container::SeccompMode::Unconfined);  // no profile given
  EXPECT_FALSE(b.vm);
  EXPECT_EQ(b.spec.rlimits, (std::vector<container::Rlimit>{{"RLIMIT_NOFILE", 1024, 1024}}));
  EXPECT_TRUE(has_warning(b, "process.capabilities.inheritable/ambient"));
  EXPECT_TRUE(b.spec.own_masked_paths);
  EXPECT_EQ(b.spec.masked_paths.front(), "/proc/acpi");
  EXPECT_EQ(b.spec.readonly_paths.back(), "/proc/sysrq-trigger");
  for (const auto& w : b.warnings) EXPECT_EQ(w.rfind("config.json: ", 0), 0u) << w;
}

TEST(OciConfig, BindMountsLimitsASeccompProfileAndTheVmAnnotationAreApplied) {
  json j = json::parse(hvrun::oci::default_config());
  j["root"] = {{"path", "/abs/root"}};
  j["process"]["terminal"] = false;
  j["process"]["user"] = {{"uid", 1000}, {"gid", 100}};
  j["process"]["consoleSize"] = {{"height", 40}, {"width", 132}};
  j["process"]["env"] = {"A=b", "EMPTY="};
  j["process"]["user"]["additionalGids"] = {5, 100};
  j["process"]["user"]["umask"] = 077;
  j["process"]["oomScoreAdj"] = 500;
  j["process"]["rlimits"] = {{{"type", "RLIMIT_NPROC"}, {"soft", 64}, {"hard", 128}},
                             {{"type", "RLIMIT_CORE"}, {"soft", 0}, {"hard", 0}}};
  j["mounts"].push_back({{"destination", "/data"}, {"type", "bind"}, {"source", "data"}, {"options", {"rbind", "ro"}}});
  j["mounts"].push_back({{"destination", "/abs"}, {"type", "none"}, {"source", "/srv"}, {"options", {"bind"}}});
  j["mounts"].push_back({{"destination", "/run"}, {"type", "tmpfs"}, {"source", "tmpfs"},
                         {"options", {"nosuid", "strictatime", "mode=755", "size=65536k"}}});
  j["linux"]["namespaces"] = {{{"type", "pid"}}, {{"type", "mount"}}, {{"type", "user"}}};
  j["linux"]["uidMappings"] = {{{"containerID", 0}, {"hostID", 200000}, {"size", 65536}}};
  j["linux"]["gidMappings"] = {{{"containerID", 0}, {"hostID", 300000}, {"size", 1000}},
                               {{"containerID", 1000}, {"hostID", 1000}, {"size", 1}}};
  j["linux"]["resources"] = {{"memory", {{"limit", 67108864}}},
                             {"cpu", {{"quota", 50000}, {"period", 100000}}},
                             {"pids", {{"limit", 100}}}};
  j["linux"]["seccomp"] = {{"defaultAction", "SCMP_ACT_ALLOW"},
                           {"syscalls", {{{"names", {"mkdir"}}, {"action", "SCMP_ACT_ERRNO"}}}}};
  j["annotations"] = {{"io.hvrun.isolation", "vm"}, {"org.example", "x"}};
  j["hooks"] = {{"createRuntime", {{{"path", "/usr/bin/hook"}, {"args", {"hook", "create"}}, {"env", {"A=1"}}, {"timeout", 5}}}},
                {"poststop", {{{"path", "/usr/bin/hook"}}}}};
  const Bundle b = parse_config(j.dump(), "/bundle");
  EXPECT_EQ(b.spec.rootfs, "/abs/root");
  EXPECT_FALSE(b.spec.readonly_rootfs);
  EXPECT_FALSE(b.spec.tty);
  EXPECT_EQ(b.spec.tty_rows, 40);
  EXPECT_EQ(b.spec.tty_cols, 132);
  EXPECT_EQ(b.spec.user, "1000:100");
  EXPECT_EQ(b.spec.env, (std::vector<std::string>{"A=b", "EMPTY="}));
  EXPECT_EQ(b.spec.additional_gids, (std::vector<uint32_t>{5, 100}));
  EXPECT_EQ(b.spec.umask, 077);
  EXPECT_TRUE(b.spec.set_oom_score_adj);
  EXPECT_EQ(b.spec.oom_score_adj, 500);
  EXPECT_EQ(b.spec.rlimits, (std::vector<container::Rlimit>{{"RLIMIT_NPROC", 64, 128}, {"RLIMIT_CORE", 0, 0}}));
  ASSERT_EQ(b.spec.mounts.size(), 2u);
  EXPECT_EQ(b.spec.mounts[0].source, "/bundle/data");
  EXPECT_EQ(b.spec.mounts[0].target, "/data");
  EXPECT_TRUE(b.spec.mounts[0].readonly);
  EXPECT_EQ(b.spec.mounts[1].source, "/srv");
  EXPECT_FALSE(b.spec.mounts[1].readonly);
  ASSERT_EQ(b.spec.tmpfs.size(), 1u);
  EXPECT_EQ(b.spec.tmpfs[0].target, "/run");
  EXPECT_EQ(b.spec.tmpfs[0].mode, "755");
  EXPECT_EQ(b.spec.tmpfs[0].size, "65536k");
  EXPECT_TRUE(b.spec.tmpfs[0].nosuid);
  EXPECT_FALSE(b.spec.tmpfs[0].nodev);
  EXPECT_FALSE(b.spec.tmpfs[0].noexec);
  EXPECT_TRUE(has_warning(b, "mounts[9].options: \"strictatime\" is not applied yet"));
  EXPECT_EQ(b.spec.net, container::NetMode::Host);  // no network namespace listed
  EXPECT_TRUE(b.spec.userns);
  EXPECT_EQ(b.spec.uid_mappings, (std::vector<container::IdMapping>{{0, 200000, 65536}}));
  EXPECT_EQ(b.spec.gid_mappings, (std::vector<container::IdMapping>{{0, 300000, 1000}, {1000, 1000, 1}}));
  EXPECT_TRUE(has_warning(b, "no ipc namespace"));
  EXPECT_EQ(b.spec.memory_bytes, 67108864);
  EXPECT_DOUBLE_EQ(b.spec.cpus, 0.5);
  EXPECT_EQ(b.spec.pids_limit, 100);
  ASSERT_EQ(b.spec.seccomp.mode, container::SeccompMode::Custom);
  EXPECT_EQ(json::parse(b.spec.seccomp.profile)["syscalls"][0]["names"][0], "mkdir");
  EXPECT_TRUE(b.vm);
  EXPECT_EQ(b.annotations.at("org.example"), "x");
  ASSERT_EQ(b.hooks.create_runtime.size(), 1u);
  EXPECT_EQ(b.hooks.create_runtime[0].path, "/usr/bin/hook");
  EXPECT_EQ(b.hooks.create_runtime[0].args, (std::vector<std::string>{"hook", "create"}));
  EXPECT_EQ(b.hooks.create_runtime[0].env, std::vector<std::string>{"A=1"});
  EXPECT_EQ(b.hooks.create_runtime[0].timeout_s, 5);
  EXPECT_EQ(b.hooks.poststop.size(), 1u);
  EXPECT_TRUE(b.hooks.prestart.empty());
}

TEST(OciConfig, MalformedOrUnsupportedConfigsAreRefusedNamingTheField) {
  const json base = json::parse(hvrun::oci::default_config());
  struct Case {
    std::string what;
    std::function<void(json&)> change;
    std::string error;
  };
  const std::vector<Case> cases = {
      {"no ociVersion", [](json& j) { j.erase("ociVersion"); }, "config.json: ociVersion: is required"},
      {"version 2", [](json& j) { j["ociVersion"] = "2.0.0"; }, "ociVersion: \"2.0.0\" is not a 1.x version"},
      {"no root", [](json& j) { j.erase("root"); }, "config.json: root: is required"},
      {"no process", [](json& j) { j.erase("process"); }, "config.json: process: is required"},
      {"empty args", [](json& j) { j["process"]["args"] = json::array(); }, "process.args: must name a program"},
      {"args not strings", [](json& j) { j["process"]["args"] = {1}; }, "process.args[0]: must be a string"},
      {"env without =", [](json& j) { j["process"]["env"] = {"A=1", "B"}; }, "process.env[1]: \"B\" is not NAME=value"},
      {"relative cwd", [](json& j) { j["process"]["cwd"] = "tmp"; }, "process.cwd: \"tmp\" must be an absolute path"},
      {"no uid", [](json& j) { j["process"]["user"] = {{"gid", 0}}; }, "process.user: needs uid and gid"},
      {"negative uid", [](json& j) { j["process"]["user"]["uid"] = -1; }, "process.user.uid: -1 is out of range"},
      {"float gid", [](json& j) { j["process"]["user"]["gid"] = 1.5; }, "process.user.gid: must be an integer"},
      {"terminal string", [](json& j) { j["process"]["terminal"] = "yes"; }, "process.terminal: must be true or false"},
      {"capability name", [](json& j) { j["process"]["capabilities"]["bounding"] = {"NET_ADMIN"}; },
       "process.capabilities.bounding: \"NET_ADMIN\" is not a capability name"},
      {"rlimit name", [](json& j) { j["process"]["rlimits"][0]["type"] = "RLIMIT_BOGUS"; },
       "process.rlimits[0].type: \"RLIMIT_BOGUS\" is not a Linux resource limit"},
      {"rlimit soft above hard", [](json& j) { j["process"]["rlimits"][0]["soft"] = 2048; },
       "process.rlimits[0]: soft 2048 is above hard 1024"},
      {"rlimit negative", [](json& j) { j["process"]["rlimits"][0]["hard"] = -1; },
       "process.rlimits[0].hard: must be a non-negative integer"},
      {"oom score", [](json& j) { j["process"]["oomScoreAdj"] = 1001; }, "process.oomScoreAdj: 1001 is out of range"},
      {"masked path", [](json& j) { j["linux"]["maskedPaths"] = {"/proc/kcore", "proc/keys"}; },
       "linux.maskedPaths[1]: \"proc/keys\" must be an absolute path"},
      {"hook path", [](json& j) { j["hooks"] = {{"prestart", {{{"path", "bin/hook"}}}}}; },
       "hooks.prestart[0].path: \"bin/hook\" must be an absolute path"},
      {"hook timeout", [](json& j) { j["hooks"] = {{"poststop", {{{"path", "/h"}, {"timeout", 0}}}}}; },
       "hooks.poststop[0].timeout: must be a positive number of seconds"},
      {"hook in the container", [](json& j) { j["hooks"] = {{"createContainer", {{{"path", "/h"}}}}}; },
       "hooks.createContainer: hooks run inside the container are not supported yet"},
      {"tmpfs size", [](json& j) { j["mounts"].push_back({{"destination", "/data"}, {"type", "tmpfs"}, {"options", {"size=lots"}}}); },
       "mounts[7].options: tmpfs /data: size \"lots\" is not a number of bytes"},
      {"tmpfs mode", [](json& j) { j["mounts"].push_back({{"destination", "/data"}, {"type", "tmpfs"}, {"options", {"mode=rwx"}}}); },
       "mounts[7].options: tmpfs /data: mode \"rwx\" is not an octal mode"},
      {"tmpfs option", [](json& j) { j["mounts"].push_back({{"destination", "/data"}, {"type", "tmpfs"}, {"options", {"uid=5"}}}); },
       "mounts[7].options: \"uid=5\" is not a tmpfs option hvrun knows"},
      {"nfs volume", [](json& j) { j["mounts"].push_back({{"destination", "/data"}, {"type", "nfs"}}); },
       "mounts[7]: a nfs mount at /data is not supported yet"},
      {"bind without source", [](json& j) { j["mounts"].push_back({{"destination", "/d"}, {"type", "bind"}}); },
       "mounts[7].source: is required for a bind mount"},
      {"relative destination", [](json& j) { j["mounts"].push_back({{"destination", "d"}, {"type", "bind"}}); },
       "mounts[7].destination: \"d\" must be an absolute path"},
      {"host-wide sysctl", [](json& j) { j["linux"]["sysctl"] = {{"kernel.pid_max", "4096"}}; },
       "linux.sysctl[\"kernel.pid_max\"]: \"kernel.pid_max\" is not kept per namespace"},
      {"sysctl walking out of /proc/sys", [](json& j) { j["linux"]["sysctl"] = {{"../../etc/passwd", "x"}}; },
       "\"../../etc/passwd\" is not a sysctl name"},
      {"sysctl of the hostname", [](json& j) { j["linux"]["sysctl"] = {{"kernel.hostname", "h"}}; },
       "\"kernel.hostname\" is the config's hostname: set that instead"},
      {"sysctl value of two lines", [](json& j) { j["linux"]["sysctl"] = {{"kernel.shmmni", "1\n2"}}; },
       "linux.sysctl[\"kernel.shmmni\"]: holds a NUL or a newline inside"},
      {"slashed sysctl walking out", [](json& j) { j["linux"]["sysctl"] = {{"net/../../etc", "x"}}; },
       "\"net/../../etc\" is not a sysctl name"},
      {"joined mount namespace", [](json& j) { j["linux"]["namespaces"][4]["path"] = "/proc/1/ns/mnt"; },
       "linux.namespaces[4].path: joining an existing mount namespace is not supported yet"},
      {"relative namespace path", [](json& j) { j["linux"]["namespaces"][1]["path"] = "proc/1/ns/net"; },
       "linux.namespaces[1].path: \"proc/1/ns/net\" must be an absolute path"},
      {"joined pid namespace with a new user namespace",
       [](json& j) {
         j["linux"]["namespaces"][0]["path"] = "/proc/1/ns/pid";
         j["linux"]["namespaces"].push_back({{"type", "user"}});
       },
       "linux.namespaces: joining an existing pid namespace together with a new user namespace is not supported: "
       "the new one's root could not mount its /proc"},
      {"joined ipc namespace with a new user namespace",
       [](json& j) {
         j["linux"]["namespaces"][2]["path"] = "/proc/1/ns/ipc";
         j["linux"]["namespaces"].push_back({{"type", "user"}});
       },
       "linux.namespaces: joining an existing ipc namespace together with a new user namespace is not supported: "
       "the new one's root could not mount its /dev/mqueue"},
      {"map without a user namespace",
       [](json& j) { j["linux"]["uidMappings"] = {{{"containerID", 0}, {"hostID", 1000}, {"size", 1}}}; },
       "linux.uidMappings: is given, but linux.namespaces has no user namespace to map"},
      {"map of size 0",
       [](json& j) {
         j["linux"]["namespaces"].push_back({{"type", "user"}});
         j["linux"]["uidMappings"] = {{{"containerID", 0}, {"hostID", 1000}, {"size", 0}}};
       },
       "linux.uidMappings[0].size: must be at least 1"},
      {"map without hostID",
       [](json& j) {
         j["linux"]["namespaces"].push_back({{"type", "user"}});
         j["linux"]["gidMappings"] = {{{"containerID", 0}, {"size", 10}}};
       },
       "linux.gidMappings[0].hostID: is missing"},
      {"map past the last id",
       [](json& j) {
         j["linux"]["namespaces"].push_back({{"type", "user"}});
         j["linux"]["uidMappings"] = {{{"containerID", 0}, {"hostID", 4294967295LL}, {"size", 2}}};
       },
       "linux.uidMappings[0]: runs past the last id (4294967295)"},
      {"one map only",
       [](json& j) {
         j["linux"]["namespaces"].push_back({{"type", "user"}});
         j["linux"]["uidMappings"] = {{{"containerID", 0}, {"hostID", 1000}, {"size", 1}}};
       },
       "linux.gidMappings: is missing while the other map is given (a user namespace needs both)"},
      {"bogus namespace", [](json& j) { j["linux"]["namespaces"].push_back({{"type", "bogus"}}); },
       "\"bogus\" is not a namespace type"},
      {"namespace twice", [](json& j) { j["linux"]["namespaces"].push_back({{"type", "pid"}}); }, "\"pid\" is listed twice"},
      {"memory as text", [](json& j) { j["linux"]["resources"]["memory"] = {{"limit", "1g"}}; },
       "linux.resources.memory.limit: must be an integer"},
      {"cpu period", [](json& j) { j["linux"]["resources"]["cpu"] = {{"quota", 1000}, {"period", 10}}; },
       "linux.resources.cpu.period: 10 is out of range"},
      {"seccomp notify", [](json& j) { j["linux"]["seccomp"] = {{"defaultAction", "SCMP_ACT_ALLOW"}, {"listenerPath", "/x"}}; },
       "linux.seccomp.listenerPath: seccomp notify (SCMP_ACT_NOTIFY) is not supported"},
      {"isolation", [](json& j) { j["annotations"] = {{"io.hvrun.isolation", "kvm"}}; },
       "annotations.io.hvrun.isolation: \"kvm\" must be vm or container"},
  };
  for (const auto& c : cases) {
    json j = base;
    c.change(j);
    const std::string got = error_of(j.dump());
    EXPECT_NE(got.find(c.error), std::string::npos) << c.what << ": " << got;
    EXPECT_EQ(got.find('\n'), std::string::npos) << c.what << ": one line";
  }
  EXPECT_NE(error_of("{\"ociVersion\":").find("config.json is not valid JSON"), std::string::npos);
  EXPECT_EQ(error_of("[]"), "config.json: (top): must be an object");
}

// The configs the peers write (`runc spec`, `crun spec`) read cleanly.
TEST(OciConfig, TheConfigsRuncAndCrunWriteAreRead) {
  int peers = 0;
  for (const char* peer : {"runc", "crun"}) {
    const std::string bin = std::string("/usr/sbin/") + peer;
    const std::string alt = std::string("/usr/bin/") + peer;
    const std::string exe = ::access(bin.c_str(), X_OK) == 0 ? bin : ::access(alt.c_str(), X_OK) == 0 ? alt : "";
    if (exe.empty()) continue;
    hvrun::vmm::p9test::TempDir d;
    const std::string cmd = "cd " + d.path + " && " + exe + " spec >/dev/null 2>&1";
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
    const Bundle b = parse_config(hvrun::read_file(d.path + "/config.json"), d.path);
    EXPECT_EQ(b.spec.rootfs, d.path + "/rootfs") << peer;
    EXPECT_EQ(b.spec.args, std::vector<std::string>{"sh"}) << peer;
    EXPECT_EQ(b.spec.user, "0:0") << peer;
    EXPECT_EQ(b.spec.net, container::NetMode::None) << peer;
    EXPECT_TRUE(b.spec.mounts.empty()) << peer << ": its standard mounts are the stack's own";
    ++peers;
  }
  if (peers == 0) GTEST_SKIP() << "neither runc nor crun is installed (apt-get install runc crun)";
}


TEST(OciVm, TheGuestsSpecTakesItsRootFromTheDiskAndItsOwnNetworkForTheHosts) {
  Bundle b = parse_config(hvrun::oci::default_config(), "/bundle");
  std::vector<std::string> warnings;
  auto warn = [&](const std::string& w) { warnings.push_back(w); };
  EXPECT_TRUE(hvrun::oci::vm_guest_spec(b.spec, warn).tty);  // the default spec's terminal (oci/vm.hpp relays it)
  b.spec.mounts.push_back({"/srv/data", "/data", true});
  container::RunSpec own = hvrun::oci::vm_guest_spec(b.spec, warn);
  EXPECT_EQ(own.rootfs, "");  // guest-init's overlay over the image disk
  EXPECT_TRUE(own.lowerdirs.empty());
  EXPECT_EQ(own.net, container::NetMode::None);
  EXPECT_TRUE(warnings.empty());
  ASSERT_EQ(own.mounts.size(), 1u);  // the VM backend makes it a 9p share
  EXPECT_EQ(own.mounts[0].source, "/srv/data");
  EXPECT_EQ(own.mounts[0].target, "/data");
  EXPECT_EQ(own.args, b.spec.args);
  EXPECT_TRUE(own.readonly_rootfs);
  b.spec.net = container::NetMode::Host;  // no network namespace in config.json
  EXPECT_EQ(hvrun::oci::vm_guest_spec(b.spec, warn).net, container::NetMode::None);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("a microVM has its own network"), std::string::npos) << warnings[0];
}

// linux.namespaces[].path (a pod's, podman's namespaces): the process joins
// them; a microVM's guest joins none of the host's, and keeps the network
// namespace's path only for its card to be taken from it (oci/vm_net.hpp).
TEST(OciConfig, NamespacePathsAreJoinedAndAGuestKeepsOnlyTheNetworksForItsCard) {
  json j = json::parse(hvrun::oci::default_config());
  for (auto& n : j["linux"]["namespaces"]) {
    const std::string t = n["type"];
    if (t == "network" || t == "ipc" || t == "uts" || t == "pid" || t == "cgroup") n["path"] = "/run/pod/" + t;
  }
  const Bundle b = parse_config(j.dump(), "/bundle");
  EXPECT_EQ(b.spec.join.net, "/run/pod/network");
  EXPECT_EQ(b.spec.join.ipc, "/run/pod/ipc");
  EXPECT_EQ(b.spec.join.uts, "/run/pod/uts");
  EXPECT_EQ(b.spec.join.pid, "/run/pod/pid");
  EXPECT_EQ(b.spec.join.cgroup, "/run/pod/cgroup");
  EXPECT_EQ(b.spec.net, container::NetMode::None);  // not the runtime's own network
  std::vector<std::string> warnings;
  const container::RunSpec guest = hvrun::oci::vm_guest_spec(b.spec, [&](const std::string& w) { warnings.push_back(w); });
  EXPECT_EQ(guest.join.net, "/run/pod/network");
  EXPECT_TRUE(guest.join.ipc.empty() && guest.join.uts.empty() && guest.join.pid.empty() && guest.join.cgroup.empty());
  ASSERT_EQ(warnings.size(), 4u);  // ipc, uts, pid, cgroup: the guest's own
  EXPECT_NE(warnings[0].find("the ipc namespace /run/pod/ipc is the host's"), std::string::npos) << warnings[0];
  // An empty path is a new namespace, as the spec says.
  j["linux"]["namespaces"][1]["path"] = "";
  EXPECT_EQ(parse_config(j.dump(), "/bundle").spec.join.net, "");
}

// podman --uidmap / --userns=auto: a new user namespace with the network
// (and uts) namespace joined by path is taken; the runtime sets the joined
// ones' hostname and sysctls, the child its own namespaces'.
TEST(OciConfig, ANewUserNamespaceGoesWithAJoinedNetworkAndUtsNamespace) {
  json j = json::parse(hvrun::oci::default_config());
  for (auto& n : j["linux"]["namespaces"])
    if (n["type"] == "network" || n["type"] == "uts") n["path"] = "/run/netns/" + n["type"].get<std::string>();
  j["linux"]["namespaces"].push_back({{"type", "user"}});
  j["linux"]["uidMappings"] = {{{"containerID", 0}, {"hostID", 200000}, {"size", 65536}}};
  j["linux"]["gidMappings"] = {{{"containerID", 0}, {"hostID", 200000}, {"size", 65536}}};
  j["linux"]["sysctl"] = {{"net.ipv4.ip_forward", "1"}, {"kernel.shmmni", "99"}, {"kernel.domainname", "d"}};
  const Bundle b = parse_config(j.dump(), "/bundle");
  EXPECT_TRUE(b.spec.userns);
  EXPECT_EQ(b.spec.join.net, "/run/netns/network");
  EXPECT_EQ(b.spec.join.uts, "/run/netns/uts");
  EXPECT_EQ(container::userns_join_refusal(b.spec), "");
  using Map = std::map<std::string, std::string>;
  EXPECT_EQ(container::sysctls_kept_by(b.spec.sysctls, true, false, true),
            (Map{{"net.ipv4.ip_forward", "1"}, {"kernel.domainname", "d"}}));
  EXPECT_EQ(container::sysctls_kept_by(b.spec.sysctls, false, true, false), (Map{{"kernel.shmmni", "99"}}));
}

// A pod's user namespace joined by path: no new user namespace and no maps
// of the config's to write (the joined one has its own); its pid, ipc and
// cgroup namespaces may be joined with it.
TEST(OciConfig, AUserNamespaceGivenByPathIsJoinedAndNotANewOne) {
  json j = json::parse(hvrun::oci::default_config());
  for (auto& n : j["linux"]["namespaces"])
    if (n["type"] != "mount") n["path"] = "/proc/42/ns/" + n["type"].get<std::string>();
  j["linux"]["namespaces"].push_back({{"type", "user"}, {"path", "/proc/42/ns/user"}});
  j["linux"]["uidMappings"] = {{{"containerID", 0}, {"hostID", 200000}, {"size", 65536}}};
  j["linux"]["gidMappings"] = {{{"containerID", 0}, {"hostID", 200000}, {"size", 65536}}};
  const Bundle b = parse_config(j.dump(), "/bundle");
  EXPECT_EQ(b.spec.join.user, "/proc/42/ns/user");
  EXPECT_FALSE(b.spec.userns);
  EXPECT_TRUE(b.spec.uid_mappings.empty() && b.spec.gid_mappings.empty());
  EXPECT_EQ(b.spec.join.pid, "/proc/42/ns/pid");
  EXPECT_EQ(container::clone_flags(b.spec) & (CLONE_NEWUSER | CLONE_NEWPID), 0u);
}

}  // namespace
