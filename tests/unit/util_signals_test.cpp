#include "util/signals.hpp"

#include <gtest/gtest.h>

#include <csignal>

#include "util/error.hpp"

using hvrun::parse_signal;
using hvrun::signal_name;

TEST(UtilSignals, ParsesNamesWithOrWithoutSigAndNumbers) {
  EXPECT_EQ(parse_signal("TERM"), SIGTERM);
  EXPECT_EQ(parse_signal("SIGKILL"), SIGKILL);
  EXPECT_EQ(parse_signal("hup"), SIGHUP);
  EXPECT_EQ(parse_signal("sigquit"), SIGQUIT);
  EXPECT_EQ(parse_signal("10"), 10);
  EXPECT_EQ(parse_signal("SIGIOT"), SIGABRT);
}

TEST(UtilSignals, ParsesRealTimeSignalsAsDockerWritesThem) {
  EXPECT_EQ(parse_signal("SIGRTMIN"), SIGRTMIN);
  EXPECT_EQ(parse_signal("RTMIN+3"), SIGRTMIN + 3);
  EXPECT_EQ(parse_signal("SIGRTMAX-1"), SIGRTMAX - 1);
  EXPECT_EQ(parse_signal("rtmax"), SIGRTMAX);
}

TEST(UtilSignals, RefusesUnknownNamesZeroAndOutOfRange) {
  for (const char* bad : {"", "0", "NOPE", "65", "1000", "-1", "SIG", "RTMIN-1", "RTMAX+1", "RTMIN+99", "RTMIN+", "TERM "}) {
    try {
      parse_signal(bad);
      ADD_FAILURE() << "accepted \"" << bad << "\"";
    } catch (const hvrun::Error& e) {
      EXPECT_EQ(std::string(e.what()), "invalid signal \"" + std::string(bad) + "\"");
    }
  }
}

TEST(UtilSignals, NamesRoundTripThroughTheParser) {
  for (int s = 1; s <= SIGRTMAX; ++s) {
    if (s > SIGSYS && s < SIGRTMIN) continue;  // glibc's own (32, 33)
    EXPECT_EQ(parse_signal(signal_name(s)), s) << signal_name(s);
  }
  EXPECT_EQ(signal_name(SIGTERM), "SIGTERM");
  EXPECT_EQ(signal_name(SIGRTMIN + 2), "SIGRTMIN+2");
}
