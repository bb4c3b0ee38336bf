#include "util/fd.hpp"

#include <fcntl.h>

#include "util/error.hpp"

namespace hvrun {

Pipe Pipe::make() {
  int fds[2];
  check_sys(::pipe2(fds, O_CLOEXEC), "pipe2");
  return Pipe{UniqueFd(fds[0]), UniqueFd(fds[1])};
}

}  // namespace hvrun
