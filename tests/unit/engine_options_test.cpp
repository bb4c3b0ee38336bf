#include <gtest/gtest.h>

#include <sys/resource.h>

#include <fstream>

#include "engine/options.hpp"
#include "util/error.hpp"

using namespace hvrun::engine;

namespace {
EnvLookup fake_env(std::map<std::string, std::string> m) {
  return [m](const std::string& k) -> std::optional<std::string> {
    auto it = m.find(k);
    if (it == m.end()) return std::nullopt;
    return it->second;
  };
}
}  // namespace

TEST(EngineOptions, MemoryAcceptsDockerUnits) {
  EXPECT_EQ(parse_memory("64m"), 64ll << 20);
  EXPECT_EQ(parse_memory("1g"), 1ll << 30);
  EXPECT_EQ(parse_memory("1G"), 1ll << 30);
  EXPECT_EQ(parse_memory("6144k"), 6ll << 20);
  EXPECT_EQ(parse_memory("6144kb"), 6ll << 20);
  EXPECT_EQ(parse_memory("1.5g"), 3ll << 29);
  EXPECT_EQ(parse_memory("6291456"), 6291456);
}

TEST(EngineOptions, MemoryBelowDockersSixMegabyteFloorIsRefusedSayingSo) {
  for (const char* small : {"64", "4096", "512k", "5m", "6291455b"}) {
    try {
      parse_memory(small);
      ADD_FAILURE() << "accepted " << small;
    } catch (const hvrun::Error& e) {
      EXPECT_NE(std::string(e.what()).find("the minimum memory limit allowed is 6MB"), std::string::npos) << e.what();
    }
  }
}

TEST(EngineOptions, MemoryRejectsJunkWithOneLineError) {
  for (const char* bad : {"abc", "", "-1m", "0", "12x", "m", "1e400"}) {
    try {
      parse_memory(bad);
      ADD_FAILURE() << "accepted " << bad;
    } catch (const hvrun::Error& e) {
      EXPECT_NE(std::string(e.what()).find("--memory"), std::string::npos);
      EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos);
    }
  }
}

TEST(EngineOptions, CpusMustBeNumbersFromAHundredthToTheHostsCpus) {
  EXPECT_DOUBLE_EQ(parse_cpus("0.5", 2), 0.5);
  EXPECT_DOUBLE_EQ(parse_cpus("2", 2), 2.0);
  EXPECT_DOUBLE_EQ(parse_cpus("0.01", 1), 0.01);
  for (const char* bad : {"-1", "0", "0.001", "abc", "", "nan", "inf", "1.5x", "3", "99"})
    EXPECT_THROW(parse_cpus(bad, 2), hvrun::Error) << bad;
  try {
    parse_cpus("99", 2);
  } catch (const hvrun::Error& e) {
    EXPECT_NE(std::string(e.what()).find("the range of CPUs is from 0.01 to 2.0000"), std::string::npos) << e.what();
  }
  EXPECT_GE(available_cpus(), 1u);
}

TEST(EngineOptions, PidsLimitMinusOneMeansUnlimited) {
  EXPECT_EQ(parse_pids_limit("100"), 100);
  EXPECT_EQ(parse_pids_limit("-1"), 0);
  EXPECT_THROW(parse_pids_limit("-2"), hvrun::Error);
  EXPECT_THROW(parse_pids_limit("ten"), hvrun::Error);
}

TEST(EngineOptions, EnvWithoutValueComesFromCallerOrIsDropped) {
  auto env = fake_env({{"HOME", "/root"}});
  EXPECT_EQ(expand_env("A=1", env), "A=1");
  EXPECT_EQ(expand_env("A=", env), "A=");
  EXPECT_EQ(expand_env("HOME", env), "HOME=/root");
  EXPECT_EQ(expand_env("UNSET", env), std::nullopt);
  EXPECT_THROW(expand_env("=x", env), hvrun::Error);
}

TEST(EngineOptions, EnvFileSkipsCommentsAndBlankLines) {
  std::string path = testing::TempDir() + "/envfile";
  std::ofstream(path) << "# comment\n\nA=1\n  B=two words\r\nHOME\nUNSET\n";
  auto v = read_env_file(path, fake_env({{"HOME", "/h"}}));
  EXPECT_EQ(v, (std::vector<std::string>{"A=1", "B=two words", "HOME=/h"}));
  EXPECT_THROW(read_env_file(path + ".missing", fake_env({})), hvrun::Error);
}

TEST(EngineOptions, MergeEnvOverridesByKeyKeepingOrder) {
  auto m = merge_env({"PATH=/bin", "A=1", "B=2"}, {"A=x", "C=3"});
  EXPECT_EQ(m, (std::vector<std::string>{"PATH=/bin", "A=x", "B=2", "C=3"}));
}

TEST(EngineOptions, VolumeParsesModesAndRequiresExistingHostPathOrAVolumeName) {
  auto m = parse_volume("/tmp:/data:ro");
  EXPECT_EQ(m.source, "/tmp");
  EXPECT_EQ(m.target, "/data");
  EXPECT_TRUE(m.readonly);
  EXPECT_FALSE(parse_volume("/tmp:/data").readonly);
  EXPECT_FALSE(parse_volume("/tmp:/data:rw").readonly);
  EXPECT_THROW(parse_volume("/definitely/not/here:/data"), hvrun::Error);
  // Not a path: a named volume's name, kept as the source (the engine resolves it).
  m = parse_volume("my-vol_1.x:/data:ro");
  EXPECT_EQ(m.source, "my-vol_1.x");
  EXPECT_TRUE(m.readonly);
  EXPECT_THROW(parse_volume("bad name:/data"), hvrun::Error);
  EXPECT_THROW(parse_volume("-vol:/data"), hvrun::Error);
  EXPECT_THROW(parse_volume(":/data"), hvrun::Error);
  EXPECT_THROW(parse_volume("/tmp:relative"), hvrun::Error);
  EXPECT_THROW(parse_volume("/tmp:/data:xx"), hvrun::Error);
  // A container path alone: an anonymous volume (its source made by the engine).
  m = parse_volume("/tmp");
  EXPECT_EQ(m.source, "");
  EXPECT_EQ(m.target, "/tmp");
  EXPECT_THROW(parse_volume("/"), hvrun::Error);
  EXPECT_THROW(parse_volume("tmp"), hvrun::Error);
}

TEST(EngineOptions, LabelsAreKeyEqualsValueAKeyAloneIsEmptyAndTheLastOfAKeyWins) {
  const auto l = parse_labels({"a=1", "b", "c=x=y", "a=2"});
  EXPECT_EQ(l, (std::map<std::string, std::string>{{"a", "2"}, {"b", ""}, {"c", "x=y"}}));
  EXPECT_THROW(parse_labels({"=v"}), hvrun::Error);
  EXPECT_THROW(parse_labels({""}), hvrun::Error);
}

TEST(EngineOptions, AddHostAndDnsRefuseAnAddressWithANulOrSpaceAfterIt) {
  // Found by fuzz_cli_values: inet_pton read up to the NUL, so the rest
  // (tabs, junk) reached /etc/hosts and resolv.conf (the API's JSON strings
  // may hold a NUL).
  EXPECT_EQ(parse_add_host("db:192.0.2.9"), "192.0.2.9\tdb");
  EXPECT_EQ(parse_add_host("v6=[2001:db8::1]"), "2001:db8::1\tv6");
  EXPECT_THROW(parse_add_host(std::string("db:2001:db8::\0\tjunk", 20)), hvrun::Error);
  EXPECT_THROW(parse_add_host(std::string("db:192.0.2.9\0x", 15)), hvrun::Error);
  EXPECT_THROW(parse_dns_server(std::string("192.0.2.53\0x", 12)), hvrun::Error);
  EXPECT_THROW(parse_dns_server("192.0.2.53 "), hvrun::Error);
  EXPECT_THROW(parse_add_host(std::string("d\0b:192.0.2.9", 14)), hvrun::Error);
  EXPECT_THROW(parse_dns_word("--dns-search", std::string("corp\0x", 6)), hvrun::Error);
}

TEST(EngineOptions, SecurityOptReadsSeccompProfileContent) {
  hvrun::container::RunSpec s;
  apply_security_opt("seccomp=unconfined", s);
  EXPECT_EQ(s.seccomp.to_string(), "unconfined");
  std::string path = testing::TempDir() + "/profile.json";
  std::ofstream(path) << R"({"defaultAction":"SCMP_ACT_ALLOW"})";
  apply_security_opt("seccomp=" + path, s);
  EXPECT_EQ(s.seccomp.mode, hvrun::container::SeccompMode::Custom);
  EXPECT_EQ(s.seccomp.profile, R"({"defaultAction":"SCMP_ACT_ALLOW"})");
  std::ofstream(path) << "not json";
  EXPECT_THROW(apply_security_opt("seccomp=" + path, s), hvrun::Error);
  EXPECT_THROW(apply_security_opt("apparmor=foo", s), hvrun::Error);
}

TEST(EngineOptions, NoNewPrivilegesIsOffByDefaultAndTakesDockersForms) {
  hvrun::container::RunSpec s;
  EXPECT_FALSE(s.no_new_privileges);
  for (const char* on : {"no-new-privileges", "no-new-privileges=true", "no-new-privileges:true"}) {
    hvrun::container::RunSpec t;
    apply_security_opt(on, t);
    EXPECT_TRUE(t.no_new_privileges) << on;
    for (const char* off : {"no-new-privileges=false", "no-new-privileges:false"}) {
      apply_security_opt(off, t);
      EXPECT_FALSE(t.no_new_privileges) << off;
    }
  }
  for (const char* bad : {"no-new-privileges=yes", "no-new-privileges=", "no-new-privilegesx"}) {
    try {
      apply_security_opt(bad, s);
      ADD_FAILURE() << bad << " was accepted";
    } catch (const hvrun::Error& e) {
      EXPECT_NE(std::string(e.what()).find("invalid --security-opt"), std::string::npos) << e.what();
    }
  }
  apply_security_opt("seccomp=strict", s);
  EXPECT_EQ(s.seccomp.mode, hvrun::container::SeccompMode::Strict);
}

TEST(EngineOptions, HostnameIsCheckedAsDockerDoesRfc1123) {
  for (const std::string& good : std::vector<std::string>{"", "box", "box-1", "a.b.c", "Web01.example.com", "0", std::string(63, 'a'),
                                 std::string(31, 'a') + "." + std::string(32, 'b')}) {
    EXPECT_NO_THROW(validate_hostname(good)) << good;
  }
  for (const std::string& bad : std::vector<std::string>{"a/b", "a b", "-lead", "trail-", "a.-b", "a..b", ".", ".lead", "trail.", "under_score",
                                "caf\xc3\xa9", "x:1", std::string(64, 'a'), std::string(40, 'a') + "." + std::string(30, 'b')}) {
    try {
      validate_hostname(bad);
      ADD_FAILURE() << "accepted: " << bad;
    } catch (const hvrun::Error& e) {
      std::string m = e.what();
      EXPECT_EQ(m.rfind("invalid hostname \"" + bad + "\": ", 0), 0u) << m;
      EXPECT_EQ(m.find('\n'), std::string::npos) << m;
    }
  }
  hvrun::image::ImageConfig img;
  RunOptions o;
  o.command = {"sh"};
  o.hostname = "bad/host";
  EXPECT_THROW(build_spec(o, img, fake_env({})), hvrun::Error);
  o.hostname = "good-host.local";
  EXPECT_EQ(build_spec(o, img, fake_env({})).hostname, "good-host.local");
}

TEST(EngineOptions, BuildSpecMergesImageConfig) {
  hvrun::image::ImageConfig img;
  img.entrypoint = {"/bin/ep"};
  img.cmd = {"default"};
  img.env = {"PATH=/img/bin", "A=img", "B=img"};
  img.working_dir = "/srv";
  img.user = "nobody";
  RunOptions o;
  o.env = {"A=cli", "C"};
  auto s = build_spec(o, img, fake_env({{"C", "caller"}}));
  EXPECT_EQ(s.args, (std::vector<std::string>{"/bin/ep", "default"}));
  EXPECT_EQ(s.env, (std::vector<std::string>{"PATH=/img/bin", "A=cli", "B=img", "C=caller"}));
  EXPECT_EQ(s.cwd, "/srv");
  EXPECT_EQ(s.user, "nobody");

  o.command = {"x", "-l"};
  o.workdir = "/w";
  o.user = "0:0";
  s = build_spec(o, img, fake_env({}));
  EXPECT_EQ(s.args, (std::vector<std::string>{"/bin/ep", "x", "-l"}));
  EXPECT_EQ(s.cwd, "/w");
  EXPECT_EQ(s.user, "0:0");
}

TEST(EngineOptions, BuildSpecRejectsNoCommandAndBadValues) {
  hvrun::image::ImageConfig img;
  RunOptions o;
  EXPECT_THROW(build_spec(o, img, fake_env({})), hvrun::Error);
  o.command = {"sh"};
  EXPECT_EQ(build_spec(o, img, fake_env({})).env.at(0).rfind("PATH=", 0), 0u);
  o.net = "bad/name";
  EXPECT_THROW(build_spec(o, img, fake_env({})), hvrun::Error);
  o.net = "host";
  o.publish = {"80:80"};
  EXPECT_THROW(build_spec(o, img, fake_env({})), hvrun::Error);  // -p needs a bridge network
  o.publish.clear();
  o.workdir = "relative";
  EXPECT_THROW(build_spec(o, img, fake_env({})), hvrun::Error);
}

TEST(EngineOptions, WithoutNetTheDefaultIsTheBridgeUnlessHvrunNetworkSaysOtherwise) {
  hvrun::image::ImageConfig img;
  RunOptions o;
  o.command = {"sh"};
  auto s = build_spec(o, img, fake_env({}));
  EXPECT_EQ(s.net, hvrun::container::NetMode::Bridge);
  EXPECT_EQ(s.netcfg.network, "hvrun");
  s = build_spec(o, img, fake_env({{"HVRUN_NETWORK", "none"}}));
  EXPECT_EQ(s.net, hvrun::container::NetMode::None);
  s = build_spec(o, img, fake_env({{"HVRUN_NETWORK", "backend"}}));
  EXPECT_EQ(s.net, hvrun::container::NetMode::Bridge);
  EXPECT_EQ(s.netcfg.network, "backend");
  o.net = "host";  // an explicit --net wins
  s = build_spec(o, img, fake_env({{"HVRUN_NETWORK", "none"}}));
  EXPECT_EQ(s.net, hvrun::container::NetMode::Host);
  o.net.clear();
  try {
    build_spec(o, img, fake_env({{"HVRUN_NETWORK", "bad/name"}}));
    ADD_FAILURE() << "a malformed HVRUN_NETWORK was accepted";
  } catch (const hvrun::Error& e) {
    EXPECT_NE(std::string(e.what()).find("HVRUN_NETWORK"), std::string::npos) << e.what();
  }
}

TEST(EngineOptions, NetBridgeAndNetworkNamesMapToTheBridgeModeAndTheirNetwork) {
  hvrun::image::ImageConfig img;
  RunOptions o;
  o.command = {"sh"};
  o.net = "bridge";
  auto s = build_spec(o, img, fake_env({}));
  EXPECT_EQ(s.net, hvrun::container::NetMode::Bridge);
  EXPECT_EQ(s.netcfg.network, "hvrun");
  o.net = "backend";
  s = build_spec(o, img, fake_env({}));
  EXPECT_EQ(s.net, hvrun::container::NetMode::Bridge);
  EXPECT_EQ(s.netcfg.network, "backend");
  o.net = "none";
  s = build_spec(o, img, fake_env({}));
  EXPECT_EQ(s.net, hvrun::container::NetMode::None);
  EXPECT_EQ(s.netcfg.address, "");
}

TEST(EngineOptions, TmpfsTakesDockersOptionsAndDefaultsToNoexecNosuidNodev) {
  auto t = parse_tmpfs("/run");
  EXPECT_EQ(t.target, "/run");
  EXPECT_TRUE(t.noexec && t.nosuid && t.nodev);
  EXPECT_FALSE(t.readonly);
  EXPECT_EQ(t.size, "");
  auto u = parse_tmpfs("/scratch:rw,size=64m,mode=755,exec,suid");
  EXPECT_EQ(u.size, "64m");
  EXPECT_EQ(u.mode, "755");
  EXPECT_FALSE(u.noexec);
  EXPECT_FALSE(u.nosuid);
  EXPECT_TRUE(u.nodev);
  EXPECT_TRUE(parse_tmpfs("/ro:ro").readonly);
  for (auto [bad, why] : std::vector<std::pair<std::string, std::string>>{
           {"run", "the path must be absolute"},
           {"/", "not on /"},
           {"/t:uid=5", "unknown option \"uid=5\""},
           {"/t:size=lots", "size \"lots\""},
           {"/t:mode=999", "mode \"999\""}}) {
    try {
      parse_tmpfs(bad);
      ADD_FAILURE() << bad << " accepted";
    } catch (const hvrun::Error& e) {
      EXPECT_NE(std::string(e.what()).find("invalid --tmpfs \"" + bad + "\": "), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(why), std::string::npos) << e.what();
    }
  }
}

TEST(EngineOptions, UlimitIsNameSoftHardWithUnlimitedAndTheLastOneWins) {
  auto l = parse_ulimit("nofile=1024:2048");
  EXPECT_EQ(l.type, "RLIMIT_NOFILE");
  EXPECT_EQ(l.soft, 1024u);
  EXPECT_EQ(l.hard, 2048u);
  auto c = parse_ulimit("core=0");
  EXPECT_EQ(c.soft, 0u);
  EXPECT_EQ(c.hard, 0u);
  EXPECT_EQ(parse_ulimit("memlock=-1:unlimited").hard, RLIM_INFINITY);
  for (auto [bad, why] : std::vector<std::pair<std::string, std::string>>{
           {"nofile", "want NAME=SOFT[:HARD]"},
           {"bogus=1", "\"bogus\" is not a limit"},
           {"nofile=lots", "\"lots\" is not a number"},
           {"nofile=10:5", "the soft limit is above the hard one"}}) {
    try {
      parse_ulimit(bad);
      ADD_FAILURE() << bad << " accepted";
    } catch (const hvrun::Error& e) {
      EXPECT_NE(std::string(e.what()).find(why), std::string::npos) << e.what();
    }
  }
  RunOptions o;
  o.command = {"true"};
  o.ulimits = {"nofile=10:20", "nofile=30:40", "nproc=5"};
  o.tmpfs = {"/run:size=1m"};
  auto s = build_spec(o, {}, fake_env({}));
  ASSERT_EQ(s.rlimits.size(), 2u);
  EXPECT_EQ(s.rlimits[0].type, "RLIMIT_NOFILE");
  EXPECT_EQ(s.rlimits[0].soft, 30u);
  EXPECT_EQ(s.rlimits[1].type, "RLIMIT_NPROC");
  ASSERT_EQ(s.tmpfs.size(), 1u);
  EXPECT_EQ(s.tmpfs[0].size, "1m");
}
