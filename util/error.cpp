#include "util/error.hpp"

#include <cstring>

namespace hvrun {

void throw_sys(const std::string& what, int err) {
  throw Error(what + ": " + std::strerror(err), err);
}

void throw_sys(const std::string& what, const std::string& object, int err) {
  throw Error(what + " " + object + ": " + std::strerror(err), err);
}

}  // namespace hvrun
