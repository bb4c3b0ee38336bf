// Work done in a forked child (a private mount namespace, a chroot) whose
// error comes back to the parent as its one-line message.
#pragma once
#include <functional>
#include <string>

namespace hvrun {

// Forks; the child runs fn and exits 0, or writes what fn threw down a pipe
// and exits 1. The parent waits and rethrows that message as an Error (or
// "`what` failed" when the child died without one).
void run_in_child(const std::function<void()>& fn, const std::string& what);

}  // namespace hvrun
