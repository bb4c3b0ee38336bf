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

}  // namespace hvrun
