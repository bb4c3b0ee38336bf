// Small string helpers shared by several folders.
#pragma once
#include <sstream>
#include <string>
#include <vector>

namespace hvrun {

// The words of s, split at runs of white space ("a  b\n" -> {"a", "b"}).
inline std::vector<std::string> split_words(const std::string& s) {
  std::istringstream in(s);
  std::vector<std::string> out;
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

// The components of a '/'-separated path, without empty ones and "."
// ("/a//./b/" -> {"a", "b"}); ".." is kept for the caller to judge.
inline std::vector<std::string> path_components(const std::string& p) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i <= p.size()) {
    size_t j = p.find('/', i);
    if (j == std::string::npos) j = p.size();
    std::string c = p.substr(i, j - i);
    if (!c.empty() && c != ".") out.push_back(c);
    i = j + 1;
  }
  return out;
}

}  // namespace hvrun
