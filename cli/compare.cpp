// hvrun compare IMAGE [-n N] [--modes container,vm] [--json F] [--svg F]
//   [--html F] [--txt F] [--suite[=NAMES]] [--report|--no-report] -- CMD...
#include <unistd.h>

#include <cstdio>

#include "cli/commands.hpp"
#include "compare/compare.hpp"
#include "engine/vmm_jail.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

namespace hvrun::cli {

namespace {

struct CompareArgs {
  compare::Options o;
  std::string modes = "container,vm";
  std::string json_path, svg_path, html_path, txt_path;
  std::string suite;  // "" with --suite alone: all
  bool no_report = false;
};

std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s + ",") {
    if (c == ',') {
      if (!cur.empty()) out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  return out;
}

// A progress bar on a terminal; plain lines otherwise (logs, CI).
compare::Progress make_progress() {
  bool tty = ::isatty(2);
  return [tty](int done, int total, const std::string& what) {
    if (!tty) {
      std::fprintf(stderr, "compare: [%d/%d] %s\n", done, total, what.c_str());
      return;
    }
    const int width = 30;
    int filled = total ? done * width / total : width;
    std::string bar(size_t(filled), '#');
    bar += std::string(size_t(width - filled), '.');
    std::fprintf(stderr, "\r\033[K[%s] %d/%d %s", bar.c_str(), done, total, what.c_str());
    if (done == total && what == "done") std::fputc('\n', stderr);
    else if (what.find(" failed: ") != std::string::npos) std::fputc('\n', stderr);
    std::fflush(stderr);
  };
}

}  // namespace

void register_compare(CLI::App& app, Context& ctx, Action& action) {
  auto* sub = app.add_subcommand("compare", "Run a workload as a container and as a microVM and compare them");
  auto a = std::make_shared<CompareArgs>();
  sub->add_option("image", a->o.image, "Image to run")->required();
  sub->add_option("command", a->o.command, "Workload command (after --)");
  sub->add_option("-n,--iterations", a->o.iterations, "Runs per mode (default 5)");
  sub->add_option("--modes", a->modes, "Comma-separated modes: container, vm (container inside a microVM)");
  sub->add_option("--json", a->json_path, "Write the results as JSON (schema: docs/compare.md)");
  sub->add_option("--svg", a->svg_path, "Write an SVG bar chart");
  sub->add_option("--html", a->html_path, "Write an HTML page embedding the chart");
  sub->add_option("--txt", a->txt_path, "Write the table and isolation report as text");
  sub->add_option("--suite", a->suite, "Run the built-in micro-benchmarks instead of CMD (all, or NAMES comma-separated)")
      ->expected(0, 1);
  sub->add_flag("--report", a->o.report_only, "Only the isolation report (no timed runs)");
  sub->add_flag("--no-report", a->no_report, "Skip the isolation report after the timed runs");
  sub->add_option("--timeout", a->o.timeout_s, "Time limit per run in seconds (default 600)");
  sub->callback([sub, a, &ctx, &action] {
    a->o.modes = split_commas(a->modes);
    a->o.suite = sub->count("--suite") > 0;
    if (a->o.suite) {
      a->o.suite_names = split_commas(a->suite);
      if (!a->o.command.empty())
        throw CLI::ValidationError("compare", "--suite runs the built-in workloads: give no CMD with it");
    }
    if (a->o.timeout_s < 1) throw CLI::ValidationError("compare", "--timeout must be at least 1 second");
    a->o.isolation = !a->no_report;
    a->o.vmm_jailed = engine::choose_vmm_jail().config.enabled;
    action = [a, &ctx]() -> int {
      a->o.root = ctx.root();
      a->o.debug = ctx.debug;
      compare::Report r = compare::run_compare(a->o, make_progress());
      std::string text;
      if (!a->o.report_only) text += compare::render_table(r);
      if (!r.modes.empty() && !r.modes[0].isolation.empty()) text += (text.empty() ? "" : "\n") + compare::render_isolation(r);
      std::fputs(text.c_str(), stdout);
      std::fflush(stdout);
      std::string svg = compare::render_svg(r);
      if (!a->json_path.empty()) write_file_atomic(a->json_path, compare::to_json(r).dump(2) + "\n");
      if (!a->svg_path.empty()) write_file_atomic(a->svg_path, svg);
      if (!a->html_path.empty()) write_file_atomic(a->html_path, compare::render_html(r, svg));
      if (!a->txt_path.empty()) write_file_atomic(a->txt_path, text);
      // Non-zero when any run failed, so that scripts notice.
      for (const auto& m : r.modes)
        for (const auto& s : m.samples)
          if (s.exit_code != 0) return 1;
      return 0;
    };
  });
}

}  // namespace hvrun::cli
