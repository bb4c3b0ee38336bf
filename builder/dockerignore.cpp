// .dockerignore as moby/patternmatcher reads it: patterns compiled to a
// small glob machine (Go filepath.Match plus "**"), each path checked
// against every pattern and its parent directories, the last match winning.
#include "builder/dockerignore.hpp"

#include <cstdint>
#include <string_view>
#include <vector>

#include "util/error.hpp"
#include "util/strings.hpp"
#include "util/fs.hpp"

namespace hvrun::builder {
namespace {

struct Token {
  enum Kind { kLiteral, kStar, kOne, kClass, kAnyDirs, kAnyRest } kind;
  char c = 0;                                    // kLiteral
  bool negated = false;                          // kClass
  std::vector<std::pair<char, char>> ranges;     // kClass
};

[[noreturn]] void bad_pattern(const std::string& p) { throw Error("syntax error in pattern \"" + p + "\""); }

// One character of a class, as Go's getEsc: '-' and ']' must be escaped
// where they would be ambiguous, and the class must be closed.
char class_char(const std::string& p, size_t& i) {
  if (i >= p.size() || p[i] == '-' || p[i] == ']') bad_pattern(p);
  if (p[i] == '\\' && ++i >= p.size()) bad_pattern(p);
  char c = p[i++];
  if (i >= p.size()) bad_pattern(p);
  return c;
}

std::vector<Token> compile(const std::string& p) {
  std::vector<Token> out;
  for (size_t i = 0; i < p.size();) {
    char c = p[i++];
    Token t{Token::kLiteral};
    if (c == '*') {
      if (i < p.size() && p[i] == '*') {
        // "**/" is "**": any number of directories, the slash included.
        ++i;
        if (i < p.size() && p[i] == '/') ++i;
        t.kind = i == p.size() ? Token::kAnyRest : Token::kAnyDirs;
      } else {
        t.kind = Token::kStar;
      }
    } else if (c == '?') {
      t.kind = Token::kOne;
    } else if (c == '\\') {
      if (i >= p.size()) bad_pattern(p);
      t.c = p[i++];
    } else if (c == '[') {
      t.kind = Token::kClass;
      if (i < p.size() && p[i] == '^') {
        t.negated = true;
        ++i;
      }
      for (;;) {
        if (i < p.size() && p[i] == ']' && !t.ranges.empty()) {
          ++i;
          break;
        }
        char lo = class_char(p, i), hi = lo;
        if (p[i] == '-') {
          ++i;
          hi = class_char(p, i);
        }
        t.ranges.emplace_back(lo, hi);
      }
    } else {
      t.c = c;
    }
    out.push_back(std::move(t));
  }
  return out;
}

// The glob machine: tokens k.. against s[i..]. Each (k, i) a '*' or "**"
// tries is worked out once (memo_), so that a pattern of many stars costs
// O(tokens x length^2) rather than exponential time: tests/fuzz/dockerignore
// hung on "/tmp/ ***...*c" (a backtracking matcher tries every split).
class Glob {
 public:
  Glob(const std::vector<Token>& toks, std::string_view s) : toks_(toks), s_(s) {}
  bool match() { return run(0, 0); }

 private:
  enum : int8_t { kUnknown = -1, kNo = 0, kYes = 1 };
  bool run(size_t k, size_t i) {
    if (memo_.empty()) memo_.assign((toks_.size() + 1) * (s_.size() + 1), kUnknown);
    const size_t at = k * (s_.size() + 1) + i;
    if (memo_[at] == kUnknown) memo_[at] = step(k, i) ? kYes : kNo;
    return memo_[at] == kYes;
  }
  bool step(size_t k, size_t i) {
    for (; k < toks_.size(); ++k) {
      const Token& t = toks_[k];
      switch (t.kind) {
        case Token::kAnyRest:
          return true;
        case Token::kAnyDirs:
          // Nothing, or any prefix that ends at a '/'.
          if (run(k + 1, i)) return true;
          for (size_t j = i; j < s_.size(); ++j)
            if (s_[j] == '/' && run(k + 1, j + 1)) return true;
          return false;
        case Token::kStar:
          for (size_t j = i;; ++j) {
            if (run(k + 1, j)) return true;
            if (j == s_.size() || s_[j] == '/') return false;
          }
        case Token::kOne:
          if (i == s_.size() || s_[i] == '/') return false;
          break;
        case Token::kClass: {
          if (i == s_.size()) return false;
          bool in = false;
          for (auto [lo, hi] : t.ranges) in = in || (lo <= s_[i] && s_[i] <= hi);
          if (in == t.negated) return false;
          break;
        }
        case Token::kLiteral:
          if (i == s_.size() || s_[i] != t.c) return false;
          break;
      }
      ++i;
    }
    return i == s_.size();
  }

  const std::vector<Token>& toks_;
  std::string_view s_;
  std::vector<int8_t> memo_;
};

std::vector<std::string> split_path(const std::string& p) {
  std::vector<std::string> out;
  size_t i = 0;
  for (size_t j; (j = p.find('/', i)) != std::string::npos; i = j + 1) out.push_back(p.substr(i, j - i));
  out.push_back(p.substr(i));
  return out;
}

std::string trim_space(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r\n\v\f");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t\r\n\v\f") + 1 - b);
}

}  // namespace

bool match_path(const std::string& pattern, const std::string& path) {
  std::vector<Token> toks = compile(pattern);
  // patternmatcher takes a leading "**" followed by plain text as a bare
  // suffix test ("**foo" matches "xfoo"); kept for the same answers.
  if (pattern.starts_with("**") && pattern.find_first_of("*?[]\\", 2) == std::string::npos) {
    std::string suffix = pattern.substr(2);
    return path.ends_with(suffix) || (suffix[0] == '/' && path == suffix.substr(1));
  }
  return Glob(toks, path).match();
}

DockerIgnore DockerIgnore::parse(const std::string& text) {
  DockerIgnore d;
  size_t i = 0;
  for (bool first = true; i < text.size(); first = false) {
    size_t e = text.find('\n', i);
    if (e == std::string::npos) e = text.size();
    std::string line = text.substr(i, e - i);
    i = e + 1;
    if (first && line.starts_with("\xEF\xBB\xBF")) line.erase(0, 3);
    if (!line.empty() && line[0] == '#') continue;  // only at the start of the line
    line = trim_space(line);
    if (line.empty()) continue;
    Pattern p;
    if (line[0] == '!') {
      p.exception = true;
      line = trim_space(line.substr(1));
      if (line.empty()) throw Error("illegal exclusion pattern \"!\" in .dockerignore");
    }
    // Patterns are relative to the context: "/a" and "./a" are "a".
    line = clean_path(line);
    if (line.size() > 1 && line[0] == '/') line.erase(0, 1);
    try {
      compile(line);
    } catch (const Error& e) {
      throw Error(std::string(".dockerignore: ") + e.what());
    }
    p.glob = std::move(line);
    d.patterns_.push_back(std::move(p));
  }
  return d;
}

DockerIgnore DockerIgnore::load(const std::string& context_dir) {
  for (const char* name : {"/.dockerignore", "/.containerignore"}) {
    std::string path = context_dir + name;
    if (path_exists(path)) return parse(read_file(path));
  }
  return {};
}

bool DockerIgnore::excluded(const std::string& path) const {
  std::string file = clean_path(path);
  if (file == "." || patterns_.empty()) return false;
  std::vector<std::string> parents = split_path(file);
  parents.pop_back();

  bool matched = false;
  for (const Pattern& p : patterns_) {
    // An include only matters while the path is in, an exception while out.
    if (p.exception != matched) continue;
    bool m = match_path(p.glob, file);
    std::string dir;
    for (size_t n = 0; !m && n < parents.size(); ++n) {
      dir += (n ? "/" : "") + parents[n];
      m = match_path(p.glob, dir);
    }
    if (m) matched = !p.exception;
  }
  return matched;
}

bool DockerIgnore::has_exceptions_under(const std::string& dir) const {
  std::string d = clean_path(dir);
  std::vector<std::string> dirs = d == "." ? std::vector<std::string>{} : split_path(d);
  for (const Pattern& p : patterns_) {
    if (!p.exception) continue;
    std::vector<std::string> elems = split_path(p.glob);
    bool could = true;
    size_t n = 0;
    for (; n < elems.size() && n < dirs.size(); ++n) {
      if (elems[n].find("**") != std::string::npos) break;  // any depth: it could
      if (!match_path(elems[n], dirs[n])) {
        could = false;
        break;
      }
    }
    // Pattern elements left over (or a "**") can name something below dir;
    // a pattern that ends at or above dir brings dir itself back.
    if (could) return true;
  }
  return false;
}

}  // namespace hvrun::builder
