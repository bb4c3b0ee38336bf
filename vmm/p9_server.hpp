// A 9P2000.L file server for one shared host directory: the protocol and
// file system half of virtio-9p, with no virtio in it (unit tests drive it
// with byte buffers).
//
// The client (a guest kernel) is hostile. Nothing it sends may reach outside
// `root` (the fid table, vmm/p9_fids.hpp, holds these rules):
//  - every fid holds an O_PATH fd and its path relative to the share root;
//  - walks go one component at a time with O_NOFOLLOW; names that are empty
//    or contain '/' or NUL are refused; ".." at the root stays at the root,
//    elsewhere it reopens the parent from the root fd with openat2
//    RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS (no trust in the fd's own "..");
//  - the server never follows a symlink: walking onto one gives a fid for
//    the link itself, Tlopen of it fails with ELOOP, and the client resolves
//    links with Treadlink;
//  - char/block device nodes are never opened or created (EPERM).
// Ownership follows QEMU's security_model=passthrough: the server runs as
// root, each fid acts as the uid from its Tattach, and new files get
// (that uid, the request's gid); a server that is not root keeps its own
// ownership on new files instead. Permission checks are the client's
// (mount -o access=client).
// Byte-range locks (Tlock/Tgetlock) are OFD locks on the host file, one open
// file description per (fid, guest process), so they conflict with host
// processes' and other VMs' locks on the same file.
// A read-only share opens files O_NOATIME (the host's atimes stay).
//
// handle() never throws: any failure is an Rlerror carrying a Linux errno.
#pragma once
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace hvrun::vmm {

class P9Server {
 public:
  // Largest msize we negotiate (the Linux client mounts with 256 KiB).
  static constexpr uint32_t kMaxMsize = 512 * 1024;
  // Smallest msize a Tversion may ask for (the Linux client's own floor).
  static constexpr uint32_t kMinMsize = 4096;
  // Default bound on the fids one session may hold at a time.
  static constexpr size_t kMaxFids = 65536;
  // Default bound on the bytes of all fids' paths together (each fid keeps
  // its path below the root): a walk, create or rename past it gets ENFILE.
  static constexpr size_t kMaxPathBytes = 16u << 20;

  // `root` must be an existing directory (else Error naming it). readonly:
  // every modifying request fails with EROFS. max_fids: fids held at once
  // (each holds an fd or two), more get EMFILE. max_path_bytes: see above.
  P9Server(const std::string& root, bool readonly, size_t max_fids = kMaxFids, size_t max_path_bytes = kMaxPathBytes);
  ~P9Server();
  P9Server(const P9Server&) = delete;
  P9Server& operator=(const P9Server&) = delete;

  // One T-message in, one R-message out (Rlerror for any failure). Never
  // throws for anything the client sends; a malformed message gets Rlerror
  // EPROTO/EINVAL (tag preserved when it could be read).
  std::vector<uint8_t> handle(std::span<const uint8_t> request);

  // Drops every fid and the negotiated msize (a device reset: a new session).
  void reset();

  // The negotiated msize (kMaxMsize before the first Tversion).
  uint32_t msize() const;
  // Fids currently held (tests check clunk/remove release them).
  size_t fid_count() const;

  // Snapshots (virtio_9p.cpp): the session (Tversion's msize) and every fid
  // by path (P9FidTable::save). restore_state() starts over from the blob
  // (a hostile one is an Error, nothing bound) and returns what could not
  // be restored, one line each (P9FidTable::restore).
  std::string save_state() const;
  std::vector<std::string> restore_state(std::string_view blob);

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace hvrun::vmm
