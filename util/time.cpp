#include "util/time.hpp"

namespace hvrun {

std::time_t parse_rfc3339(const std::string& s) {
  std::tm tm{};
  if (s.size() < 19 || !strptime(s.c_str(), "%Y-%m-%dT%H:%M:%S", &tm)) return 0;
  return timegm(&tm);
}

std::string human_duration(long s) {
  if (s < 1) return "Less than a second";
  if (s == 1) return "1 second";
  if (s < 60) return std::to_string(s) + " seconds";
  const long m = s / 60;
  if (m == 1) return "About a minute";
  if (m < 60) return std::to_string(m) + " minutes";
  const long h = (s + 1800) / 3600;  // rounded, as go-units' int(d.Hours() + 0.5)
  if (h == 1) return "About an hour";
  if (h < 48) return std::to_string(h) + " hours";
  if (h < 24 * 7 * 2) return std::to_string(h / 24) + " days";
  if (h < 24 * 30 * 2) return std::to_string(h / 24 / 7) + " weeks";
  if (h < 24 * 365 * 2) return std::to_string(h / 24 / 30) + " months";
  return std::to_string(s / 3600 / 24 / 365) + " years";
}

}  // namespace hvrun
