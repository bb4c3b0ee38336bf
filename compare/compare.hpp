// hvrun compare: run one workload N times in each mode (container, vm) and
// report start latency, wall time, CPU time, runtime memory overhead and,
// with --suite, each micro-benchmark's inner ns/op. See docs/compare.md.
#pragma once
#include <nlohmann/json.hpp>

#include <cstddef>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace hvrun::compare {

// ---- statistics (stats.cpp) ----
struct Summary {
  size_t n = 0;
  double median = 0, min = 0, max = 0;
};
// Median (mean of the two middle values for an even count), min, max.
// An empty input gives n = 0 and zeros.
Summary summarize(std::vector<double> values);

// ---- the report model (report.cpp) ----
struct Metric {
  std::string key;    // "start_latency_ms", "suite.getpid"
  std::string label;  // "start latency"
  std::string unit;   // "ms", "ns/op", "MiB"
};

// The fixed metrics every run has (the suite adds one per benchmark).
std::vector<Metric> base_metrics();
Metric suite_metric(const std::string& bench);  // "suite.<bench>", ns/op

struct Sample {
  int iteration = 0;
  int exit_code = 0;
  std::map<std::string, double> values;  // metric key -> value
};

struct ModeResult {
  std::string mode;  // "container" | "vm"
  std::vector<Sample> samples;
  std::map<std::string, Summary> summary;        // metric key -> summary
  std::map<std::string, std::string> skipped;    // suite benchmark -> why
  std::map<std::string, std::string> isolation;  // report key -> value
};

struct Report {
  std::string image;
  std::vector<std::string> command;  // the workload (empty with --suite)
  std::vector<std::string> suite;    // benchmark names run (with --suite)
  int iterations = 0;
  std::string started_at, host_kernel;
  std::vector<Metric> metrics;  // in display order
  std::vector<ModeResult> modes;
};

// Fills every mode's summary from its samples (successful samples only).
void summarize_report(Report& r);
// Ratio of `mode`'s median to the first mode's median for a metric; < 0
// when either is missing or the base is 0.
double ratio_to_base(const Report& r, size_t mode_index, const std::string& key);
// Text on what an escape from this mode would have to break (vmm_jailed:
// whether hvrun-vmm jails itself, engine/vmm_jail.hpp).
std::string escape_text(const std::string& mode, bool vmm_jailed = true);

nlohmann::json to_json(const Report& r);

// ---- output (render.cpp) ----
std::string render_table(const Report& r);  // plain text, ratios to the first mode
std::string render_isolation(const Report& r);
std::string render_svg(const Report& r);    // one group per metric, one bar per mode
std::string render_html(const Report& r, const std::string& svg);

// ---- running (runner.cpp) ----
// Parses the workload's stdout: the suite's "@hvrun-suite@ NAME NS OPS" and
// "@hvrun-iso@ KEY VALUE" lines. Returns false when the start marker is missing.
struct ParsedOutput {
  bool marker = false;
  std::map<std::string, double> ns_per_op;
  std::map<std::string, std::string> skipped;
  std::map<std::string, std::string> isolation;
  std::string rest;  // the workload's own output, marker removed
};
ParsedOutput parse_output(const std::string& out);

inline constexpr const char* kStartMarker = "@hvrun-start@";
inline constexpr const char* kSuiteMount = "/.hvrun-suite";
std::vector<std::string> suite_benchmarks();  // getpid, fork_exec, ...

struct Options {
  std::string hvrun_exe;    // the hvrun binary to run (default: /proc/self/exe)
  std::string root;         // --root for the child hvrun
  bool debug = false;
  std::string image;
  std::vector<std::string> command;
  std::vector<std::string> modes{"container", "vm"};
  int iterations = 5;
  bool suite = false;
  std::vector<std::string> suite_names;  // empty: all
  bool isolation = true;     // the isolation report after the timed runs
  bool report_only = false;  // only the isolation report, no timed runs
  bool vmm_jailed = true;    // hvrun-vmm jails itself (the caller asks engine/vmm_jail.hpp)
  int timeout_s = 600;  // per run
  std::string suite_binary;  // default: find_suite_binary()
};

// HVRUN_SUITE, else ../compare/hvrun-suite beside the running binary (a
// build tree), else /usr/local/lib/hvrun/hvrun-suite.
std::string find_suite_binary();

// Progress: called before each run with (done, total, what).
using Progress = std::function<void(int, int, const std::string&)>;

// The order of modes for iteration i: as given for even i, reversed for odd.
std::vector<std::string> mode_order(const std::vector<std::string>& modes, int i);

Report run_compare(const Options& o, const Progress& progress);

}  // namespace hvrun::compare
