#include "guest-init/template.hpp"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/io.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

#include "contract/control.hpp"
#include "container/process.hpp"
#include "contract/plan.hpp"
#include "guest-init/restore.hpp"
#include "util/error.hpp"
#include "util/fd.hpp"
#include "util/log.hpp"

namespace hvrun::guestinit {

void wait_for_disk(const std::string& dev, uint64_t bytes, int timeout_ms) {
  UniqueFd fd(::open(dev.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) throw_sys("open", dev);
  uint64_t size = 0;
  for (int waited = 0;; waited += 5) {
    check_sys(::ioctl(fd.get(), BLKGETSIZE64, &size), "size of", dev);
    if (size == bytes) break;
    if (waited >= timeout_ms)
      throw Error(dev + " is " + std::to_string(size) + " bytes, not the host's " + std::to_string(bytes) +
                  " (its new capacity never reached the guest)");
    ::usleep(5000);
  }
  check_sys(::ioctl(fd.get(), BLKFLSBUF, 0), "drop the cached blocks of", dev);
}

std::string wait_as_template(int control, const std::vector<std::string>& disks) {
  // What every run would do first and is the same for all: compiling the
  // default seccomp filters (cached in /run, a tmpfs: in the template's
  // memory, so each restore finds them compiled).
  try {
    container::ProcessSetup warm;
    container::apply_security(container::RunSpec{}, warm);
  } catch (const std::exception& e) {
    HVRUN_WARN("guest-init", "template: default seccomp filters not compiled ahead: ", e.what());
  }
  if (::ioperm(contract::kTemplateReadyPort, 1, 1) < 0) throw_sys("ioperm for the template port");
  HVRUN_DEBUG("guest-init", "template VM ready: asking the VMM to save it");
  ::outb(1, contract::kTemplateReadyPort);
  // Restored (this very instruction stream, in another VM): the host talks.
  contract::LineBuffer lines;
  char buf[16384];
  for (;;) {
    while (auto line = lines.next()) {
      std::string why;
      auto msg = contract::decode_host_message(*line, &why);
      if (!msg) continue;
      if (auto* r = std::get_if<contract::RestoredMsg>(&*msg)) {
        if (std::string failed = apply_restore(*r); !failed.empty())
          HVRUN_WARN("guest-init", "after the restore: ", failed);
      } else if (auto* s = std::get_if<contract::SpecMsg>(&*msg)) {
        if (s->disk_bytes.size() != disks.size())
          throw Error("the host named " + std::to_string(s->disk_bytes.size()) + " disks, the VM has " +
                      std::to_string(disks.size()));
        for (size_t i = 0; i < disks.size(); ++i) wait_for_disk(disks[i], s->disk_bytes[i]);
        HVRUN_DEBUG("guest-init", "restored from a template: spec received, disks ready");
        return s->text;
      }
      // Anything else (a signal for a workload that does not exist yet) waits for nothing.
    }
    ssize_t n = ::read(control, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw_sys("read the control channel while waiting for the spec");
    lines.append({buf, size_t(n)});
  }
}

}  // namespace hvrun::guestinit
