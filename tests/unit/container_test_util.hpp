// Helpers shared by the container_*_test.cpp files: a busybox rootfs built
// once per test binary, and running a spec to completion with its output.
#pragma once
#include <gtest/gtest.h>
#include <unistd.h>

#include <string>

#include "container/runtime.hpp"
#include "util/fs.hpp"

namespace hvrun::container::testing {

// Skips the current test unless we are root (namespaces, mounts, cgroups).
#define HVRUN_REQUIRE_ROOT()                                                              \
  do {                                                                                    \
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (namespaces, mounts and cgroups)"; \
  } while (0)

// A busybox rootfs made by scripts/make-busybox-rootfs.sh, shared by all tests.
const std::string& busybox_rootfs();
// A fresh scratch directory (removed at exit of the test binary is not needed: /tmp).
std::string scratch_dir(const std::string& tag);

RunSpec base_spec(const std::vector<std::string>& args);

struct RunResult {
  std::string out;  // stdout and stderr together
  ExitStatus status;
};
// Starts, collects output until EOF, waits, cleans the cgroup up.
RunResult run_to_end(const RunSpec& spec);
// Reads everything from fd until EOF.
std::string read_all(int fd);
// A spec running `/bin/sh -c script`, and the output of running one.
inline RunSpec sh(const std::string& script) { return base_spec({"/bin/sh", "-c", script}); }
inline std::string sh_out(const RunSpec& s) { return run_to_end(s).out; }

}  // namespace hvrun::container::testing
