// Variable expansion and word processing as Docker's builder does it for
// FROM, COPY, ADD, ENV, ARG, LABEL, EXPOSE, USER, WORKDIR, VOLUME and
// STOPSIGNAL (not RUN, CMD, ENTRYPOINT: their shell does it):
//   $VAR, ${VAR}, ${VAR:-word}, ${VAR:+word} (word expanded in turn),
//   also ${VAR-word} ${VAR+word} (only unset counts), ${VAR:?msg}
//   ${VAR?msg} (error), ${VAR#pat} ${VAR##pat} ${VAR%pat} ${VAR%%pat}
//   ${VAR/pat/rep} ${VAR//pat/rep} (pat: * ? and \ escapes),
//   single quotes keep everything, double quotes keep spaces and expand,
//   the escape character (\ or `) takes the next character literally
//   (so \$ is a dollar). An unset variable is empty. Unterminated quotes
//   or ${ are errors.
#pragma once
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace hvrun::builder {

using Vars = std::map<std::string, std::string>;

// Expands and removes quotes; no splitting ("a b" stays one string).
// Throws hvrun::Error with a one-line reason on bad syntax.
std::string expand(const std::string& s, const Vars& vars, char escape = '\\');

// Splits at unquoted white space, then expands each word and removes its
// quotes: `COPY "a b" c $D/` -> {"a b", "c", "<D>/"}. As Docker's
// ProcessWords, the value of an unquoted $VAR is split at its white space
// too ("$D" in quotes stays one word), and a word that ends up empty ("")
// is dropped.
std::vector<std::string> expand_words(const std::string& s, const Vars& vars, char escape = '\\');

// ENV, LABEL and ARG arguments: `k=v k2="v 2" k3=${X}` -> pairs (keys and
// values expanded, quotes removed). ENV and LABEL also take the old form
// `ENV key the rest is the value` (one pair; `allow_legacy`). For ARG a word
// without '=' is a name without a default: value_set false.
struct KeyValue {
  std::string key;
  std::string value;
  bool value_set = true;
};
std::vector<KeyValue> parse_key_values(const std::string& s, const Vars& vars, char escape, bool allow_legacy,
                                       bool allow_bare_key);

// The words of `s` split at unquoted white space with their quotes and
// escapes kept, as Docker's parser cuts ENV/LABEL/ARG arguments before any
// expansion (the parser checks their shape with it). Never throws.
std::vector<std::string> split_quoted_words(const std::string& s, char escape = '\\');

// Names of the variables `s` refers to ($X, ${X...}, also inside quoted
// parts but not inside single quotes): which build args a step uses.
std::vector<std::string> referenced_vars(const std::string& s, char escape = '\\');

}  // namespace hvrun::builder
