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

// How many characters a UTF-8 string shows (its code points: bytes that do
// not continue a character), as Go's tabwriter counts a cell's width.
inline size_t display_width(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

// v's elements with `sep` between them ({"a", "b"} -> "a b").
inline std::string join_strings(const std::vector<std::string>& v, const std::string& sep = " ") {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? sep : "") + v[i];
  return s;
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

// Go's filepath.Clean on '/'-separated paths: "." and empty components
// dropped, ".." resolved lexically (above "/" it stays at "/"; a relative
// path keeps its leading ".."s), "" -> ".".
inline std::string clean_path(const std::string& p) {
  const bool rooted = !p.empty() && p[0] == '/';
  std::vector<std::string> parts;
  for (auto& part : path_components(p)) {
    if (part != "..") parts.push_back(part);
    else if (!parts.empty() && parts.back() != "..") parts.pop_back();
    else if (!rooted) parts.push_back(part);
  }
  std::string out = rooted ? "/" : "";
  for (size_t n = 0; n < parts.size(); ++n) out += (n ? "/" : "") + parts[n];
  return out.empty() ? "." : out;
}

}  // namespace hvrun
