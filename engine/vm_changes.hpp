// A microVM's upper layer, read from its writable disk on the host.
//
// guest-init keeps the container's overlay upper directory at /upper of the
// VM's ext4 writable disk (ROOT/containers/<id>/vm-rw.ext4, guest-init/
// plan.hpp). VmUpper copies that tree out into a scratch directory beside
// the disk, in the same overlay format (0:0 whiteouts, trusted.overlay.opaque
// and other xattrs, owners, modes, mtimes, hard links), reading the file
// system with libext2fs: no loop device and no mount (the nested test host
// has no loop driver, and the host's mount table never changes). The copy
// is removed with the object.
//
// Consistency: a stopped VM's disk is final. A running guest may still hold
// writes in its page cache: engine/changes.cpp has its file system frozen
// (FIFREEZE in the guest, engine/vm_control.hpp) while this copy is made,
// or reads the disk as it is when asked to (commit --pause=false) or when
// it cannot (diff only).
#pragma once
#include <ctime>
#include <string>

namespace hvrun::engine {

class VmUpper {
 public:
  enum class Content { Data, MetadataOnly };  // MetadataOnly: regular files copied empty (diff)
  // Throws Error naming the disk when it cannot be read.
  VmUpper(const std::string& rw_disk, const std::string& scratch_parent, Content content);
  // An empty one: a microVM that never started has changed nothing.
  explicit VmUpper(const std::string& scratch_parent);
  ~VmUpper();
  VmUpper(const VmUpper&) = delete;
  VmUpper& operator=(const VmUpper&) = delete;
  const std::string& path() const { return dir_; }

 private:
  std::string dir_;
};

// Copies directory `from` (absolute, inside the ext4 image `disk`) to `to`
// (created). Exposed for tests.
void copy_out_of_ext4(const std::string& disk, const std::string& from, const std::string& to, bool with_data);

// The way back (hvrun cp into a stopped microVM): makes directory `to` (a
// top-level one, created if missing) of the ext4 image `disk` hold what
// host directory `from` holds, where `from` is a copy_out_of_ext4 copy that
// was changed after `since` (a ctime taken once the copy was made). An
// entry whose ctime is `since` or later is written anew (data, owner, mode,
// times, xattrs; hard links among them kept); an entry of the disk that
// `from` lacks is removed (sockets excepted: a copy never holds them); the
// rest is left as it is. Host overlay xattrs other than
// trusted.overlay.opaque are not written. Throws Error naming the disk,
// which may then be half written: write into a copy and keep it on success.
void write_back_to_ext4(const std::string& disk, const std::string& from, const std::string& to, const timespec& since);

}  // namespace hvrun::engine
