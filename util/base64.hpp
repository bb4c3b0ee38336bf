// Binary data as text. RFC 4648 base64 (standard alphabet, '=' padding):
// binary data in JSON strings (the microVM's control channel carries exec
// streams this way). Lowercase hex: digests, ids, seeds.
#pragma once
#include <optional>
#include <string>
#include <string_view>

namespace hvrun {

std::string base64_encode(std::string_view bytes);
// nullopt for anything but canonical padded base64 (a hostile peer's line).
std::optional<std::string> base64_decode(std::string_view text);

std::string hex_encode(std::string_view bytes);
// nullopt for an odd length or anything but 0-9a-f.
std::optional<std::string> hex_decode(std::string_view text);

}  // namespace hvrun
