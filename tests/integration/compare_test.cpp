// hvrun compare against the real binary and the busybox image (container
// mode here; VM mode runs inside the nested test host, see docs/compare.md).
#include <sys/utsname.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "tests/integration/harness.hpp"

namespace hvrun::test {
namespace {

class CompareCli : public StoreFixture {
 protected:
  void SetUp() override {
    HVRUN_REQUIRE_ROOT();
    StoreFixture::SetUp();
  }
  nlohmann::json load(const std::string& path) {
    std::ifstream f(path);
    std::stringstream ss;
    ss << f.rdbuf();
    return nlohmann::json::parse(ss.str());
  }
  std::string slurp(const std::string& path) {
    std::ifstream f(path);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
  }
};

TEST_F(CompareCli, ContainerModeTimesTrueTwiceAndWritesJsonSvgHtml) {
  TempDir out;
  std::string j = out.path() + "/r.json", s = out.path() + "/r.svg", h = out.path() + "/r.html";
  Result r = hv({"compare", "busybox", "-n", "2", "--modes", "container", "--json", j, "--svg", s, "--html", h, "--",
                 "true"},
                "", 180);
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("start latency"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("compare: [2/3] container isolation report"), std::string::npos) << r.err;  // plain progress
  nlohmann::json doc = load(j);
  ASSERT_EQ(doc["modes"].size(), 1u);
  const auto& m = doc["modes"][0];
  EXPECT_EQ(m["mode"], "container");
  ASSERT_EQ(m["samples"].size(), 2u);
  for (const auto& sample : m["samples"]) {
    EXPECT_EQ(sample["exit_code"], 0);
    double start = sample["values"]["start_latency_ms"], wall = sample["values"]["wall_ms"];
    EXPECT_GT(start, 0);
    EXPECT_LT(start, wall);  // the workload started before hvrun finished
    EXPECT_GT(sample["values"]["cpu_ms"].get<double>(), 0);
    EXPECT_GT(sample["values"]["overhead_rss_mib"].get<double>(), 0);  // hvrun itself was seen in /proc
  }
  EXPECT_EQ(m["summary"]["wall_ms"]["n"], 2);
  // Isolation: a container sees the host's kernel, the default seccomp
  // filter (mode 2) and its own namespaces.
  utsname u{};
  ::uname(&u);
  EXPECT_EQ(m["isolation"]["kernel"], u.release);
  EXPECT_EQ(m["isolation"]["seccomp"], "2");
  EXPECT_NE(m["isolation"]["namespaces"].get<std::string>().find("pid:["), std::string::npos);
  EXPECT_NE(m["isolation"]["escape"].get<std::string>().find("shared host kernel"), std::string::npos);
  EXPECT_NE(slurp(s).find("data-mode=\"container\""), std::string::npos);
  EXPECT_NE(slurp(h).find(slurp(s)), std::string::npos);
}

TEST_F(CompareCli, SuiteReportsInnerNanosecondsPerOpForEachBenchmark) {
  TempDir out;
  std::string j = out.path() + "/r.json";
  Result r = hv({"compare", "busybox", "-n", "1", "--modes", "container", "--suite", "--no-report", "--json", j}, "",
                240);
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  nlohmann::json doc = load(j);
  const auto& m = doc["modes"][0];
  // tcp_loopback with HVRUN_NETWORK=none (the harness): the container's own lo.
  for (const char* b : {"getpid", "fork_exec", "fsync", "page_fault", "pipe_pingpong", "tcp_loopback"}) {
    ASSERT_TRUE(m["summary"].contains(std::string("suite.") + b)) << b << "\n" << r.out;
    EXPECT_GT(m["summary"][std::string("suite.") + b]["median"].get<double>(), 0) << b;
  }
  EXPECT_TRUE(m["skipped"].empty()) << m["skipped"];
  EXPECT_TRUE(m["isolation"].empty());  // --no-report
  EXPECT_NE(r.out.find("pipe_pingpong"), std::string::npos) << r.out;
}

TEST_F(CompareCli, SuiteSubsetRunsOnlyTheNamedBenchmarks) {
  TempDir out;
  std::string j = out.path() + "/r.json";
  Result r = hv({"compare", "busybox", "-n", "1", "--modes", "container", "--suite=getpid", "--no-report", "--json", j},
                "", 120);
  ASSERT_EQ(r.code, 0) << r.err;
  nlohmann::json doc = load(j);
  EXPECT_EQ(doc["suite"], nlohmann::json::array({"getpid"}));
  EXPECT_TRUE(doc["modes"][0]["summary"].contains("suite.getpid"));
  EXPECT_FALSE(doc["modes"][0]["summary"].contains("suite.fsync"));
}

TEST_F(CompareCli, FailingWorkloadMakesCompareExitNonZeroAndSaysSo) {
  Result r = hv({"compare", "busybox", "-n", "1", "--modes", "container", "--no-report", "--", "false"}, "", 120);
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("failed: exit 1"), std::string::npos) << r.err;
  EXPECT_NE(r.out.find("1 run(s) failed"), std::string::npos) << r.out;
}

TEST_F(CompareCli, BadInputGetsAOneLineErrorAndNonZeroExit) {
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"compare", "busybox", "--modes", "container,bogus", "--", "true"},
           {"compare", "busybox", "-n", "0", "--", "true"},
           {"compare", "busybox"},
           {"compare", "busybox", "--suite=nosuch"},
           {"compare", "busybox", "--suite", "--", "true"},
           {"compare", "nosuchimage", "-n", "1", "--modes", "container", "--", "true"},
       }) {
    Result r = hv(args);
    std::string joined;
    for (const auto& a : args) joined += a + " ";
    EXPECT_NE(r.code, 0) << joined;
    // The error is a line of its own starting "hvrun: " (progress lines may come first).
    EXPECT_TRUE(r.err.rfind("hvrun: ", 0) == 0 || r.err.find("\nhvrun: ") != std::string::npos)
        << joined << ": " << r.err;
    EXPECT_TRUE(r.out.empty()) << joined;
  }
}

}  // namespace
}  // namespace hvrun::test
