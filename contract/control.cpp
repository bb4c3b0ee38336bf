#include "contract/control.hpp"

#include <climits>
#include <csignal>
#include <nlohmann/json.hpp>

#include "util/base64.hpp"
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

// o[key] as an unsigned integer <= max; nullopt when missing or not one.
std::optional<unsigned long long> get_uint(const nlohmann::json& o, const char* key, unsigned long long max) {
  auto it = o.find(key);
  if (it == o.end() || !it->is_number_unsigned()) return std::nullopt;
  auto v = it->get<unsigned long long>();
  if (v > max) return std::nullopt;
  return v;
}

// o[key] as a string, "" when missing; nullopt when it is not a string.
std::optional<std::string> get_string(const nlohmann::json& o, const char* key) {
  auto it = o.find(key);
  if (it == o.end()) return std::string();
  if (!it->is_string()) return std::nullopt;
  return it->get<std::string>();
}

std::optional<std::vector<std::string>> get_strings(const nlohmann::json& o, const char* key) {
  auto it = o.find(key);
  if (it == o.end()) return std::vector<std::string>{};
  if (!it->is_array()) return std::nullopt;
  std::vector<std::string> v;
  for (const auto& e : *it) {
    if (!e.is_string()) return std::nullopt;
    v.push_back(e.get<std::string>());
  }
  return v;
}

constexpr unsigned long long kMaxSession = 0xffffffffULL;

// {"data":BASE64} of an exec message: at most kExecChunk bytes.
std::optional<std::string> get_data(const nlohmann::json& o) {
  auto text = get_string(o, "data");
  if (!text) return std::nullopt;
  auto bytes = base64_decode(*text);
  if (!bytes || bytes->size() > kExecChunk) return std::nullopt;
  return bytes;
}

template <class V>
std::optional<unsigned> session_of(const V& v) {
  return std::visit(
      [](const auto& m) -> std::optional<unsigned> {
        if constexpr (requires { m.id; }) return m.id;
        else return std::nullopt;
      },
      v);
}

template <class V>
void set_session_of(V& v, unsigned id) {
  std::visit(
      [id](auto& m) {
        if constexpr (requires { m.id; }) m.id = id;
      },
      v);
}
}  // namespace

std::optional<unsigned> exec_session(const HostMessage& m) { return session_of(m); }
void set_exec_session(HostMessage& m, unsigned id) { set_session_of(m, id); }
std::optional<unsigned> exec_session(const GuestEvent& e) { return session_of(e); }
void set_exec_session(GuestEvent& e, unsigned id) { set_session_of(e, id); }

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
                                    [](const ExecStartMsg& x) {
                                      nlohmann::json j{{"exec",
                                                        {{"id", x.id},
                                                         {"args", x.spec.args},
                                                         {"env", x.spec.env},
                                                         {"cwd", x.spec.cwd},
                                                         {"user", x.spec.user},
                                                         {"tty", x.spec.tty},
                                                         {"stdin", x.stdin_open},
                                                         {"rows", x.spec.tty_rows},
                                                         {"cols", x.spec.tty_cols}}}};
                                      if (!x.extract_to.empty())
                                        j["exec"]["extract"] = {{"dir", x.extract_to},
                                                                {"no_dir_swap", x.extract_no_dir_swap}};
                                      return j;
                                    },
                                    [](const ExecInputMsg& x) {
                                      return nlohmann::json{
                                          {"exec_stdin", {{"id", x.id}, {"data", base64_encode(x.data)}}}};
                                    },
                                    [](const ExecEofMsg& x) { return nlohmann::json{{"exec_eof", x.id}}; },
                                    [](const ExecSignalMsg& x) {
                                      return nlohmann::json{{"exec_signal", {{"id", x.id}, {"signal", x.signal}}}};
                                    },
                                    [](const ExecWinsizeMsg& x) {
                                      return nlohmann::json{
                                          {"exec_winsize", {{"id", x.id}, {"rows", x.rows}, {"cols", x.cols}}}};
                                    },
                                    [](const RestoredMsg& r) {
                                      nlohmann::json o{{"time_ns", r.time_ns}, {"seed", hex_encode(r.seed)}};
                                      if (r.network) o["network"] = nlohmann::json::parse(to_json(*r.network));
                                      return nlohmann::json{{"restored", std::move(o)}};
                                    },
                                    [](const SpecMsg& m) {
                                      return nlohmann::json{{"spec", {{"text", m.text}, {"disks", m.disk_bytes}}}};
                                    },
                                },
                                m);
  // Arguments and environment are the user's: not always UTF-8.
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

std::string exec_start_problem(const ExecStartMsg& m) {
  auto utf8 = [](const std::string& s) {
    try {
      (void)nlohmann::json(s).dump();
      return true;
    } catch (const nlohmann::json::exception&) {
      return false;
    }
  };
  for (const auto* list : {&m.spec.args, &m.spec.env})
    for (const auto& s : *list)
      if (!utf8(s)) return "a microVM exec takes UTF-8 arguments and environment; not UTF-8: " + nlohmann::json(s).dump(-1, ' ', true, nlohmann::json::error_handler_t::replace);
  if (!utf8(m.spec.cwd) || !utf8(m.spec.user)) return "a microVM exec takes a UTF-8 working directory and user";
  if (!utf8(m.extract_to)) return "a microVM takes a UTF-8 destination path";
  const size_t n = encode(HostMessage{m}).size();
  if (n >= LineBuffer::kMaxLine)
    return "the command and its environment are too long for a microVM exec (" + std::to_string(n) +
           " bytes of JSON; at most " + std::to_string(LineBuffer::kMaxLine) + ")";
  return "";
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
                                    [](const ExecOutputEvent& x) {
                                      return nlohmann::json{{"event", "exec_output"},
                                                            {"id", x.id},
                                                            {"fd", x.fd},
                                                            {"data", base64_encode(x.data)}};
                                    },
                                    [](const ExecReadEvent& x) {
                                      return nlohmann::json{{"event", "exec_read"}, {"id", x.id}, {"bytes", x.bytes}};
                                    },
                                    [](const ExecExitEvent& x) {
                                      nlohmann::json o = {
                                          {"event", "exec_exit"}, {"id", x.id}, {"code", x.code}, {"signal", x.signal}};
                                      if (!x.error.empty()) o["error"] = x.error;
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
  if (auto it = j.find("exec"); it != j.end()) {
    if (!it->is_object()) return fail("exec must be an object");
    const auto& o = *it;
    ExecStartMsg x;
    auto id = get_uint(o, "id", kMaxSession);
    auto args = get_strings(o, "args");
    auto env = get_strings(o, "env");
    auto cwd = get_string(o, "cwd");
    auto user = get_string(o, "user");
    auto rows = get_uint(o, "rows", 0xffff), cols = get_uint(o, "cols", 0xffff);
    if (!id) return fail("exec: id must be an unsigned integer");
    if (!args || args->empty()) return fail("exec: args must be a non-empty list of strings");
    if (!env) return fail("exec: env must be a list of strings");
    if (!cwd || !user) return fail("exec: cwd and user must be strings");
    if (!rows || !cols) return fail("exec: rows and cols must be integers up to 65535");
    auto tty = o.find("tty"), in = o.find("stdin");
    if (tty == o.end() || !tty->is_boolean() || in == o.end() || !in->is_boolean())
      return fail("exec: tty and stdin must be true or false");
    x.id = unsigned(*id);
    x.spec.args = std::move(*args);
    x.spec.env = std::move(*env);
    x.spec.cwd = std::move(*cwd);
    x.spec.user = std::move(*user);
    x.spec.tty = tty->get<bool>();
    x.spec.tty_rows = static_cast<unsigned short>(*rows);
    x.spec.tty_cols = static_cast<unsigned short>(*cols);
    x.stdin_open = in->get<bool>();
    if (auto ex = o.find("extract"); ex != o.end()) {
      auto dir = ex->is_object() ? get_string(*ex, "dir") : std::nullopt;
      auto swap = ex->is_object() ? ex->find("no_dir_swap") : o.end();
      if (!dir || dir->empty() || (*dir)[0] != '/' || swap == ex->end() || !swap->is_boolean())
        return fail("exec: extract must be {\"dir\": an absolute path, \"no_dir_swap\": true or false}");
      x.extract_to = std::move(*dir);
      x.extract_no_dir_swap = swap->get<bool>();
    }
    return x;
  }
  if (auto it = j.find("exec_stdin"); it != j.end()) {
    if (!it->is_object()) return fail("exec_stdin must be an object");
    auto id = get_uint(*it, "id", kMaxSession);
    auto data = get_data(*it);
    if (!id || !data) return fail("exec_stdin: needs an id and base64 data of at most 16 KiB");
    return ExecInputMsg{unsigned(*id), std::move(*data)};
  }
  if (auto it = j.find("exec_eof"); it != j.end()) {
    if (!it->is_number_unsigned() || it->get<unsigned long long>() > kMaxSession)
      return fail("exec_eof must be a session id");
    return ExecEofMsg{unsigned(it->get<unsigned long long>())};
  }
  if (auto it = j.find("exec_signal"); it != j.end()) {
    if (!it->is_object()) return fail("exec_signal must be an object");
    auto id = get_uint(*it, "id", kMaxSession);
    auto sig = get_uint(*it, "signal", NSIG - 1);
    if (!id || !sig || *sig == 0) return fail("exec_signal: needs an id and a signal from 1 to " + std::to_string(NSIG - 1));
    return ExecSignalMsg{unsigned(*id), int(*sig)};
  }
  if (auto it = j.find("exec_winsize"); it != j.end()) {
    if (!it->is_object()) return fail("exec_winsize must be an object");
    auto id = get_uint(*it, "id", kMaxSession);
    auto rows = get_uint(*it, "rows", 0xffff), cols = get_uint(*it, "cols", 0xffff);
    if (!id || !rows || !cols) return fail("exec_winsize: needs an id, rows and cols");
    return ExecWinsizeMsg{unsigned(*id), static_cast<unsigned short>(*rows), static_cast<unsigned short>(*cols)};
  }
  if (auto it = j.find("restored"); it != j.end()) {
    if (!it->is_object()) return fail("restored must be an object");
    auto t = it->find("time_ns");
    auto seed = get_string(*it, "seed");
    if (t == it->end() || !t->is_number_integer() || t->get<long long>() <= 0)
      return fail("restored: time_ns must be a positive integer");
    auto bytes = seed ? hex_decode(*seed) : std::nullopt;
    if (!bytes || bytes->size() != kRestoreSeedBytes)
      return fail("restored: seed must be " + std::to_string(kRestoreSeedBytes) + " bytes in hex");
    RestoredMsg r{int64_t(t->get<long long>()), std::move(*bytes), std::nullopt};
    if (auto n = it->find("network"); n != it->end()) {
      try {
        r.network = parse_guest_network(n->dump());
      } catch (const Error& e) {
        return fail(std::string("restored: network: ") + e.what());
      }
    }
    return r;
  }
  if (auto it = j.find("spec"); it != j.end()) {
    if (!it->is_object()) return fail("spec must be an object");
    auto text = get_string(*it, "text");
    if (!text || text->empty()) return fail("spec: text must be a non-empty string");
    auto d = it->find("disks");
    if (d == it->end() || !d->is_array() || d->size() > 16) return fail("spec: disks must be a list of byte sizes");
    SpecMsg m{std::move(*text), {}};
    for (const auto& b : *d) {
      if (!b.is_number_unsigned()) return fail("spec: disks must be a list of byte sizes");
      m.disk_bytes.push_back(b.get<uint64_t>());
    }
    return m;
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
  if (name == "exec_output") {
    auto id = get_uint(j, "id", kMaxSession);
    auto fd = get_uint(j, "fd", 2);
    auto data = get_data(j);
    if (!id || !fd || *fd == 0 || !data) return fail("exec_output: needs an id, fd 1 or 2 and base64 data of at most 16 KiB");
    return ExecOutputEvent{unsigned(*id), int(*fd), std::move(*data)};
  }
  if (name == "exec_read") {
    auto id = get_uint(j, "id", kMaxSession);
    auto bytes = get_uint(j, "bytes", ~0ULL);
    if (!id || !bytes) return fail("exec_read: needs an id and a byte count");
    return ExecReadEvent{unsigned(*id), uint64_t(*bytes)};
  }
  if (name == "exec_exit") {
    auto id = get_uint(j, "id", kMaxSession);
    auto code = get_uint(j, "code", 255);
    auto sig = get_uint(j, "signal", NSIG - 1);
    auto error = get_string(j, "error");
    if (!id || !code || !sig || !error) return fail("exec_exit: needs an id, a code 0-255, a signal and an optional error");
    return ExecExitEvent{unsigned(*id), int(*code), int(*sig), std::move(*error)};
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
