// hvrun compare's library: statistics, output parsing, JSON schema, SVG and
// HTML. The SVG is checked with a real XML parser (python3's minidom).
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <set>

#include "compare/compare.hpp"

namespace hvrun::compare {
namespace {

TEST(CompareStats, OddCountMedianIsTheMiddleValue) {
  Summary s = summarize({9, 1, 5, 3, 7});
  EXPECT_EQ(s.n, 5u);
  EXPECT_DOUBLE_EQ(s.median, 5);
  EXPECT_DOUBLE_EQ(s.min, 1);
  EXPECT_DOUBLE_EQ(s.max, 9);
}

TEST(CompareStats, EvenCountMedianIsTheMeanOfTheTwoMiddleValues) {
  Summary s = summarize({10, 2, 4, 8});
  EXPECT_EQ(s.n, 4u);
  EXPECT_DOUBLE_EQ(s.median, 6);
  EXPECT_DOUBLE_EQ(s.min, 2);
  EXPECT_DOUBLE_EQ(s.max, 10);
}

TEST(CompareStats, SingleValueAndEmptyInput) {
  Summary one = summarize({3.5});
  EXPECT_DOUBLE_EQ(one.median, 3.5);
  EXPECT_DOUBLE_EQ(one.min, 3.5);
  EXPECT_DOUBLE_EQ(one.max, 3.5);
  Summary none = summarize({});
  EXPECT_EQ(none.n, 0u);
}

TEST(CompareOrder, ModesAlternateOrderEveryIteration) {
  std::vector<std::string> m{"container", "vm"};
  EXPECT_EQ(mode_order(m, 0), (std::vector<std::string>{"container", "vm"}));
  EXPECT_EQ(mode_order(m, 1), (std::vector<std::string>{"vm", "container"}));
  EXPECT_EQ(mode_order(m, 2), (std::vector<std::string>{"container", "vm"}));
}

TEST(CompareParse, SuiteIsolationAndMarkerLines) {
  ParsedOutput p = parse_output(
      "@hvrun-start@\nhello\n@hvrun-suite@ getpid 52.5 4096\n@hvrun-suite@ tcp_loopback skip no-net\n"
      "@hvrun-iso@ kernel 6.1.0-test\n@hvrun-iso@ namespaces cgroup:[1] ipc:[2]\n");
  EXPECT_TRUE(p.marker);
  EXPECT_DOUBLE_EQ(p.ns_per_op.at("getpid"), 52.5);
  EXPECT_EQ(p.skipped.at("tcp_loopback"), "no-net");
  EXPECT_EQ(p.isolation.at("kernel"), "6.1.0-test");
  EXPECT_EQ(p.isolation.at("namespaces"), "cgroup:[1] ipc:[2]");
  EXPECT_EQ(p.rest, "hello\n");
}

TEST(CompareParse, MissingMarkerIsReported) {
  EXPECT_FALSE(parse_output("exec failed\n").marker);
}

// Two modes, two samples each, the vm slower, plus one suite metric and a
// failed run that must be left out of the statistics.
Report sample_report() {
  Report r;
  r.image = "busybox";
  r.suite = {"getpid"};
  r.iterations = 2;
  r.started_at = "2026-11-29T10:00:00Z";
  r.host_kernel = "6.1.0";
  r.metrics = base_metrics();
  r.metrics.push_back(suite_metric("getpid"));
  ModeResult c{"container", {}, {}, {}, {}}, v{"vm", {}, {}, {}, {}};
  c.samples.push_back({0, 0, {{"start_latency_ms", 10}, {"wall_ms", 20}, {"cpu_ms", 5}, {"overhead_rss_mib", 4}, {"suite.getpid", 50}}});
  c.samples.push_back({1, 0, {{"start_latency_ms", 14}, {"wall_ms", 24}, {"cpu_ms", 7}, {"overhead_rss_mib", 4}, {"suite.getpid", 54}}});
  v.samples.push_back({0, 0, {{"start_latency_ms", 100}, {"wall_ms", 200}, {"cpu_ms", 50}, {"overhead_rss_mib", 90}, {"suite.getpid", 60}}});
  v.samples.push_back({1, 3, {{"start_latency_ms", 1}, {"wall_ms", 1}, {"cpu_ms", 1}, {"overhead_rss_mib", 1}}});
  v.samples.push_back({1, 0, {{"start_latency_ms", 140}, {"wall_ms", 240}, {"cpu_ms", 70}, {"overhead_rss_mib", 94}, {"suite.getpid", 64}}});
  c.isolation = {{"kernel", "6.1.0"}, {"escape", escape_text("container")}};
  v.isolation = {{"kernel", "6.1.0-hvrun"}, {"escape", escape_text("vm")}};
  v.skipped["tcp_loopback"] = "no-net";
  r.modes = {c, v};
  summarize_report(r);
  return r;
}

TEST(CompareReport, FailedRunsAreLeftOutAndRatiosUseTheFirstMode) {
  Report r = sample_report();
  EXPECT_EQ(r.modes[1].summary.at("wall_ms").n, 2u);
  EXPECT_DOUBLE_EQ(r.modes[1].summary.at("wall_ms").min, 200);
  EXPECT_DOUBLE_EQ(r.modes[0].summary.at("start_latency_ms").median, 12);
  EXPECT_DOUBLE_EQ(ratio_to_base(r, 1, "start_latency_ms"), 10.0);
  EXPECT_DOUBLE_EQ(ratio_to_base(r, 0, "wall_ms"), 1.0);
  EXPECT_LT(ratio_to_base(r, 1, "no_such_metric"), 0);
}

TEST(CompareJson, SchemaHasTheDocumentedKeysAndTypes) {
  nlohmann::json j = to_json(sample_report());
  EXPECT_EQ(j.at("schema"), "hvrun-compare/1");
  EXPECT_TRUE(j.at("image").is_string());
  EXPECT_TRUE(j.at("command").is_array());
  EXPECT_TRUE(j.at("suite").is_array());
  EXPECT_TRUE(j.at("iterations").is_number_integer());
  EXPECT_TRUE(j.at("started_at").is_string());
  EXPECT_TRUE(j.at("host_kernel").is_string());
  ASSERT_TRUE(j.at("metrics").is_array());
  for (const auto& m : j["metrics"]) {
    EXPECT_TRUE(m.at("key").is_string());
    EXPECT_TRUE(m.at("label").is_string());
    EXPECT_TRUE(m.at("unit").is_string());
  }
  ASSERT_EQ(j.at("modes").size(), 2u);
  for (const auto& m : j["modes"]) {
    EXPECT_TRUE(m.at("mode").is_string());
    ASSERT_TRUE(m.at("samples").is_array());
    for (const auto& s : m["samples"]) {
      EXPECT_TRUE(s.at("iteration").is_number_integer());
      EXPECT_TRUE(s.at("exit_code").is_number_integer());
      EXPECT_TRUE(s.at("values").is_object());
    }
    ASSERT_TRUE(m.at("summary").is_object());
    for (const auto& [k, s] : m["summary"].items()) {
      for (const char* f : {"median", "min", "max"}) EXPECT_TRUE(s.at(f).is_number()) << k << "." << f;
      EXPECT_TRUE(s.at("n").is_number_unsigned());
      EXPECT_TRUE(s.at("ratio_to_base").is_number() || s.at("ratio_to_base").is_null());
    }
    EXPECT_TRUE(m.at("skipped").is_object());
    EXPECT_TRUE(m.at("isolation").is_object());
  }
  EXPECT_DOUBLE_EQ(j["modes"][1]["summary"]["start_latency_ms"]["ratio_to_base"].get<double>(), 10.0);
  EXPECT_EQ(j["modes"][1]["skipped"]["tcp_loopback"], "no-net");
}

TEST(CompareTable, ShowsEveryMetricWithRatios) {
  std::string t = render_table(sample_report());
  for (const char* s : {"start latency", "wall time", "CPU time", "runtime memory", "getpid", "vm/container", "x10.00",
                        "12.0 [10.0..14.0]"})
    EXPECT_NE(t.find(s), std::string::npos) << s << " missing in:\n" << t;
}

// Runs python3's minidom on the file; returns the parser's verdict line.
std::string python_check(const std::string& svg_path) {
  std::string cmd =
      "python3 -c 'import sys, xml.dom.minidom as m\n"
      "d = m.parse(sys.argv[1])\n"
      "bars = [r for r in d.getElementsByTagName(\"rect\") if r.getAttribute(\"class\") == \"bar\"]\n"
      "for g in d.getElementsByTagName(\"g\"):\n"
      "    print(\"group\", g.getAttribute(\"data-metric\"), \" \".join(sorted(b.getAttribute(\"data-mode\") for b in "
      "g.getElementsByTagName(\"rect\") if b.getAttribute(\"class\") == \"bar\")))\n"
      "print(\"root\", d.documentElement.tagName, len(bars))' " +
      svg_path + " 2>&1";
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return "popen failed";
  char buf[512];
  while (std::fgets(buf, sizeof buf, p)) out += buf;
  int rc = ::pclose(p);
  if (rc != 0) out += "rc=" + std::to_string(rc);
  return out;
}

TEST(CompareSvg, WellFormedXmlWithOneBarPerModeAndMetric) {
  Report r = sample_report();
  r.image = "busy<box> & \"co\"";  // must be escaped
  std::string svg = render_svg(r);
  std::string path = ::testing::TempDir() + "/compare_test.svg";
  std::ofstream(path) << svg;
  std::string out = python_check(path);
  // 5 metrics x 2 modes; each group holds exactly one bar per mode.
  EXPECT_NE(out.find("root svg 10\n"), std::string::npos) << out;
  for (const char* k : {"start_latency_ms", "wall_ms", "cpu_ms", "overhead_rss_mib", "suite.getpid"})
    EXPECT_NE(out.find(std::string("group ") + k + " container vm\n"), std::string::npos) << k << "\n" << out;
  EXPECT_NE(svg.find("x10.00"), std::string::npos);  // ratio labels on the vm bars
}

TEST(CompareSvg, MetricWithNoValueInAnyModeIsNotDrawn) {
  Report r = sample_report();
  r.metrics.push_back(suite_metric("tcp_loopback"));
  summarize_report(r);
  std::string svg = render_svg(r);
  EXPECT_EQ(svg.find("suite.tcp_loopback"), std::string::npos);
}

TEST(CompareHtml, EmbedsTheSvgAndTheIsolationReport) {
  Report r = sample_report();
  std::string svg = render_svg(r);
  std::string html = render_html(r, svg);
  EXPECT_NE(html.find(svg), std::string::npos);
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_NE(html.find("6.1.0-hvrun"), std::string::npos);
  EXPECT_NE(html.find("VMM"), std::string::npos);  // the vm escape text
}

}  // namespace
}  // namespace hvrun::compare
