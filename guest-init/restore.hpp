// After a snapshot restore (contract/control.hpp's RestoredMsg): the guest
// wakes with the clock it had when it was saved, and with the random state
// every other clone of that snapshot has too. guest-init sets the clock to
// the host's and mixes the host's fresh seed into the kernel's RNG, then has
// it rekeyed at once (RNDRESEEDCRNG), as Linux's vmgenid driver does on a VM
// fork, so that no two clones hand out the same "random" bytes.
#pragma once
#include <string>

#include "contract/control.hpp"

namespace hvrun::guestinit {

// Does both; "" or what failed (errno text), for guest-init's stderr.
// `random_device`: /dev/urandom (a test names another file).
std::string apply_restore(const contract::RestoredMsg& m, const std::string& random_device = "/dev/urandom");

}  // namespace hvrun::guestinit
