// Registry browsing: the catalog (/v2/_catalog) and a repository's tags
// (/v2/<name>/tags/list), following the Link: <...>; rel="next" pages.
#pragma once
#include <string>
#include <vector>

#include "registry/client.hpp"

namespace hvrun::registry {

std::vector<std::string> list_repositories(Client& c, size_t page_size = 100);
std::vector<std::string> list_tags(Client& c, const std::string& repo, size_t page_size = 100);
// The target of a Link header's rel="next" entry ("" when none).
std::string next_link(const std::string& link_header);

}  // namespace hvrun::registry
