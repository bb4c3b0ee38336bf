#include "util/format.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>

#include "util/error.hpp"
#include "util/strings.hpp"

namespace hvrun {

namespace {

using nlohmann::json;

[[noreturn]] void bad(const std::string& format, const std::string& why) {
  throw Error("invalid --format template \"" + format + "\": " + why);
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// Splits an action's inside into words: bare words, "quoted" and `raw` strings.
// A string literal keeps its opening quote so that it can be told from a word.
std::vector<std::string> words_of(const std::string& format, const std::string& in) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < in.size()) {
    if (is_space(in[i])) {
      ++i;
      continue;
    }
    if (in[i] == '"' || in[i] == '`') {
      char q = in[i];
      std::string s(1, '"');
      size_t j = i + 1;
      for (; j < in.size() && in[j] != q; ++j) {
        if (q == '"' && in[j] == '\\' && j + 1 < in.size()) {
          char e = in[++j];
          s += e == 'n' ? '\n' : e == 't' ? '\t' : e;
        } else {
          s += in[j];
        }
      }
      if (j >= in.size()) bad(format, "unterminated string in {{" + in + "}}");
      out.push_back(s);
      i = j + 1;
      continue;
    }
    size_t j = i;
    while (j < in.size() && !is_space(in[j])) ++j;
    out.push_back(in.substr(i, j - i));
    i = j;
  }
  return out;
}

std::vector<std::string> path_of(const std::string& format, const std::string& word) {
  if (word.empty() || word[0] != '.') bad(format, "expected a field path like .Name, got \"" + word + "\"");
  std::vector<std::string> path;
  if (word == ".") return path;
  size_t i = 1;
  while (true) {
    size_t j = word.find('.', i);
    std::string part = word.substr(i, j == std::string::npos ? std::string::npos : j - i);
    if (part.empty() || !std::all_of(part.begin(), part.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }))
      bad(format, "bad field path \"" + word + "\"");
    path.push_back(part);
    if (j == std::string::npos) break;
    i = j + 1;
  }
  return path;
}

Template::Node action_of(const std::string& format, const std::string& inside);

// {{(ACTION).Field.Sub}}: Go's parenthesised pipeline with a field of its
// result, as in Docker's {{(index .NetworkSettings.Networks "n").IPAddress}}.
// The parentheses may hold a field path or index.
Template::Node parenthesised(const std::string& format, const std::string& inside) {
  const size_t open = inside.find('(');
  size_t close = std::string::npos;
  char quote = 0;
  for (size_t i = open + 1; i < inside.size() && close == std::string::npos; ++i) {
    const char c = inside[i];
    if (quote) {
      if (c == '\\' && quote == '"') ++i;
      else if (c == quote) quote = 0;
    } else if (c == '"' || c == '`') {
      quote = c;
    } else if (c == '(') {
      bad(format, "nested parentheses are not supported in {{" + inside + "}}");
    } else if (c == ')') {
      close = i;
    }
  }
  if (close == std::string::npos) bad(format, "unclosed ( in {{" + inside + "}}");
  Template::Node n = action_of(format, inside.substr(open + 1, close - open - 1));
  if (!n.block.empty()) bad(format, "{{" + n.block + "}} cannot be in ( )");
  if (!n.func.empty() && n.func != "index")
    bad(format, "({{" + n.func + " ...}}) gives a string, which has no fields: only index or a field path may be in ( )");
  std::string rest = inside.substr(close + 1);
  const size_t e = rest.find_last_not_of(" \t\r\n");
  rest = e == std::string::npos ? "" : rest.substr(0, e + 1);
  if (!rest.empty()) {
    if (rest[0] != '.' || rest == ".") bad(format, "expected a field path like .Name after ), got \"" + rest + "\"");
    n.after = path_of(format, rest);
  }
  return n;
}

Template::Node action_of(const std::string& format, const std::string& inside) {
  if (const size_t b = inside.find_first_not_of(" \t\r\n"); b != std::string::npos && inside[b] == '(')
    return parenthesised(format, inside);
  std::vector<std::string> w = words_of(format, inside);
  if (w.empty()) bad(format, "empty action {{}}");
  Template::Node n;
  n.action = true;
  if (w[0][0] == '.') {
    if (w.size() != 1) bad(format, "unexpected \"" + w[1] + "\" after " + w[0]);
    n.path = path_of(format, w[0]);
    return n;
  }
  if (w[0] == "else" || w[0] == "end") {
    if (w.size() != 1) bad(format, "{{" + w[0] + "}} takes nothing (got \"" + w[1] + "\")");
    n.action = false;
    n.block = w[0];
    return n;
  }
  if (w[0] == "range" || w[0] == "if") {
    if (w.size() != 2 || w[1][0] != '.')
      bad(format, "{{" + w[0] + "}} takes one field path, like {{" + w[0] + " .Names}} (no variables or functions)");
    n.action = false;
    n.block = w[0];
    n.path = path_of(format, w[1]);
    return n;
  }
  static const std::vector<std::string> unsupported = {"with", "define", "template", "block"};
  if (std::find(unsupported.begin(), unsupported.end(), w[0]) != unsupported.end())
    bad(format, "{{" + w[0] + "}} is not supported (hvrun supports .Field paths, range, if, else, end and json, upper, "
                "lower, join, index)");
  n.func = w[0];
  size_t min_strings = 0, max_strings = 0;
  if (n.func == "join") min_strings = max_strings = 1;
  else if (n.func == "index") min_strings = 1, max_strings = 8;
  else if (n.func != "json" && n.func != "upper" && n.func != "lower")
    bad(format, "function \"" + n.func + "\" not defined");
  if (w.size() < 2) bad(format, n.func + " needs a field path argument, like {{" + n.func + " .Name}}");
  n.path = path_of(format, w[1]);
  for (size_t i = 2; i < w.size(); ++i) {
    if (w[i][0] != '"') bad(format, n.func + ": expected a quoted string, got \"" + w[i] + "\"");
    n.strings.push_back(w[i].substr(1));
  }
  if (n.strings.size() < min_strings || n.strings.size() > max_strings)
    bad(format, "wrong number of arguments for " + n.func);
  return n;
}

// Go's fmt %v for a value decoded from JSON.
std::string go_print(const json& v, bool top = true) {
  switch (v.type()) {
    case json::value_t::null:
      return top ? "<no value>" : "<nil>";
    case json::value_t::string:
      return v.get<std::string>();
    case json::value_t::boolean:
      return v.get<bool>() ? "true" : "false";
    case json::value_t::array: {
      std::string s = "[";
      for (size_t i = 0; i < v.size(); ++i) s += (i ? " " : "") + go_print(v[i], false);
      return s + "]";
    }
    case json::value_t::object: {
      std::string s = "map[";
      bool first = true;
      for (auto it = v.begin(); it != v.end(); ++it) {
        s += (first ? "" : " ") + it.key() + ":" + go_print(it.value(), false);
        first = false;
      }
      return s + "]";
    }
    default:
      return v.dump();
  }
}

const json& lookup(const json& obj, const std::vector<std::string>& path) {
  static const json missing;
  const json* cur = &obj;
  for (const auto& key : path) {
    if (!cur->is_object()) return missing;
    auto it = cur->find(key);
    if (it == cur->end()) return missing;
    cur = &*it;
  }
  return *cur;
}

std::string upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

std::string apply(const Template::Node& n, const json& v) {
  std::string shown = n.path.empty() ? "." : "";
  for (const auto& p : n.path) shown += "." + p;
  if (n.func.empty()) return go_print(n.after.empty() ? v : lookup(v, n.after));
  if (n.func == "json") return v.dump();
  if (n.func == "upper" || n.func == "lower") {
    if (!v.is_string()) throw Error(n.func + " " + shown + ": not a string (" + v.type_name() + ")");
    std::string s = v.get<std::string>();
    if (n.func == "upper") return upper(s);
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
  }
  if (n.func == "join") {
    if (!v.is_array()) throw Error("join " + shown + ": not a list (" + std::string(v.type_name()) + ")");
    std::string s;
    for (size_t i = 0; i < v.size(); ++i) s += (i ? n.strings[0] : "") + go_print(v[i], false);
    return s;
  }
  // index
  const json* cur = &v;
  static const json missing;
  for (const auto& key : n.strings) {
    if (cur->is_object() && cur->contains(key)) {
      cur = &(*cur)[key];
    } else if (cur->is_array() && !key.empty() && std::all_of(key.begin(), key.end(), ::isdigit) &&
               std::stoul(key) < cur->size()) {
      cur = &(*cur)[std::stoul(key)];
    } else {
      cur = &missing;
      break;
    }
  }
  return go_print(n.after.empty() ? *cur : lookup(*cur, n.after));
}

}  // namespace

Template Template::parse(const std::string& format) {
  Template t;
  std::string f = format;
  if (f.rfind("table", 0) == 0) {
    t.table_ = true;
    f = f.substr(5);
  }
  size_t b = f.find_first_not_of(' ');
  f = b == std::string::npos ? "" : f.substr(b, f.find_last_not_of(' ') - b + 1);
  for (size_t p; (p = f.find("\\t")) != std::string::npos;) f.replace(p, 2, "\t");
  for (size_t p; (p = f.find("\\n")) != std::string::npos;) f.replace(p, 2, "\n");

  bool trim_next = false;
  size_t i = 0;
  while (i <= f.size()) {
    size_t open = f.find("{{", i);
    std::string text = f.substr(i, open == std::string::npos ? std::string::npos : open - i);
    if (trim_next) text.erase(0, std::min(text.size(), text.find_first_not_of(" \t\n\r")));
    if (open == std::string::npos) {
      if (text.find("}}") != std::string::npos) bad(format, "unexpected \"}}\"");
      if (!text.empty()) t.nodes_.push_back(Node{text, "", {}, {}, false});
      break;
    }
    size_t close = f.find("}}", open + 2);
    if (close == std::string::npos) bad(format, "unclosed action: missing \"}}\"");
    std::string inside = f.substr(open + 2, close - open - 2);
    if (inside.size() >= 2 && inside[0] == '-' && is_space(inside[1])) {
      size_t keep = text.find_last_not_of(" \t\n\r");
      text.erase(keep == std::string::npos ? 0 : keep + 1);
      inside.erase(0, 1);
    }
    trim_next = inside.size() >= 2 && inside.back() == '-' && is_space(inside[inside.size() - 2]);
    if (trim_next) inside.pop_back();
    if (!text.empty()) t.nodes_.push_back(Node{text, "", {}, {}, false});
    t.nodes_.push_back(action_of(format, inside));
    i = close + 2;
  }
  // Each range and if with its else and end.
  std::vector<size_t> open_blocks;
  size_t ranges = 0;
  for (size_t k = 0; k < t.nodes_.size(); ++k) {
    Node& n = t.nodes_[k];
    n.in_range = ranges > 0;
    if (n.block == "range" || n.block == "if") {
      open_blocks.push_back(k);
      ranges += n.block == "range";
    } else if (n.block == "else") {
      if (open_blocks.empty()) bad(format, "{{else}} outside a range or if");
      Node& b = t.nodes_[open_blocks.back()];
      if (b.else_at) bad(format, "a second {{else}} in one " + b.block);
      b.else_at = k;
      n.in_range = ranges - (b.block == "range") > 0;
    } else if (n.block == "end") {
      if (open_blocks.empty()) bad(format, "{{end}} without a range or if");
      Node& b = t.nodes_[open_blocks.back()];
      b.end_at = k;
      ranges -= b.block == "range";
      n.in_range = ranges > 0;
      open_blocks.pop_back();
    }
  }
  if (!open_blocks.empty()) bad(format, "{{" + t.nodes_[open_blocks.back()].block + "}} without its {{end}}");
  return t;
}

std::vector<std::string> Template::fields() const {
  std::vector<std::string> out;
  for (const auto& n : nodes_)
    if ((n.action || n.block == "range" || n.block == "if") && !n.in_range && !n.path.empty()) out.push_back(n.path[0]);
  return out;
}

namespace {

// Go's truth: false, 0, nil and empty strings, arrays and maps are false.
bool truthy(const json& v) {
  if (v.is_null()) return false;
  if (v.is_boolean()) return v.get<bool>();
  if (v.is_number()) return v.get<double>() != 0;
  if (v.is_string() || v.is_array() || v.is_object()) return !v.empty();
  return true;
}

}  // namespace

std::string Template::render(size_t from, size_t to, const json& dot) const {
  std::string out;
  for (size_t k = from; k < to;) {
    const Node& n = nodes_[k];
    if (n.block == "range" || n.block == "if") {
      const json& v = lookup(dot, n.path);
      const size_t body_end = n.else_at ? n.else_at : n.end_at;
      bool ran = false;
      if (n.block == "if") {
        ran = truthy(v);
        if (ran) out += render(k + 1, body_end, dot);
      } else if (v.is_array() || v.is_object()) {
        for (const auto& e : v) out += render(k + 1, body_end, e);
        ran = !v.empty();
      }
      if (!ran && n.else_at) out += render(n.else_at + 1, n.end_at, dot);
      k = n.end_at + 1;
      continue;
    }
    out += n.action ? apply(n, lookup(dot, n.path)) : n.text;
    ++k;
  }
  return out;
}

std::string Template::render(const json& obj) const { return render(0, nodes_.size(), obj); }

std::string Template::header(const std::map<std::string, std::string>& headers) const {
  std::string out;
  for (const auto& n : nodes_) {
    if (!n.action) {
      out += n.text;  // (a block's marker has none)
      continue;
    }
    std::string key;
    for (const auto& p : n.path) key += (key.empty() ? "" : ".") + p;
    auto it = headers.find(key);
    out += it != headers.end() ? it->second : upper(key);
  }
  return out;
}

void check_fields(const Template& t, const std::string& format, const std::vector<std::string>& known) {
  for (const auto& f : t.fields()) {
    if (std::find(known.begin(), known.end(), f) != known.end()) continue;
    std::string list;
    for (const auto& k : known) list += " ." + k;
    bad(format, "no field ." + f + " (fields:" + list + ")");
  }
}

std::string align_columns(const std::vector<std::string>& lines) {
  std::vector<std::vector<std::string>> rows;
  std::vector<size_t> width;
  for (const auto& line : lines) {
    std::vector<std::string> cells;
    size_t i = 0;
    for (size_t tab; (tab = line.find('\t', i)) != std::string::npos; i = tab + 1) cells.push_back(line.substr(i, tab - i));
    cells.push_back(line.substr(i));
    // Only cells followed by a tab make a column; the last one is not padded.
    for (size_t c = 0; c + 1 < cells.size(); ++c) {
      if (width.size() <= c) width.push_back(0);
      width[c] = std::max(width[c], std::max<size_t>(display_width(cells[c]) + 3, 10));
    }
    rows.push_back(std::move(cells));
  }
  std::string out;
  for (const auto& cells : rows) {
    for (size_t c = 0; c < cells.size(); ++c) {
      out += cells[c];
      if (c + 1 < cells.size()) out += std::string(width[c] - display_width(cells[c]), ' ');
    }
    out += "\n";
  }
  return out;
}

std::string format_objects(const Template& t, const std::vector<json>& objs,
                           const std::map<std::string, std::string>& headers) {
  if (!t.table()) {
    std::string out;
    for (const auto& o : objs) out += t.render(o) + "\n";
    return out;
  }
  std::vector<std::string> lines;
  auto add = [&lines](const std::string& text) {
    size_t i = 0;
    for (size_t nl; (nl = text.find('\n', i)) != std::string::npos; i = nl + 1) lines.push_back(text.substr(i, nl - i));
    lines.push_back(text.substr(i));
  };
  add(t.header(headers));
  for (const auto& o : objs) add(t.render(o));
  return align_columns(lines);
}

}  // namespace hvrun
