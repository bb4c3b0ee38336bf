// Running hvrun from a read-only view of its own binary (CVE-2019-5736).
//
// A container's process can get hold of the binary of whichever hvrun
// started it: a workload whose program starts "#!/proc/self/exe" makes the
// kernel run that binary in the container, and an fd of /proc/self/exe
// opened there can later be reopened for writing through /proc/self/fd.
// While some hvrun process runs that very file the kernel answers ETXTBSY;
// once none does (hvrun was upgraded, the `hvrun exec` that was used is
// over) the container could overwrite the host's hvrun. So hvrun runs from
// a detached, read-only bind mount of its binary (nothing else can reach
// that mount, and a write through it fails with EROFS whatever the file's
// permissions): main() re-executes itself there first (same pid, argv,
// environment and fds).
#pragma once
#include <string>

namespace hvrun {

// Re-executes this program from a read-only detached bind mount of
// /proc/self/exe. Returns, doing nothing, when the binary already is on a
// read-only mount or when the kernel does not allow it (not root: such a
// caller cannot start containers either); the original path travels in
// $HVRUN_SELF_EXE.
void reexec_from_readonly_self(char** argv);

// The path this program was started from: /proc/self/exe, or, on the
// read-only view (whose /proc/self/exe reads "/"), $HVRUN_SELF_EXE.
// "" when neither can be read.
std::string self_exe_path();

}  // namespace hvrun
