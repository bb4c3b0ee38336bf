#include "util/signals.hpp"

#include <csignal>
#include <cctype>
#include <cstdlib>

#include "util/error.hpp"

namespace hvrun {

namespace {

struct Named {
  const char* name;
  int number;
};

constexpr Named kNames[] = {
    {"HUP", SIGHUP},     {"INT", SIGINT},       {"QUIT", SIGQUIT},   {"ILL", SIGILL},     {"TRAP", SIGTRAP},
    {"ABRT", SIGABRT},   {"IOT", SIGIOT},       {"BUS", SIGBUS},     {"FPE", SIGFPE},     {"KILL", SIGKILL},
    {"USR1", SIGUSR1},   {"SEGV", SIGSEGV},     {"USR2", SIGUSR2},   {"PIPE", SIGPIPE},   {"ALRM", SIGALRM},
    {"TERM", SIGTERM},   {"STKFLT", SIGSTKFLT}, {"CHLD", SIGCHLD},   {"CONT", SIGCONT},   {"STOP", SIGSTOP},
    {"TSTP", SIGTSTP},   {"TTIN", SIGTTIN},     {"TTOU", SIGTTOU},   {"URG", SIGURG},     {"XCPU", SIGXCPU},
    {"XFSZ", SIGXFSZ},   {"VTALRM", SIGVTALRM}, {"PROF", SIGPROF},   {"WINCH", SIGWINCH}, {"IO", SIGIO},
    {"POLL", SIGPOLL},   {"PWR", SIGPWR},       {"SYS", SIGSYS}};

bool all_digits(const std::string& s) { return !s.empty() && s.size() <= 3 && s.find_first_not_of("0123456789") == std::string::npos; }

}  // namespace

int parse_signal(const std::string& s) {
  auto bad = [&]() -> Error { return Error("invalid signal \"" + s + "\""); };
  if (all_digits(s)) {
    int n = std::atoi(s.c_str());
    if (n >= 1 && n < NSIG) return n;
    throw bad();
  }
  std::string u;
  for (char c : s) u.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
  if (u.rfind("SIG", 0) == 0) u = u.substr(3);
  for (const auto& n : kNames)
    if (u == n.name) return n.number;
  // RTMIN, RTMIN+N, RTMAX, RTMAX-N (Docker's and kill(1)'s spelling).
  for (const char* base : {"RTMIN", "RTMAX"}) {
    const std::string b = base;
    if (u.rfind(b, 0) != 0) continue;
    const bool min = b == "RTMIN";
    const int from = min ? SIGRTMIN : SIGRTMAX;
    if (u.size() == b.size()) return from;
    const char op = u[b.size()];
    const std::string off = u.substr(b.size() + 1);
    if ((min ? op != '+' : op != '-') || !all_digits(off)) throw bad();
    const int n = min ? from + std::atoi(off.c_str()) : from - std::atoi(off.c_str());
    if (n < SIGRTMIN || n > SIGRTMAX) throw bad();
    return n;
  }
  throw bad();
}

std::string signal_name(int sig) {
  for (const auto& n : kNames)
    if (n.number == sig && std::string(n.name) != "IOT" && std::string(n.name) != "POLL") return std::string("SIG") + n.name;
  if (sig >= SIGRTMIN && sig <= SIGRTMAX)
    return sig == SIGRTMIN ? "SIGRTMIN" : "SIGRTMIN+" + std::to_string(sig - SIGRTMIN);
  return std::to_string(sig);
}

}  // namespace hvrun
