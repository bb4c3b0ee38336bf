#include "registry/catalog.hpp"

#include <nlohmann/json.hpp>

#include "util/error.hpp"

namespace hvrun::registry {

using json = nlohmann::json;

std::string next_link(const std::string& h) {
  // <url>; rel="next"[, <url2>; rel="prev"]
  size_t p = 0;
  while ((p = h.find('<', p)) != std::string::npos) {
    size_t e = h.find('>', p);
    if (e == std::string::npos) return "";
    std::string url = h.substr(p + 1, e - p - 1);
    size_t end = h.find('<', e);
    std::string params = h.substr(e + 1, end == std::string::npos ? std::string::npos : end - e - 1);
    if (params.find("rel=\"next\"") != std::string::npos || params.find("rel=next") != std::string::npos) return url;
    p = e;
  }
  return "";
}

namespace {

std::vector<std::string> paged(Client& c, const std::string& first, const char* key, const std::string& what) {
  std::vector<std::string> out;
  std::string target = first;
  for (int page = 0; !target.empty(); ++page) {
    if (page > 10000) throw Error(what + ": too many pages");
    Request r;
    r.target = target;
    Response resp = c.send(r);
    if (resp.status != 200) c.fail(r, resp, what);
    json j;
    try {
      j = json::parse(resp.body);
    } catch (const json::exception& e) {
      throw Error(what + ": not JSON: " + e.what());
    }
    if (j.contains(key) && j[key].is_array())
      for (auto& v : j[key])
        if (v.is_string()) out.push_back(v);
    target = next_link(resp.header("link"));
    // Relative links are on the registry; absolute ones are taken as given.
  }
  return out;
}

}  // namespace

std::vector<std::string> list_repositories(Client& c, size_t n) {
  return paged(c, "/v2/_catalog?n=" + std::to_string(n), "repositories", c.host() + ": catalog");
}

std::vector<std::string> list_tags(Client& c, const std::string& repo, size_t n) {
  return paged(c, "/v2/" + repo + "/tags/list?n=" + std::to_string(n), "tags", c.host() + "/" + repo + ": tags");
}

}  // namespace hvrun::registry
