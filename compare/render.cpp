// Text table, SVG bar chart and HTML page of a compare report.
#include <algorithm>
#include <cstdio>
#include <sstream>

#include "compare/compare.hpp"

namespace hvrun::compare {

namespace {

std::string num(double v) {
  char b[64];
  double a = v < 0 ? -v : v;
  if (a >= 100) std::snprintf(b, sizeof b, "%.0f", v);
  else if (a >= 10) std::snprintf(b, sizeof b, "%.1f", v);
  else std::snprintf(b, sizeof b, "%.2f", v);
  return b;
}

std::string ratio_text(double r) {
  if (r < 0) return "-";
  char b[32];
  std::snprintf(b, sizeof b, "x%.2f", r);
  return b;
}

std::string pad(const std::string& s, size_t w) { return s.size() >= w ? s : s + std::string(w - s.size(), ' '); }

std::string xml_escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    switch (c) {
      case '&': o += "&amp;"; break;
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '"': o += "&quot;"; break;
      case '\'': o += "&apos;"; break;
      default:
        // Control characters are not allowed in XML 1.0 text.
        if (static_cast<unsigned char>(c) < 0x20 && c != '\n' && c != '\t') o += '?';
        else o += c;
    }
  }
  return o;
}

std::string workload_text(const Report& r) {
  if (!r.suite.empty()) {
    std::string s = "--suite";
    for (const auto& n : r.suite) s += " " + n;
    return s;
  }
  std::string s = "--";
  for (const auto& a : r.command) s += " " + a;
  return s;
}

const char* mode_color(size_t i) {
  static const char* colors[] = {"#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2"};
  return colors[i % 5];
}

}  // namespace

std::string render_table(const Report& r) {
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> head{"metric", "unit"};
  for (const auto& m : r.modes) head.push_back(m.mode + " median [min..max]");
  for (size_t i = 1; i < r.modes.size(); ++i) head.push_back(r.modes[i].mode + "/" + r.modes[0].mode);
  rows.push_back(head);
  for (const auto& metric : r.metrics) {
    std::vector<std::string> row{metric.label, metric.unit};
    for (const auto& m : r.modes) {
      auto it = m.summary.find(metric.key);
      std::string bench = metric.key.rfind("suite.", 0) == 0 ? metric.key.substr(6) : "";
      if (it != m.summary.end())
        row.push_back(num(it->second.median) + " [" + num(it->second.min) + ".." + num(it->second.max) + "]");
      else if (!bench.empty() && m.skipped.count(bench))
        row.push_back("skipped: " + m.skipped.at(bench));
      else
        row.push_back("-");
    }
    for (size_t i = 1; i < r.modes.size(); ++i) row.push_back(ratio_text(ratio_to_base(r, i, metric.key)));
    rows.push_back(row);
  }
  std::vector<size_t> w(head.size(), 0);
  for (const auto& row : rows)
    for (size_t c = 0; c < row.size(); ++c) w[c] = std::max(w[c], row[c].size());
  std::ostringstream o;
  o << "hvrun compare " << r.image << " " << workload_text(r) << "  (" << r.iterations
    << " runs per mode, interleaved)\n";
  for (const auto& row : rows) {
    std::string line;
    for (size_t c = 0; c < row.size(); ++c) line += (c ? "  " : "") + pad(row[c], w[c]);
    while (!line.empty() && line.back() == ' ') line.pop_back();
    o << line << "\n";
  }
  for (const auto& m : r.modes) {
    int failed = 0;
    for (const auto& s : m.samples) failed += s.exit_code != 0;
    if (failed) o << m.mode << ": " << failed << " run(s) failed (non-zero exit), left out of the statistics\n";
  }
  return o.str();
}

std::string render_isolation(const Report& r) {
  static const std::pair<const char*, const char*> keys[] = {
      {"kernel", "kernel (uname -r)"}, {"cpus", "CPUs seen"},     {"mem_total", "MemTotal"},
      {"cap_eff", "CapEff"},           {"seccomp", "Seccomp"},    {"devices", "/dev"},
      {"namespaces", "namespaces"},    {"error", "error"},        {"escape", "an escape must break"}};
  std::ostringstream o;
  o << "isolation (what the workload sees; host kernel " << r.host_kernel << ")\n";
  for (const auto& m : r.modes) {
    o << "[" << m.mode << "]\n";
    for (const auto& [k, label] : keys) {
      auto it = m.isolation.find(k);
      if (it != m.isolation.end()) o << "  " << pad(label, 22) << it->second << "\n";
    }
  }
  return o.str();
}

std::string render_svg(const Report& r) {
  const int W = 820, label_x = 12, bar_x = 140, bar_w = 440, row_h = 22, title_h = 26, gap = 12;
  // Only metrics some mode has a value for.
  std::vector<const Metric*> shown;
  for (const auto& metric : r.metrics)
    for (const auto& m : r.modes)
      if (m.summary.count(metric.key)) {
        shown.push_back(&metric);
        break;
      }
  int legend_h = 30;
  int H = 44 + legend_h;
  for (size_t g = 0; g < shown.size(); ++g) H += title_h + int(r.modes.size()) * row_h + gap;
  std::ostringstream o;
  o << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << W << "\" height=\"" << H << "\" viewBox=\"0 0 " << W
    << " " << H << "\" font-family=\"sans-serif\" font-size=\"12\" role=\"img\">\n";
  o << "<title>hvrun compare " << xml_escape(r.image + " " + workload_text(r)) << "</title>\n";
  o << "<rect x=\"0\" y=\"0\" width=\"" << W << "\" height=\"" << H << "\" fill=\"#ffffff\"/>\n";
  o << "<text x=\"" << label_x << "\" y=\"24\" font-size=\"15\" font-weight=\"bold\">hvrun compare "
    << xml_escape(r.image + " " + workload_text(r)) << "</text>\n";
  // Legend.
  int y = 44;
  int lx = label_x;
  for (size_t i = 0; i < r.modes.size(); ++i) {
    o << "<rect x=\"" << lx << "\" y=\"" << y << "\" width=\"14\" height=\"14\" fill=\"" << mode_color(i) << "\"/>";
    o << "<text x=\"" << lx + 20 << "\" y=\"" << y + 12 << "\">" << xml_escape(r.modes[i].mode) << "</text>\n";
    lx += 40 + int(r.modes[i].mode.size()) * 8;
  }
  o << "<text x=\"" << lx + 10 << "\" y=\"" << y + 12
    << "\" fill=\"#555\">bar: median; line: min..max; shorter is better</text>\n";
  y += legend_h;
  for (const Metric* metric : shown) {
    double top = 0;
    for (const auto& m : r.modes)
      if (auto it = m.summary.find(metric->key); it != m.summary.end()) top = std::max(top, it->second.max);
    if (top <= 0) top = 1;
    o << "<g class=\"metric\" data-metric=\"" << xml_escape(metric->key) << "\">\n";
    o << "<text x=\"" << label_x << "\" y=\"" << y + 17 << "\" font-weight=\"bold\">" << xml_escape(metric->label)
      << " (" << xml_escape(metric->unit) << ")</text>\n";
    y += title_h;
    for (size_t i = 0; i < r.modes.size(); ++i) {
      const auto& m = r.modes[i];
      o << "<text x=\"" << label_x + 10 << "\" y=\"" << y + 15 << "\">" << xml_escape(m.mode) << "</text>";
      auto it = m.summary.find(metric->key);
      if (it == m.summary.end()) {
        o << "<text x=\"" << bar_x << "\" y=\"" << y + 15 << "\" fill=\"#888\">no value</text>\n";
        y += row_h;
        continue;
      }
      const Summary& s = it->second;
      auto px = [&](double v) { return bar_x + int(v / top * bar_w + 0.5); };
      int len = std::max(1, px(s.median) - bar_x);
      o << "<rect class=\"bar\" data-mode=\"" << xml_escape(m.mode) << "\" x=\"" << bar_x << "\" y=\"" << y + 3
        << "\" width=\"" << len << "\" height=\"" << row_h - 6 << "\" fill=\"" << mode_color(i) << "\"/>";
      o << "<line x1=\"" << px(s.min) << "\" x2=\"" << px(s.max) << "\" y1=\"" << y + row_h / 2 << "\" y2=\""
        << y + row_h / 2 << "\" stroke=\"#222\" stroke-width=\"1.5\"/>";
      double ratio = ratio_to_base(r, i, metric->key);
      std::string label = num(s.median) + " " + metric->unit;
      if (i > 0 && ratio >= 0) label += "  (" + ratio_text(ratio) + ")";
      o << "<text x=\"" << std::max(px(s.max), bar_x + len) + 6 << "\" y=\"" << y + 15 << "\">"
        << xml_escape(label) << "</text>\n";
      y += row_h;
    }
    o << "</g>\n";
    y += gap;
  }
  o << "</svg>\n";
  return o.str();
}

std::string render_html(const Report& r, const std::string& svg) {
  std::ostringstream o;
  o << "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>hvrun compare "
    << xml_escape(r.image) << "</title>\n"
    << "<style>body{font-family:sans-serif;margin:2em;max-width:62em}pre{background:#f6f6f6;padding:1em;"
       "overflow-x:auto}td,th{text-align:left;padding:.2em .8em;vertical-align:top}</style>\n</head>\n<body>\n";
  o << "<h1>hvrun compare</h1>\n<p>Image <code>" << xml_escape(r.image) << "</code>, workload <code>"
    << xml_escape(workload_text(r)) << "</code>, " << r.iterations << " runs per mode (interleaved), started "
    << xml_escape(r.started_at) << " on host kernel " << xml_escape(r.host_kernel) << ".</p>\n";
  o << "<figure>\n" << svg << "</figure>\n";
  o << "<h2>Table</h2>\n<pre>" << xml_escape(render_table(r)) << "</pre>\n";
  o << "<h2>Isolation</h2>\n<table>\n<tr><th></th>";
  for (const auto& m : r.modes) o << "<th>" << xml_escape(m.mode) << "</th>";
  o << "</tr>\n";
  for (const char* k : {"kernel", "cpus", "mem_total", "cap_eff", "seccomp", "devices", "namespaces", "error", "escape"}) {
    o << "<tr><th>" << k << "</th>";
    for (const auto& m : r.modes) {
      auto it = m.isolation.find(k);
      o << "<td>" << xml_escape(it == m.isolation.end() ? "-" : it->second) << "</td>";
    }
    o << "</tr>\n";
  }
  o << "</table>\n<p>Metrics: see docs/compare.md in the hvrun sources.</p>\n</body>\n</html>\n";
  return o.str();
}

}  // namespace hvrun::compare
