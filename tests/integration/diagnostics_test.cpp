// Levelled diagnostics (util/log.hpp): `--debug` / `--log-level` give a
// trail on stderr through the engine, the container runtime and hvrun-vmm;
// the default level prints none; an unknown level is refused.
#include <regex>
#include <sstream>
#include <string>

#include "tests/integration/harness.hpp"

namespace hvrun::test {
namespace {

size_t count_lines(const std::string& s) {
  size_t n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

// Every line of `err` is a diagnostics line at `level` from hvrun.
void expect_only_lines_at(const std::string& err, const std::string& level) {
  std::regex line("^\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d\\.\\d{3} hvrun\\[\\d+\\] " + level + " [a-z-]+: .+$");
  std::istringstream in(err);
  for (std::string l; std::getline(in, l);) EXPECT_TRUE(std::regex_match(l, line)) << "line: " << l << "\nall:\n" << err;
}

class Diagnostics : public StoreFixture {};

TEST_F(Diagnostics, DebugPrintsATrailFromTheEngineAndTheRuntimeOnStderrAndNothingOnStdout) {
  HVRUN_REQUIRE_ROOT();
  Result r = hv({"--debug", "--container", "--rm", "busybox", "true"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "");
  for (const char* want : {"] debug engine: image resolved: busybox -> ", "] debug engine: record created: ",
                           "] debug runtime: cgroup ", "] debug runtime: cloned pid ", " into namespaces mnt pid uts ipc",
                           "; exec'd true", "] info engine: container ", "] info engine: container ",
                           " exited: status 0", "] debug runtime: pid ", "] debug engine: container "})
    EXPECT_NE(r.err.find(want), std::string::npos) << want << " in:\n" << r.err;
  // In the order things happen.
  EXPECT_LT(r.err.find("image resolved"), r.err.find("record created"));
  EXPECT_LT(r.err.find("record created"), r.err.find("cloned pid"));
  EXPECT_LT(r.err.find("cloned pid"), r.err.find("exited: status 0"));
  expect_only_lines_at(r.err, "(debug|info)");
}

TEST_F(Diagnostics, HvrunLogLevelInTheEnvironmentGivesTheSameTrail) {
  HVRUN_REQUIRE_ROOT();
  Result r = run({hvrun_bin(), "--root", root(), "--container", "--rm", "busybox", "true"}, "", 60,
                 {{"HVRUN_LOG_LEVEL", "debug"}});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("] debug runtime: cloned pid "), std::string::npos) << r.err;
}

TEST_F(Diagnostics, TheDefaultLevelPrintsNoDiagnosticsAndTheWorkloadsOutputIsUntouched) {
  HVRUN_REQUIRE_ROOT();
  Result r = hv({"--container", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "out\n");
  EXPECT_EQ(r.err, "err\n");
}

TEST_F(Diagnostics, LogLevelInfoShowsInfoLinesAndNoDebugLinesInBothSpellings) {
  HVRUN_REQUIRE_ROOT();
  for (const std::vector<std::string>& flag : {std::vector<std::string>{"--log-level=info"},
                                               std::vector<std::string>{"--log-level", "info"}}) {
    std::vector<std::string> args = flag;
    for (const char* a : {"--container", "--rm", "busybox", "true"}) args.push_back(a);
    Result r = hv(args);
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(r.out, "");
    EXPECT_NE(r.err.find("] info engine: container "), std::string::npos) << r.err;
    EXPECT_NE(r.err.find(" exited: status 0"), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find(" debug "), std::string::npos) << r.err;
    expect_only_lines_at(r.err, "info");
  }
}

TEST(DiagnosticsCli, AnUnknownLogLevelIsOneLineAndStatus125) {
  for (const std::vector<std::string>& argv :
       {std::vector<std::string>{hvrun_bin(), "--log-level", "bogus", "ps"},
        std::vector<std::string>{hvrun_bin(), "--log-level=bogus", "--container", "busybox", "true"},
        std::vector<std::string>{hvrun_bin(), "--log-level", "bogus", "vmm", "--help"}}) {
    Result r = run(argv);
    EXPECT_EQ(r.code, 125) << argv[2];
    EXPECT_EQ(count_lines(r.err), 1u) << r.err;
    EXPECT_NE(r.err.find("hvrun: invalid log level \"bogus\" (debug, info, warn or error)"), std::string::npos) << r.err;
    EXPECT_EQ(r.out, "");
  }
  Result env = run({hvrun_bin(), "ps"}, "", 60, {{"HVRUN_LOG_LEVEL", "loud"}});
  EXPECT_EQ(env.code, 125);
  EXPECT_EQ(count_lines(env.err), 1u) << env.err;
  EXPECT_NE(env.err.find("invalid log level \"loud\""), std::string::npos) << env.err;
}

TEST(DiagnosticsCli, TheLevelReachesHvrunVmmThroughTheEnvironment) {
  // No /dev/kvm needed: hvrun-vmm logs what it starts before it opens any.
  Result r = run({hvrun_bin(), "--log-level", "debug", "vmm", "--raw", "--kernel", "/nonexistent/kernel", "--mem", "64M"});
  EXPECT_EQ(r.code, 125);
  std::regex line("\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d\\.\\d{3} hvrun-vmm\\[\\d+\\] debug vmm: starting a VM: kernel "
                  "/nonexistent/kernel \\(raw\\), 1 vCPU\\(s\\), 64 MiB");
  EXPECT_TRUE(std::regex_search(r.err, line)) << r.err;
  EXPECT_NE(r.err.find("/nonexistent/kernel"), std::string::npos) << r.err;
  Result quiet = run({hvrun_bin(), "vmm", "--raw", "--kernel", "/nonexistent/kernel", "--mem", "64M"});
  EXPECT_EQ(quiet.err.find("debug vmm:"), std::string::npos) << quiet.err;
}

}  // namespace
}  // namespace hvrun::test
