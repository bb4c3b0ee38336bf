// Signal names as users write them (kill -s, docker kill --signal,
// STOPSIGNAL, --stop-signal, an OCI runtime's kill).
#pragma once
#include <string>

namespace hvrun {

// "SIGTERM", "TERM", "term", "15", "SIGRTMIN+3", "RTMAX-1" -> the number.
// Throws hvrun::Error ("invalid signal \"X\"") for anything else, 0 included.
int parse_signal(const std::string& s);

// 15 -> "SIGTERM"; a real-time signal -> "SIGRTMIN+N"; else the number.
std::string signal_name(int sig);

}  // namespace hvrun
