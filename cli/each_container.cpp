// The loop the lifecycle commands share (stop, kill, rm, pause, unpause):
// cli/commands.hpp, for_each_container.
#include <cstdio>

#include "cli/commands.hpp"
#include "engine/records.hpp"
#include "util/error.hpp"

namespace hvrun::cli {

int for_each_container(const Context& ctx, const std::vector<std::string>& names,
                       const std::function<void(const engine::Records&, const std::string&)>& apply) {
  engine::Records rec(ctx.root());
  int rc = 0;
  for (const auto& n : names) {
    try {
      apply(rec, rec.resolve(n));
      std::printf("%s\n", n.c_str());
    } catch (const Error& e) {
      std::fprintf(stderr, "hvrun: %s\n", e.what());
      rc = kHvrunErrorStatus;
    }
  }
  return rc;
}

}  // namespace hvrun::cli
