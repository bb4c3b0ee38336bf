// util/log: level parsing, the level check before a message is built, the
// line format, the level from the environment.
#include "util/log.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <regex>
#include <string>

namespace hvrun::log {
namespace {

// Restores the process-wide level (and HVRUN_LOG_LEVEL) after each case.
class Log : public ::testing::Test {
 protected:
  void SetUp() override { saved_ = level(); }
  void TearDown() override {
    set_level(saved_);
    ::unsetenv(kEnvVar);
    set_program("hvrun");
  }
  Level saved_ = Level::warn;
};

// Everything written to fd 2 while `f` runs.
template <typename F>
std::string capture_stderr(F f) {
  ::fflush(stderr);
  int saved = ::dup(2);
  FILE* sink = std::tmpfile();
  ::dup2(::fileno(sink), 2);
  f();
  ::fflush(stderr);
  ::dup2(saved, 2);
  ::close(saved);
  std::string out;
  std::rewind(sink);
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, sink)) > 0) out.append(buf, n);
  std::fclose(sink);
  return out;
}

TEST_F(Log, ParseLevelAcceptsTheFourLevelsInAnyCaseAndNothingElse) {
  EXPECT_EQ(parse_level("debug"), Level::debug);
  EXPECT_EQ(parse_level("INFO"), Level::info);
  EXPECT_EQ(parse_level("warn"), Level::warn);
  EXPECT_EQ(parse_level("Warning"), Level::warn);
  EXPECT_EQ(parse_level("error"), Level::error);
  for (const char* bad : {"", "bogus", "debug ", "trace", "0", "warn=1"})
    EXPECT_FALSE(parse_level(bad).has_value()) << '"' << bad << '"';
  for (Level l : {Level::debug, Level::info, Level::warn, Level::error}) EXPECT_EQ(parse_level(level_name(l)), l);
  EXPECT_NE(bad_level_message("bogus").find("\"bogus\""), std::string::npos);
}

TEST_F(Log, ALevelBelowTheSettingIsOffAndItsMessageIsNotEvenBuilt) {
  int built = 0;
  auto costly = [&] {
    ++built;
    return std::string("x");
  };
  set_level(Level::warn);
  EXPECT_FALSE(enabled(Level::debug));
  EXPECT_FALSE(enabled(Level::info));
  EXPECT_TRUE(enabled(Level::warn));
  EXPECT_TRUE(enabled(Level::error));
  HVRUN_DEBUG("test", costly());
  HVRUN_INFO("test", costly());
  EXPECT_EQ(built, 0);
  set_level(Level::debug);
  EXPECT_TRUE(enabled(Level::debug));
  std::string out = capture_stderr([&] { HVRUN_DEBUG("test", costly()); });
  EXPECT_EQ(built, 1);
  EXPECT_NE(out.find("] debug test: x\n"), std::string::npos) << out;
}

TEST_F(Log, ALineCarriesTheTimeInMsProgramPidLevelComponentAndMessage) {
  set_program("hvrun-test");
  set_level(Level::info);
  std::string out = capture_stderr([] {
    HVRUN_INFO("engine", "record created: ", 42, " layers, ", 1.5, " s, tty ", true, ' ', std::string("end"));
    HVRUN_DEBUG("engine", "not shown");
    HVRUN_ERROR("vmm", "shown");
  });
  const std::string pid = std::to_string(::getpid());
  std::regex line1("^\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d\\.\\d{3} hvrun-test\\[" + pid +
                   "\\] info engine: record created: 42 layers, 1.5 s, tty true end\n");
  EXPECT_TRUE(std::regex_search(out, line1)) << out;
  EXPECT_EQ(out.find("not shown"), std::string::npos) << out;
  EXPECT_NE(out.find("] error vmm: shown\n"), std::string::npos) << out;
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 2) << out;
  EXPECT_EQ(ms(1234567), "1.235 ms");
}

TEST_F(Log, TheLevelFromTheEnvironmentIsTakenWhenValidAndIgnoredOtherwise) {
  set_level(Level::warn);
  ::unsetenv(kEnvVar);
  EXPECT_FALSE(level_from_env());
  ::setenv(kEnvVar, "bogus", 1);
  EXPECT_FALSE(level_from_env());
  EXPECT_EQ(level(), Level::warn);
  ::setenv(kEnvVar, "debug", 1);
  EXPECT_TRUE(level_from_env());
  EXPECT_EQ(level(), Level::debug);
  set_level(Level::error);
  export_level();
  EXPECT_STREQ(std::getenv(kEnvVar), "error");
}

}  // namespace
}  // namespace hvrun::log
