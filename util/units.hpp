// Sizes as people read them.
#pragma once
#include <cstdint>
#include <string>

namespace hvrun {

// Decimal units with three significant digits, as Docker's CLI (go-units
// HumanSize): 512 -> "512B", 1234567 -> "1.23MB".
std::string human_size(uint64_t bytes);

}  // namespace hvrun
