// Times as Docker shows them.
#pragma once
#include <ctime>
#include <string>

namespace hvrun {

// RFC 3339 (UTC, "2026-12-06T23:10:44.123Z") -> seconds since the epoch; 0 when unparsable.
std::time_t parse_rfc3339(const std::string& s);

// Docker's human durations (go-units' HumanDuration): "Less than a
// second", "1 second", "5 seconds", "About a minute", "3 minutes", "About
// an hour", "5 hours", "3 days", "2 weeks", "4 months", "2 years".
std::string human_duration(long seconds);

}  // namespace hvrun
