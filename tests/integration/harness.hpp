// Helpers for integration tests that drive the real hvrun binary.
#pragma once
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <string>
#include <vector>

namespace hvrun::test {

struct Result {
  int code = -1;  // exit code; 128+N when killed by signal N; -1 on timeout
  std::string out;
  std::string err;
  bool timed_out = false;
};

// Path to the hvrun binary under test ($HVRUN_BIN overrides the build's).
std::string hvrun_bin();
std::string source_dir();

// Runs argv (argv[0] looked up in PATH), feeding `input` on stdin, with a
// wall-clock limit; the whole process group is killed on timeout.
Result run(const std::vector<std::string>& argv, const std::string& input = "", int timeout_s = 60,
           const std::map<std::string, std::string>& extra_env = {});

// Runs hvrun with --root <root> prepended.
Result hvrun(const std::string& root, const std::vector<std::string>& args, const std::string& input = "",
             int timeout_s = 60);

// Runs argv in a fresh pty (as a user at a terminal would). `script` is a
// list of (wait-for-substring, then-send) steps. Returns everything read from
// the pty and the exit code.
struct PtyStep {
  std::string expect;
  std::string send;
};
Result run_in_pty(const std::vector<std::string>& argv, const std::vector<PtyStep>& script, int timeout_s = 30,
                  unsigned short rows = 24, unsigned short cols = 80);

bool is_root();
// Skips the current test with a printed reason unless running as root.
#define HVRUN_REQUIRE_ROOT()                                              \
  do {                                                                    \
    if (!::hvrun::test::is_root()) GTEST_SKIP() << "needs root (CI runs as root)"; \
  } while (0)

// A temporary directory removed (recursively, not crossing mounts) at scope end.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// A busybox rootfs directory built from Debian's busybox-static
// (/bin/busybox + one symlink per applet), made once per test binary run.
const std::string& busybox_rootfs();

// A fresh store root with busybox:latest imported (from busybox_rootfs()).
// Cleans up any containers left in it on destruction.
class StoreFixture : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;
  std::string root() const { return dir_->path(); }
  Result hv(const std::vector<std::string>& args, const std::string& input = "", int timeout_s = 60) {
    return hvrun(root(), args, input, timeout_s);
  }
  std::unique_ptr<TempDir> dir_;
};

std::string trim(const std::string& s);

}  // namespace hvrun::test
