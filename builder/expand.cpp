// Docker's shell-word processing (buildkit frontend/dockerfile/shell):
// one pass over the text that expands $ forms, removes quotes and escapes,
// and at the same time cuts words at unquoted white space.
#include "builder/expand.hpp"

#include <optional>
#include <set>

#include "util/error.hpp"

namespace hvrun::builder {
namespace {

constexpr int kEof = -1;

bool is_space(int c) { return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'; }
bool is_digit(int c) { return c >= '0' && c <= '9'; }
// Bytes of UTF-8 sequences count as letters: Go's unicode.IsLetter, roughly.
bool is_name_char(int c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '_' || c >= 0x80;
}
bool is_special_param(int c) {
  return c == '@' || c == '*' || c == '#' || c == '?' || c == '-' || c == '$' || c == '!' || c == '0';
}

// The words being cut while expanding. Text from $ expansions and plain
// characters split at white space; quoted and escaped text never does.
struct Words {
  std::string word;
  std::vector<std::string> words;
  bool in_word = false;

  void add_char(char c) {
    if (is_space(static_cast<unsigned char>(c))) {
      if (in_word && !word.empty()) {
        words.push_back(std::move(word));
        word.clear();
        in_word = false;
      }
    } else {
      add_raw(c);
    }
  }
  void add_raw(char c) {
    word += c;
    in_word = true;
  }
  void add_string(const std::string& s) {
    for (char c : s) add_char(c);
  }
  void add_raw_string(const std::string& s) {
    word += s;
    in_word = true;
  }
  std::vector<std::string> take() {
    if (!word.empty()) words.push_back(std::move(word));
    word.clear();
    return std::move(words);
  }
};

// A shell pattern of ${VAR#pat}, ${VAR%pat} and ${VAR/pat/rep}: * any run,
// ? one character, \ quotes the next (\} and \/ only protect the brace or
// slash from ending the pattern).
struct ShellPattern {
  enum Kind { kLiteral, kStar, kOne };
  struct Item {
    Kind kind;
    char c;
  };
  std::vector<Item> items;

  explicit ShellPattern(const std::string& p) {
    for (size_t i = 0; i < p.size(); ++i) {
      char c = p[i];
      if (c == '*') {
        items.push_back({kStar, 0});
      } else if (c == '?') {
        items.push_back({kOne, 0});
      } else if (c == '\\') {
        if (i + 1 < p.size() && (p[i + 1] == '}' || p[i + 1] == '/')) continue;
        if (i + 1 >= p.size() || (p[i + 1] != '*' && p[i + 1] != '?' && p[i + 1] != '\\'))
          throw Error("invalid pattern (" + p + ") in substitution: invalid escape");
        items.push_back({kLiteral, p[++i]});
      } else {
        items.push_back({kLiteral, c});
      }
    }
  }

  // Whether the whole of s matches. Greedy with one backtrack point (the
  // last star), as glob matchers do: O(|s| * |pattern|), where trying every
  // split at every star was exponential in the number of stars.
  bool matches(std::string_view s) const {
    size_t si = 0, pi = 0, star = std::string_view::npos, mark = 0;
    while (si < s.size()) {
      if (pi < items.size() && items[pi].kind == kStar) {
        star = pi++;
        mark = si;
      } else if (pi < items.size() && (items[pi].kind == kOne || items[pi].c == s[si])) {
        ++si;
        ++pi;
      } else if (star != std::string_view::npos) {
        pi = star + 1;  // the last star takes one more character
        si = ++mark;
      } else {
        return false;
      }
    }
    while (pi < items.size() && items[pi].kind == kStar) ++pi;
    return pi == items.size();
  }
};

class Lexer {
 public:
  Lexer(const std::string& s, const Vars& vars, char escape) : s_(s), vars_(vars), escape_(escape) {}

  struct Result {
    std::string text;
    std::vector<std::string> words;
  };

  Result run() {
    try {
      return until(kEof, false);
    } catch (const Error& e) {
      throw Error("failed to process \"" + s_ + "\": " + e.what());
    }
  }

 private:
  int peek() const { return pos_ < s_.size() ? static_cast<unsigned char>(s_[pos_]) : kEof; }
  int next() { return pos_ < s_.size() ? static_cast<unsigned char>(s_[pos_++]) : kEof; }

  // Processes up to `stop` (consumed) or the end. raw_escapes keeps the
  // escape characters, for patterns that do their own escaping.
  Result until(int stop, bool raw_escapes) {
    std::string out;
    Words words;
    while (peek() != kEof) {
      int c = peek();
      if (stop != kEof && c == stop) {
        next();
        return {out, words.take()};
      }
      if (c == '$') {
        std::string v = dollar();
        out += v;
        words.add_string(v);  // an unquoted expansion splits
      } else if (c == '\'') {
        std::string v = single_quoted();
        out += v;
        words.add_raw_string(v);
      } else if (c == '"') {
        std::string v = double_quoted(raw_escapes);
        out += v;
        words.add_raw_string(v);
      } else {
        next();
        if (c == escape_) {
          if (raw_escapes) {
            words.add_raw(char(c));
            out += char(c);
          }
          c = next();
          if (c == kEof) break;  // a trailing escape is dropped
          words.add_raw(char(c));
        } else {
          words.add_char(char(c));
        }
        out += char(c);
      }
    }
    if (stop != kEof)
      throw Error(std::string("unexpected end of statement while looking for matching ") + char(stop));
    return {out, words.take()};
  }

  std::string single_quoted() {
    next();
    std::string out;
    for (;;) {
      int c = next();
      if (c == kEof) throw Error("unexpected end of statement while looking for matching single-quote");
      if (c == '\'') return out;
      out += char(c);
    }
  }

  // Inside double quotes the escape character only escapes " $ and itself.
  std::string double_quoted(bool raw_escapes) {
    next();
    std::string out;
    for (;;) {
      int c = peek();
      if (c == kEof) throw Error("unexpected end of statement while looking for matching double-quote");
      if (c == '"') {
        next();
        return out;
      }
      if (c == '$') {
        out += dollar();
        continue;
      }
      c = next();
      if (c == escape_) {
        if (raw_escapes) out += char(c);
        int n = peek();
        if (n == kEof) continue;
        if (n == '"' || n == '$' || n == escape_) c = next();
      }
      out += char(c);
    }
  }

  std::string name() {
    std::string n;
    if (is_digit(peek())) {
      while (is_digit(peek())) n += char(next());
      return n;
    }
    if (is_special_param(peek())) return std::string(1, char(next()));
    while (peek() != kEof && is_name_char(peek())) n += char(next());
    return n;
  }

  std::optional<std::string> lookup(const std::string& n) const {
    auto it = vars_.find(n);
    if (it == vars_.end()) return std::nullopt;
    return it->second;
  }

  std::string dollar() {
    next();
    if (peek() != '{') {
      std::string n = name();
      if (n.empty()) return "$";
      return lookup(n).value_or("");
    }
    next();
    int c = peek();
    if (c == kEof) throw Error("syntax error: missing '}'");
    if (c == '{' || c == '}' || c == ':') throw Error("syntax error: bad substitution");
    std::string n = name();
    c = next();
    if (c == kEof) throw Error("syntax error: missing '}'");
    if (c == '}') return lookup(n).value_or("");
    if (c == '/') return replace(n);

    std::string op(1, char(c));
    bool null_is_unset = false;
    if (c == ':') {
      null_is_unset = true;
      c = next();
      if (c == kEof) throw Error("syntax error: missing '}'");
      op += char(c);
    } else if (c != '+' && c != '-' && c != '?' && c != '#' && c != '%') {
      throw Error("unsupported modifier (" + op + ") in substitution");
    }
    std::string word = word_until('}', c == '#' || c == '%');

    auto value = lookup(n);
    bool unset = !value || (null_is_unset && value->empty());
    switch (c) {
      case '-':
        return unset ? word : *value;
      case '+':
        return unset ? "" : word;
      case '?':
        if (unset) {
          std::string why = !value ? "is not allowed to be unset" : "is not allowed to be empty";
          throw Error(n + ": " + (word.empty() ? why : word));
        }
        return *value;
      case '#':
      case '%': {
        bool greedy = !word.empty() && word[0] == char(c);
        if (greedy) word.erase(0, 1);
        return trim(value.value_or(""), ShellPattern(word), c == '#', greedy);
      }
      default:
        throw Error("unsupported modifier (" + op + ") in substitution");
    }
  }

  // The word of ${VAR<op>word}: missing '}' reads better than "matching }".
  std::string word_until(int stop, bool raw_escapes) {
    try {
      return until(stop, raw_escapes).text;
    } catch (const Error&) {
      if (peek() == kEof) throw Error(std::string("syntax error: missing '") + char(stop) + "' in ${}");
      throw;
    }
  }

  // ${VAR#pat} (prefix) and ${VAR%pat} (suffix), shortest match or longest.
  static std::string trim(const std::string& v, const ShellPattern& p, bool prefix, bool greedy) {
    for (size_t i = 0; i <= v.size(); ++i) {
      size_t len = greedy ? v.size() - i : i;
      std::string_view part = prefix ? std::string_view(v).substr(0, len) : std::string_view(v).substr(v.size() - len);
      if (p.matches(part)) return prefix ? v.substr(len) : v.substr(0, v.size() - len);
    }
    return v;
  }

  // ${VAR/pat/rep} (first match) and ${VAR//pat/rep} (all): leftmost, longest.
  std::string replace(const std::string& n) {
    bool all = peek() == '/';
    if (all) next();
    std::string pat = word_until('/', true);
    std::string rep = word_until('}', true);
    std::string v = lookup(n).value_or("");
    ShellPattern p(pat);
    std::string out;
    size_t i = 0;
    bool done = false;
    while (i <= v.size()) {
      size_t len = std::string::npos;
      if (!done)
        for (size_t l = v.size() - i + 1; l-- > 0;)
          if (p.matches(std::string_view(v).substr(i, l))) {
            len = l;
            break;
          }
      if (len == std::string::npos) {
        if (i < v.size()) out += v[i];
        ++i;
        continue;
      }
      out += rep;
      done = !all;
      if (len == 0) {  // an empty match: keep the character and move on
        if (i < v.size()) out += v[i];
        ++i;
      } else {
        i += len;
      }
    }
    return out;
  }

  const std::string& s_;
  const Vars& vars_;
  int escape_;
  size_t pos_ = 0;
};

bool has_eq(const std::string& w) { return w.find('=') != std::string::npos; }

}  // namespace

std::string expand(const std::string& s, const Vars& vars, char escape) {
  return Lexer(s, vars, escape).run().text;
}

std::vector<std::string> expand_words(const std::string& s, const Vars& vars, char escape) {
  return Lexer(s, vars, escape).run().words;
}

std::vector<std::string> split_quoted_words(const std::string& s, char escape) {
  std::vector<std::string> words;
  std::string word;
  bool in_word = false;
  char quote = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (quote) {
      // Single quotes escape nothing; in double quotes the escape keeps
      // the quote from ending them.
      if (c == escape && quote != '\'') {
        if (i + 1 == s.size()) break;  // a trailing escape is dropped
        word += c;
        word += s[++i];
        continue;
      }
      if (c == quote) quote = 0;
      word += c;
      continue;
    }
    if (is_space(static_cast<unsigned char>(c))) {
      if (in_word) words.push_back(std::move(word));
      word.clear();
      in_word = false;
      continue;
    }
    in_word = true;
    if (c == '\'' || c == '"') quote = c;
    if (c == escape) {
      if (i + 1 == s.size()) break;  // a trailing escape is dropped
      word += c;
      c = s[++i];
    }
    word += c;
  }
  if (in_word) words.push_back(std::move(word));
  return words;
}

std::vector<KeyValue> parse_key_values(const std::string& s, const Vars& vars, char escape, bool allow_legacy,
                                       bool allow_bare_key) {
  std::vector<KeyValue> out;
  std::vector<std::string> words = split_quoted_words(s, escape);
  if (words.empty()) return out;

  // `ENV key the rest is the value`: a first word without '=' says so.
  if (allow_legacy && !has_eq(words[0])) {
    size_t b = s.find_first_not_of(" \t\v\f\r\n");
    size_t e = s.find_first_of(" \t\v\f\r\n", b);
    size_t v = e == std::string::npos ? e : s.find_first_not_of(" \t\v\f\r\n", e);
    if (v == std::string::npos) throw Error("\"" + words[0] + "\" needs a value: KEY=VALUE or KEY VALUE");
    size_t ve = s.find_last_not_of(" \t\v\f\r\n");
    out.push_back({expand(s.substr(b, e - b), vars, escape), expand(s.substr(v, ve + 1 - v), vars, escape), true});
    return out;
  }

  for (const std::string& w : words) {
    size_t eq = w.find('=');
    if (eq == std::string::npos && !allow_bare_key)
      throw Error("syntax error: can't find = in \"" + w + "\", must be of the form name=value");
    if (eq == 0) throw Error("syntax error: blank name in \"" + w + "\"");
    KeyValue kv;
    kv.key = expand(w.substr(0, eq), vars, escape);
    if (eq == std::string::npos)
      kv.value_set = false;
    else
      kv.value = expand(w.substr(eq + 1), vars, escape);
    out.push_back(std::move(kv));
  }
  return out;
}

std::vector<std::string> referenced_vars(const std::string& s, char escape) {
  // A lenient scan, not the lexer: RUN lines are shell scripts that the
  // lexer need not accept, and a build arg they name still counts.
  std::vector<std::string> names;
  std::set<std::string> seen;
  bool in_single = false, in_double = false;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (in_single) {
      if (c == '\'') in_single = false;
      continue;
    }
    if (c == escape) {
      ++i;
      continue;
    }
    if (c == '\'' && !in_double) {
      in_single = true;
    } else if (c == '"') {
      in_double = !in_double;
    } else if (c == '$') {
      size_t j = i + 1;
      if (j < s.size() && s[j] == '{') ++j;
      if (j >= s.size() || is_digit(static_cast<unsigned char>(s[j]))) continue;
      size_t k = j;
      while (k < s.size() && is_name_char(static_cast<unsigned char>(s[k]))) ++k;
      if (k == j) continue;
      std::string n = s.substr(j, k - j);
      if (seen.insert(n).second) names.push_back(n);
      i = k - 1;
    }
  }
  return names;
}

}  // namespace hvrun::builder
