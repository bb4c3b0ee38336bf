// Registry credentials in docker's config.json format
// ({"auths": {"HOST": {"auth": base64("user:password")}}}), kept 0600 in
// $REGISTRY_AUTH_FILE, else $XDG_CONFIG_HOME/hvrun/auth.json, else
// $HOME/.config/hvrun/auth.json. Lookups fall back to docker's
// $HOME/.docker/config.json (read only).
#pragma once
#include <optional>
#include <string>

#include "registry/client.hpp"

namespace hvrun::registry {

std::string auth_file_path();
std::optional<Credentials> load_credentials(const std::string& host);
// Writes (0600, atomically) the entry for host; other entries are kept.
void store_credentials(const std::string& host, const Credentials& c);
// Removes the entry; false when there was none.
bool remove_credentials(const std::string& host);

std::string base64_encode(const std::string& in);
std::string base64_decode(const std::string& in);  // throws on bad input

}  // namespace hvrun::registry
