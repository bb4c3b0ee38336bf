// The Dockerfile reader, after buildkit's frontend/dockerfile/parser: lines
// are joined at the escape character first, then each logical line is cut
// into keyword, --flags and arguments and checked for its shape.
#include "builder/dockerfile.hpp"

#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "builder/expand.hpp"
#include "util/error.hpp"
#include "util/strings.hpp"

namespace hvrun::builder {
namespace {

const std::set<std::string> kKeywords = {
    "FROM",  "RUN",   "CMD",    "ENTRYPOINT", "COPY",        "ADD",   "ENV",     "ARG",       "WORKDIR",
    "USER",  "LABEL", "EXPOSE", "VOLUME",     "STOPSIGNAL", "HEALTHCHECK", "SHELL", "ONBUILD", "MAINTAINER"};

// The flags each instruction takes; RUN's are known but refused.
const std::map<std::string, std::set<std::string>> kFlags = {
    {"COPY", {"from", "chown", "chmod", "link"}},
    {"ADD", {"chown", "chmod", "checksum", "link"}},
    {"FROM", {"platform"}},
    {"HEALTHCHECK", {"interval", "timeout", "start-period", "start-interval", "retries"}},
};
const std::set<std::string> kRunFlagsNotSupported = {"mount", "network", "security"};

const std::set<std::string> kJsonForm = {"RUN", "CMD", "ENTRYPOINT", "SHELL", "VOLUME", "COPY", "ADD"};

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'; }

std::string trim_left(const std::string& s) {
  size_t i = 0;
  while (i < s.size() && is_space(s[i])) ++i;
  return s.substr(i);
}

std::string trim(const std::string& s) {
  std::string t = trim_left(s);
  while (!t.empty() && is_space(t.back())) t.pop_back();
  return t;
}

std::string upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool is_comment(const std::string& line) {
  std::string t = trim_left(line);
  return !t.empty() && t[0] == '#';
}

// "name = value" after the '#' of a directive line, else nothing.
bool directive(const std::string& line, std::string& key, std::string& value) {
  std::string t = trim_left(line);
  if (t.empty() || t[0] != '#') return false;
  t = trim_left(t.substr(1));
  size_t i = 0;
  if (i >= t.size() || !std::isalpha(static_cast<unsigned char>(t[i]))) return false;
  while (i < t.size() && std::isalnum(static_cast<unsigned char>(t[i]))) ++i;
  key = lower(t.substr(0, i));
  std::string rest = trim_left(t.substr(i));
  if (rest.empty() || rest[0] != '=') return false;
  value = trim(rest.substr(1));
  return !value.empty();
}

// Strips a trailing escape character (spaces and tabs may follow it):
// true when the line continues on the next one.
bool continues(std::string& line, char escape) {
  size_t e = line.size();
  while (e > 0 && (line[e - 1] == ' ' || line[e - 1] == '\t')) --e;
  if (e == 0 || line[e - 1] != escape) return false;
  line.resize(e - 1);
  return true;
}

// The --flag words right after the keyword, as buildkit's
// extractBuilderFlags: quotes and backslashes in them are removed, and a
// bare "--" ends them. Returns the rest of the line.
std::string take_flags(const std::string& line, std::vector<std::string>& flags) {
  size_t pos = 0;
  for (;;) {
    while (pos < line.size() && is_space(line[pos])) ++pos;
    if (pos + 1 >= line.size() || line[pos] != '-' || line[pos + 1] != '-') return line.substr(pos);
    std::string word;
    char quote = 0;
    for (; pos < line.size(); ++pos) {
      char c = line[pos];
      if (!quote && is_space(c)) break;
      if (quote && c == quote) {
        quote = 0;
        continue;
      }
      if (!quote && (c == '\'' || c == '"')) {
        quote = c;
        continue;
      }
      if (c == '\\') {
        if (pos + 1 == line.size()) continue;
        c = line[++pos];
      }
      word += c;
    }
    if (word == "--") return line.substr(pos);
    flags.push_back(word);
  }
}

class Parser {
 public:
  explicit Parser(const std::string& name) { df_.name = name; }

  Dockerfile parse(const std::string& text) {
    std::vector<std::string> lines = split_lines(text);
    bool directives_done = false;
    std::set<std::string> seen;
    for (size_t i = 0; i < lines.size(); ++i) {
      int lineno = static_cast<int>(i) + 1;
      std::string line = trim_left(lines[i]);

      // Directives only in the leading comment block; the first line that
      // is not one (a comment, a blank line, an instruction) ends it.
      std::string key, value;
      if (!directives_done && directive(line, key, value) &&
          (key == "escape" || key == "syntax" || key == "check")) {
        if (!seen.insert(key).second) fail(lineno, "only one " + key + " parser directive can be used");
        if (key == "escape") {
          if (value != "\\" && value != "`")
            fail(lineno, "invalid escape token '" + value + "' does not match ` or \\");
          df_.escape = value[0];
        }
        continue;
      }
      directives_done = true;
      if (line.empty() || line[0] == '#') continue;

      bool more = continues(line, df_.escape);
      // Continuation lines keep their leading white space; comment lines
      // and empty lines inside them are dropped.
      while (more && i + 1 < lines.size()) {
        std::string next = lines[++i];
        if (is_comment(next) || trim_left(next).empty()) continue;
        more = continues(next, df_.escape);
        line += next;
      }
      if (trim(line).empty()) continue;
      add(line, lineno);
    }
    if (!seen_from_) throw Error(df_.name + ": no FROM instruction");
    return std::move(df_);
  }

 private:
  static std::vector<std::string> split_lines(const std::string& text) {
    std::vector<std::string> lines;
    size_t i = 0;
    while (i < text.size()) {
      size_t e = text.find('\n', i);
      if (e == std::string::npos) e = text.size();
      std::string l = text.substr(i, e - i);
      if (!l.empty() && l.back() == '\r') l.pop_back();
      lines.push_back(std::move(l));
      i = e + 1;
    }
    if (!lines.empty() && lines[0].starts_with("\xEF\xBB\xBF")) lines[0].erase(0, 3);
    return lines;
  }

  [[noreturn]] void fail(int line, const std::string& why) const {
    throw Error(df_.name + ":" + std::to_string(line) + ": " + why);
  }

  void add(const std::string& line, int lineno) {
    Instruction ins;
    ins.line = lineno;
    std::string t = trim(line);
    size_t sp = 0;
    while (sp < t.size() && !is_space(t[sp])) ++sp;
    std::string word = t.substr(0, sp);
    ins.keyword = upper(word);
    if (!kKeywords.count(ins.keyword)) fail(lineno, "unknown instruction: " + word);
    ins.args = trim(take_flags(t.substr(sp), ins.flags));

    ins.text = ins.keyword;
    for (const auto& f : ins.flags) ins.text += " " + f;
    if (!ins.args.empty()) ins.text += " " + ins.args;

    check_flags(ins);
    if (ins.args.empty()) fail(lineno, ins.keyword + " requires at least one argument");
    if (kJsonForm.count(ins.keyword)) json_form(ins);
    check_shape(ins);

    if (ins.keyword == "FROM") seen_from_ = true;
    if (!seen_from_ && ins.keyword != "ARG")
      fail(lineno, ins.keyword + " before the first FROM (only ARG may come before it)");
    df_.instructions.push_back(std::move(ins));
  }

  void check_flags(const Instruction& ins) const {
    for (const auto& f : ins.flags) {
      std::string name = f.substr(2, f.find('=') == std::string::npos ? std::string::npos : f.find('=') - 2);
      if (ins.keyword == "RUN" && kRunFlagsNotSupported.count(name))
        fail(ins.line, "RUN --" + name + " is not supported");
      auto it = kFlags.find(ins.keyword);
      if (it == kFlags.end() || !it->second.count(name)) fail(ins.line, ins.keyword + ": unknown flag --" + name);
    }
  }

  // A valid JSON array is the exec form; one that holds anything but
  // strings is an error (as Docker); anything else is the shell form.
  void json_form(Instruction& ins) const {
    if (ins.args[0] != '[') return;
    auto j = nlohmann::json::parse(ins.args, nullptr, false);
    if (j.is_discarded() || !j.is_array()) return;
    for (const auto& e : j) {
      if (!e.is_string()) fail(ins.line, "when using JSON array syntax, arrays must be comprised of strings only");
      ins.json.push_back(e.get<std::string>());
    }
    ins.json_form = true;
  }

  void check_shape(const Instruction& ins) const {
    const std::string& k = ins.keyword;
    if (k == "SHELL" && !ins.json_form) fail(ins.line, "SHELL requires the arguments to be in JSON form");
    if (k == "COPY" || k == "ADD") {
      size_t n = ins.json_form ? ins.json.size() : split_words(ins.args).size();
      if (n < 2) fail(ins.line, k + " requires at least two arguments: a source and a destination");
    }
    if (k == "FROM") {
      auto w = split_words(ins.args);
      if (!(w.size() == 1 || (w.size() == 3 && upper(w[1]) == "AS")))
        fail(ins.line, "FROM requires either one or three arguments (FROM image [AS name])");
    }
    if (k == "ENV" || k == "LABEL") {
      // Only the shape; values are expanded when the step runs.
      auto w = split_quoted_words(ins.args, df_.escape);
      bool legacy = w[0].find('=') == std::string::npos;
      if (legacy && w.size() < 2 && split_words(ins.args).size() < 2) fail(ins.line, k + " must have two arguments");
      if (!legacy)
        for (const auto& kv : w) {
          if (kv.find('=') == std::string::npos)
            fail(ins.line, "syntax error: can't find = in \"" + kv + "\", must be of the form name=value");
          if (kv[0] == '=') fail(ins.line, k + " names can not be blank");
        }
    }
    if (k == "ONBUILD") {
      auto w = split_words(ins.args);
      std::string sub = upper(w[0]);
      if (sub == "ONBUILD" || sub == "FROM" || sub == "MAINTAINER")
        fail(ins.line, sub + " isn't allowed as an ONBUILD trigger");
      if (!kKeywords.count(sub)) fail(ins.line, "unknown instruction: " + w[0]);
    }
  }

  Dockerfile df_;
  bool seen_from_ = false;
};

}  // namespace

Dockerfile parse_dockerfile(const std::string& text, const std::string& name) { return Parser(name).parse(text); }

}  // namespace hvrun::builder
