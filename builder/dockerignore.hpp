// .dockerignore (also .containerignore): which paths of the build context a
// build sees. Docker's rules: one pattern per line, # comments and blank
// lines skipped, each pattern cleaned (leading and trailing '/', "./", ".."
// resolved like filepath.Clean), Go filepath.Match syntax (* ? [a-z] [^a]
// \x) plus "**" for any number of directories; a leading '!' makes an
// exception; the last pattern that matches a path decides. A pattern that
// matches a directory excludes everything under it, unless an exception
// could match something under it.
#pragma once
#include <string>
#include <vector>

namespace hvrun::builder {

// Go filepath.Match on '/'-separated paths, plus "**" (zero or more whole
// path elements). Throws hvrun::Error on a malformed pattern ("[a").
bool match_path(const std::string& pattern, const std::string& path);

class DockerIgnore {
 public:
  DockerIgnore() = default;
  static DockerIgnore parse(const std::string& text);
  // Reads CONTEXT/.dockerignore, else CONTEXT/.containerignore, else none.
  static DockerIgnore load(const std::string& context_dir);

  // `path` relative to the context, '/'-separated, no leading "./".
  // True when the path or one of its parent directories is excluded (and
  // no later exception brings the path back).
  bool excluded(const std::string& path) const;
  // True when some exception pattern could match below directory `dir`:
  // the walker must descend into an excluded directory to find those.
  bool has_exceptions_under(const std::string& dir) const;
  bool empty() const { return patterns_.empty(); }

 private:
  struct Pattern {
    std::string glob;
    bool exception = false;
  };
  std::vector<Pattern> patterns_;
};

}  // namespace hvrun::builder
