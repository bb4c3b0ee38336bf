// RFC 4648 base64 (standard alphabet, '=' padding): binary data in JSON
// strings (the microVM's control channel carries exec streams this way).
#pragma once
#include <optional>
#include <string>
#include <string_view>

namespace hvrun {

std::string base64_encode(std::string_view bytes);
// nullopt for anything but canonical padded base64 (a hostile peer's line).
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace hvrun
