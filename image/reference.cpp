#include "image/reference.hpp"

#include <algorithm>
#include <cctype>
#include <vector>

#include "image/digest.hpp"
#include "util/error.hpp"

namespace hvrun::image {

namespace {

bool lower_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

bool valid_path_component(const std::string& c) {
  // [a-z0-9]+ ((\.|_|__|-+) [a-z0-9]+)*
  if (c.empty() || !lower_alnum(c.front()) || !lower_alnum(c.back())) return false;
  for (size_t i = 0; i < c.size(); ++i) {
    char ch = c[i];
    if (lower_alnum(ch)) continue;
    if (ch == '.' || ch == '_' || ch == '-') {
      if (ch == '.' && !lower_alnum(c[i + 1])) return false;
      if (ch == '_' && !(lower_alnum(c[i + 1]) || (c[i + 1] == '_' && lower_alnum(c[i + 2])))) return false;
      if (ch == '_' && c[i + 1] == '_') ++i;
      continue;
    }
    return false;
  }
  return true;
}

bool valid_domain(const std::string& d) {
  std::string host = d, port;
  if (auto p = d.find(':'); p != std::string::npos) {
    host = d.substr(0, p);
    port = d.substr(p + 1);
    if (port.empty() || port.size() > 5 || !std::all_of(port.begin(), port.end(), ::isdigit)) return false;
  }
  if (host.empty()) return false;
  for (char c : host)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-')) return false;
  return true;
}

}  // namespace

Reference parse_reference(const std::string& ref) {
  auto bad = [&](const std::string& why) -> Error {
    return Error("invalid reference format: '" + ref + "': " + why);
  };
  if (ref.empty()) throw bad("empty name");
  if (ref.find('@') != std::string::npos) throw bad("digest references are not supported");
  std::string name = ref, tag = "latest";
  size_t colon = ref.rfind(':');
  size_t slash = ref.rfind('/');
  if (colon != std::string::npos && (slash == std::string::npos || colon > slash)) {
    name = ref.substr(0, colon);
    tag = ref.substr(colon + 1);
  }
  // The name's length, as Docker's NameTotalLengthMax, not the whole
  // reference's: a 255-character name given without a tag was accepted
  // while its normal form (":latest" added) was refused (tests/fuzz/cli_values).
  if (name.size() > 255) throw bad("name longer than 255 characters");
  if (tag.empty() || tag.size() > 128) throw bad("tag must be 1 to 128 characters");
  if (!(std::isalnum(static_cast<unsigned char>(tag[0])) || tag[0] == '_')) throw bad("tag must start with a letter, digit or '_'");
  for (char c : tag)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-'))
      throw bad("tag may only contain letters, digits, '_', '.' and '-'");
  std::vector<std::string> comps;
  size_t i = 0;
  while (true) {
    size_t j = name.find('/', i);
    comps.push_back(name.substr(i, j == std::string::npos ? std::string::npos : j - i));
    if (j == std::string::npos) break;
    i = j + 1;
  }
  for (size_t k = 0; k < comps.size(); ++k) {
    bool domain_ok = k == 0 && comps.size() > 1 &&
                     (comps[0].find_first_of(".:") != std::string::npos || comps[0] == "localhost") &&
                     valid_domain(comps[0]);
    if (domain_ok) continue;
    if (!valid_path_component(comps[k]))
      throw bad("repository name must be lowercase letters, digits and separators ('.', '_', '__', '-'), "
                "in '/'-separated parts");
  }
  // Docker Hub names in their familiar form, as `docker images` shows them:
  // docker.io/library/x, index.docker.io/library/x and library/x are x;
  // docker.io/u/x is u/x. One form everywhere (import, lookup, tag, rm), so
  // an image is found by whichever spelling it was imported or asked for.
  // The Hub's domain stays when what follows it would read as a domain of
  // its own ("docker.io/quay.io/x" is the Hub's repository quay.io/x):
  // dropped, the normal form would name another registry's image
  // (tests/fuzz/cli_values found normal forms that were not fixed points).
  auto looks_like_domain = [](const std::string& c) { return c.find_first_of(".:") != std::string::npos || c == "localhost"; };
  if (comps.size() >= 2 && (comps[0] == "docker.io" || comps[0] == "index.docker.io" ||
                            comps[0] == "registry-1.docker.io")) {
    if (comps.size() >= 3 && looks_like_domain(comps[1]))
      comps[0] = "docker.io";
    else
      comps.erase(comps.begin());
  }
  if (comps.size() == 2 && comps[0] == "library") comps.erase(comps.begin());
  if (comps.size() == 1 && is_hex64(comps[0])) throw bad("a 64-digit hex name is reserved for image ids");
  Reference r;
  r.tag = tag;
  bool has_domain = comps.size() > 1 && (comps[0].find_first_of(".:") != std::string::npos || comps[0] == "localhost");
  if (has_domain) {
    r.domain = comps[0];
    comps.erase(comps.begin());
  }
  for (const auto& c : comps) r.path += (r.path.empty() ? "" : "/") + c;
  return r;
}

std::string normalize_ref(const std::string& ref) { return parse_reference(ref).str(); }

}  // namespace hvrun::image
