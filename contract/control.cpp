#include "contract/control.hpp"

#include <climits>
#include <csignal>
#include <nlohmann/json.hpp>

#include "util/error.hpp"

namespace hvrun::contract {

namespace {
template <class... F>
struct Overload : F... {
  using F::operator()...;
};
template <class... F>
Overload(F...) -> Overload<F...>;

nlohmann::json parse_object(std::string_view line) {
  auto j = nlohmann::json::parse(line.begin(), line.end(), nullptr, /*allow_exceptions=*/false);
  return j.is_object() ? j : nlohmann::json();
}
}  // namespace

ExitEvent guest_error(const std::string& message) {
  ExitEvent e;
  e.code = kHvrunErrorStatus;
  e.error = message;
  return e;
}

std::string encode(const HostMessage& m) {
  nlohmann::json j = std::visit(Overload{
                                    [](const SignalMsg& s) { return nlohmann::json{{"signal", s.signal}}; },
                                    [](const WinsizeMsg& w) { return nlohmann::json{{"winsize", {w.rows, w.cols}}}; },
                                    [](const StdinEofMsg&) { return nlohmann::json{{"stdin_eof", true}}; },
                                    [](const FreezeMsg& f) { return nlohmann::json{{"freeze", f.freeze}}; },
                                },
                                m);
  return j.dump() + "\n";
}

std::string encode(const GuestEvent& e) {
  nlohmann::json j = std::visit(Overload{
                                    [](const ReadyEvent&) { return nlohmann::json{{"event", "ready"}}; },
                                    [](const ExitEvent& x) {
                                      nlohmann::json o = {
                                          {"event", "exit"}, {"code", x.code}, {"signal", x.signal}, {"oom", x.oom}};
                                      if (!x.error.empty()) o["error"] = x.error;
                                      return o;
                                    },
                                    [](const FrozenEvent& f) {
                                      nlohmann::json o = {{"event", "frozen"}, {"frozen", f.frozen}};
                                      if (!f.error.empty()) o["error"] = f.error;
                                      return o;
                                    },
                                },
                                e);
  // dump() escapes control characters: the line holds no raw newline.
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

std::optional<HostMessage> decode_host_message(std::string_view line, std::string* why) {
  auto fail = [&](const std::string& w) -> std::optional<HostMessage> {
    if (why) *why = w;
    return std::nullopt;
  };
  auto j = parse_object(line);
  if (j.is_null()) return fail("not a JSON object");
  if (auto it = j.find("signal"); it != j.end()) {
    if (!it->is_number_integer()) return fail("signal must be an integer");
    const auto s = it->get<long long>();
    if (s <= 0 || s >= NSIG) return fail("signal " + std::to_string(s) + " out of range");
    return SignalMsg{int(s)};
  }
  if (auto it = j.find("winsize"); it != j.end()) {
    if (!it->is_array() || it->size() != 2 || !(*it)[0].is_number_unsigned() || !(*it)[1].is_number_unsigned())
      return fail("winsize must be [rows,cols]");
    auto r = (*it)[0].get<unsigned long>(), c = (*it)[1].get<unsigned long>();
    if (r > 0xffff || c > 0xffff) return fail("winsize out of range");
    return WinsizeMsg{static_cast<unsigned short>(r), static_cast<unsigned short>(c)};
  }
  if (auto it = j.find("stdin_eof"); it != j.end() && it->is_boolean() && it->get<bool>()) return StdinEofMsg{};
  if (auto it = j.find("freeze"); it != j.end()) {
    if (!it->is_boolean()) return fail("freeze must be true or false");
    return FreezeMsg{it->get<bool>()};
  }
  return fail("unknown control message");
}

std::optional<GuestEvent> decode_guest_event(std::string_view line, std::string* why) {
  auto fail = [&](const std::string& w) -> std::optional<GuestEvent> {
    if (why) *why = w;
    return std::nullopt;
  };
  auto j = parse_object(line);
  if (j.is_null()) return fail("not a JSON object");
  auto ev = j.find("event");
  if (ev == j.end() || !ev->is_string()) return fail("no event name");
  const std::string name = ev->get<std::string>();
  if (name == "ready") return ReadyEvent{};
  if (name == "frozen") {
    auto f = j.find("frozen");
    if (f == j.end() || !f->is_boolean()) return fail("frozen event without a boolean \"frozen\"");
    auto e = j.find("error");
    if (e != j.end() && !e->is_string()) return fail("frozen event: error must be a string");
    return FrozenEvent{f->get<bool>(), e == j.end() ? std::string() : e->get<std::string>()};
  }
  if (name != "exit") return fail("unknown event '" + name + "'");
  // code and signal are integers that fit an int: nlohmann's conversion of
  // a float out of range (1e30) is undefined behaviour, and a larger
  // integer would wrap (tests/fuzz/guest_spec under UBSan shows the first).
  for (const char* key : {"code", "signal"}) {
    auto it = j.find(key);
    if (it == j.end()) continue;
    const bool fits = it->is_number_unsigned() ? it->get<unsigned long long>() <= INT_MAX
                      : it->is_number_integer() && it->get<long long>() >= INT_MIN && it->get<long long>() <= INT_MAX;
    if (!fits)
      return fail(std::string("malformed exit event: ") + key + " must be an integer, not " + it->dump());
  }
  try {
    // A field that is missing reads as an error status: the guest said it
    // ended but not how.
    ExitEvent x;
    x.code = j.value("code", kHvrunErrorStatus);
    x.signal = j.value("signal", 0);
    x.oom = j.value("oom", false);
    x.error = j.value("error", "");
    return x;
  } catch (const nlohmann::json::exception& e) {
    return fail(std::string("malformed exit event: ") + e.what());
  }
}

void LineBuffer::append(std::string_view bytes) { buf_.append(bytes); }

std::optional<std::string> LineBuffer::next() {
  for (;;) {
    const size_t nl = buf_.find('\n');
    if (nl == std::string::npos) {
      if (buf_.size() > kMaxLine) {  // the rest of this line goes unread
        buf_.clear();
        skipping_ = true;
      }
      return std::nullopt;
    }
    std::string line = buf_.substr(0, nl);
    buf_.erase(0, nl + 1);
    if (skipping_ || line.size() > kMaxLine) {
      skipping_ = false;
      continue;
    }
    return line;
  }
}

}  // namespace hvrun::contract
