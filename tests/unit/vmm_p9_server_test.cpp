// P9Server (9P2000.L) driven with encoded messages on a temp directory:
// sessions, attach and walk, files, attributes, locks and malformed
// messages. The client is treated as hostile: malformed messages end in an
// Rlerror and leave the host untouched. The directory tree and confinement
// are in vmm_p9_tree_test.cpp and vmm_p9_confinement_test.cpp.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "tests/unit/p9_server_fixture.hpp"

using namespace hvrun::vmm;
using namespace hvrun::vmm::p9test;
namespace fs = std::filesystem;

namespace {

// --- version / attach / walk / getattr -------------------------------------

TEST_F(P9, VersionNegotiatesMsizeAndRejectsOtherVersions) {
  Reply big = call(Msg(Tversion, 0xffff).u32(64u << 20).str("9P2000.L"));
  ASSERT_EQ(big.type(), Tversion + 1);
  EXPECT_EQ(big.tag(), 0xffff);
  EXPECT_EQ(big.u32(), P9Server::kMaxMsize);
  EXPECT_EQ(big.str(), "9P2000.L");
  EXPECT_EQ(srv->msize(), P9Server::kMaxMsize);

  Reply small = call(Msg(Tversion, 0xffff).u32(8192).str("9P2000.L"));
  EXPECT_EQ(small.u32(), 8192u);
  EXPECT_EQ(srv->msize(), 8192u);

  Reply other = call(Msg(Tversion, 0xffff).u32(8192).str("9P2000.u"));
  ASSERT_EQ(other.type(), Tversion + 1);
  other.u32();
  EXPECT_EQ(other.str(), "unknown");
  // No session now: an attach is refused until a 9P2000.L Tversion.
  EXPECT_EQ(attach(1).err(), EPROTO);

  EXPECT_EQ(call(Msg(Tversion, 0xffff).u32(512).str("9P2000.L")).err(), EINVAL);
  ASSERT_EQ(call(Msg(Tversion, 0xffff).u32(262144).str("9P2000.L")).type(), Tversion + 1);
  EXPECT_EQ(srv->msize(), 262144u);
  EXPECT_EQ(attach(1).type(), Tattach + 1);
}

TEST_F(P9, TversionStartsANewSessionDroppingFids) {
  ASSERT_EQ(attach(1).type(), Tattach + 1);
  walk_ok(1, 2, {});
  EXPECT_EQ(srv->fid_count(), 2u);
  call(Msg(Tversion, 0xffff).u32(262144).str("9P2000.L"));
  EXPECT_EQ(srv->fid_count(), 0u);
  EXPECT_EQ(clunk(1).err(), EBADF);
}

TEST_F(P9, AttachWalkGetattrReportHostFile) {
  ::mkdir(host("sub").c_str(), 0750);
  write_file(host("sub/hello"), "hello world");
  ::chmod(host("sub/hello").c_str(), 0604);
  Reply a = attach(1, 1000);
  ASSERT_EQ(a.type(), Tattach + 1);
  Qid rq = a.qid();
  EXPECT_EQ(rq.type, 0x80);
  EXPECT_EQ(rq.path, lstat_of(root).st_ino);

  Reply w = walk(1, 2, {"sub", "hello"});
  ASSERT_EQ(w.type(), Twalk + 1);
  ASSERT_EQ(w.u16(), 2);
  Qid q1 = w.qid(), q2 = w.qid();
  EXPECT_EQ(q1.type, 0x80);
  EXPECT_EQ(q1.path, lstat_of(host("sub")).st_ino);
  EXPECT_EQ(q2.type, 0);
  EXPECT_EQ(q2.path, lstat_of(host("sub/hello")).st_ino);

  Attr at = getattr(2);
  EXPECT_EQ(at.mode, S_IFREG | 0604u);
  EXPECT_EQ(at.size, 11u);
  EXPECT_EQ(at.qid.path, q2.path);
  EXPECT_EQ(at.nlink, 1u);
  EXPECT_EQ(getattr(1).mode & S_IFMT, static_cast<uint32_t>(S_IFDIR));
}

TEST_F(P9, WalkWithNoNamesClonesAndPartialWalkBindsNothing) {
  ::mkdir(host("a").c_str(), 0755);
  ASSERT_EQ(attach(1).type(), Tattach + 1);
  Reply c = walk(1, 2, {});
  ASSERT_EQ(c.type(), Twalk + 1);
  EXPECT_EQ(c.u16(), 0);
  EXPECT_EQ(getattr(2).qid.path, lstat_of(root).st_ino);

  Reply p = walk(1, 3, {"a", "missing", "x"});
  ASSERT_EQ(p.type(), Twalk + 1);
  EXPECT_EQ(p.u16(), 1);  // "a" walked, "missing" ended it
  EXPECT_EQ(clunk(3).err(), EBADF);
  EXPECT_EQ(walk(1, 3, {"missing"}).err(), ENOENT);
  EXPECT_EQ(clunk(3).err(), EBADF);

  // newfid == fid with names: the fid moves.
  walk_ok(2, 2, {"a"});
  EXPECT_EQ(getattr(2).qid.path, lstat_of(host("a")).st_ino);
}

// --- create / write / read -------------------------------------------------

TEST_F(P9, LcreateWriteReadBackOwnedByAttachUidAndRequestGid) {
  ASSERT_EQ(attach(1, 1234).type(), Tattach + 1);
  walk_ok(1, 2, {});
  Reply c = lcreate(2, "new.txt", kRdwr, 0640, 4321);
  ASSERT_EQ(c.type(), Tlcreate + 1) << c.err();
  Qid q = c.qid();
  EXPECT_EQ(c.u32(), 0u);  // iounit
  Reply w = write(2, 0, "first line\n");
  ASSERT_EQ(w.type(), Twrite + 1);
  EXPECT_EQ(w.u32(), 11u);
  EXPECT_EQ(write(2, 11, "second\n").type(), Twrite + 1);
  EXPECT_EQ(read(2, 0, 4096), "first line\nsecond\n");
  EXPECT_EQ(read(2, 6, 4), "line");
  EXPECT_EQ(read(2, 100, 10), "");
  ASSERT_EQ(call(Msg(Tfsync).u32(2).u32(0)).type(), Tfsync + 1);
  ASSERT_EQ(clunk(2).type(), Tclunk + 1);

  struct stat st = lstat_of(host("new.txt"));
  EXPECT_EQ(st.st_ino, q.path);
  EXPECT_EQ(st.st_uid, 1234u);
  EXPECT_EQ(st.st_gid, 4321u);
  EXPECT_EQ(st.st_mode, S_IFREG | 0640u);  // exactly the mode asked for, no umask of ours
  EXPECT_EQ(read_file(host("new.txt")), "first line\nsecond\n");

  // O_EXCL on an existing name fails; without it the file is opened as is.
  walk_ok(1, 3, {});
  EXPECT_EQ(lcreate(3, "new.txt", kRdwr | kExcl, 0600, 0).err(), EEXIST);
  ASSERT_EQ(lcreate(3, "new.txt", kWronly | kAppend, 0600, 0).type(), Tlcreate + 1);
  EXPECT_EQ(write(3, 0, "third\n").type(), Twrite + 1);  // O_APPEND: lands at the end
  EXPECT_EQ(read_file(host("new.txt")), "first line\nsecond\nthird\n");
  EXPECT_EQ(lstat_of(host("new.txt")).st_uid, 1234u);
}

TEST_F(P9, LopenTruncAndReadOnlyFidRefusesWrite) {
  write_file(host("f"), "0123456789");
  ASSERT_EQ(attach(1).type(), Tattach + 1);
  walk_ok(1, 2, {"f"});
  ASSERT_EQ(lopen(2, kRdonly).type(), Tlopen + 1);
  EXPECT_EQ(read(2, 0, 3), "012");
  EXPECT_EQ(write(2, 0, "x").err(), EBADF);  // opened O_RDONLY
  EXPECT_EQ(lopen(2, kRdonly).err(), EINVAL);  // already open
  walk_ok(1, 3, {"f"});
  ASSERT_EQ(lopen(3, kWronly | kTrunc).type(), Tlopen + 1);
  EXPECT_EQ(lstat_of(host("f")).st_size, 0);
  EXPECT_EQ(lopen(4, kRdonly).err(), EBADF);  // unknown fid
}

TEST_F(P9, TreadCountIsClampedToMsize) {
  call(Msg(Tversion, 0xffff).u32(4096).str("9P2000.L"));
  write_file(host("big"), std::string(10000, 'x'));
  ASSERT_EQ(attach(1).type(), Tattach + 1);
  walk_ok(1, 2, {"big"});
  ASSERT_EQ(lopen(2, kRdonly).type(), Tlopen + 1);
  std::vector<uint8_t> r = srv->handle(Msg(Tread).u32(2).u64(0).u32(100000).bytes());
  EXPECT_EQ(r.size(), 4096u);
  EXPECT_EQ(r[4], Tread + 1);
}

// --- setattr ---------------------------------------------------------------

TEST_F(P9, SetattrTruncatesChmodsChownsAndSetsTimes) {
  write_file(host("f"), "0123456789");
  ASSERT_EQ(attach(1).type(), Tattach + 1);
  walk_ok(1, 2, {"f"});
  ASSERT_EQ(setattr(2, 0x8, 0, 0, 0, 4).type(), Tsetattr + 1);  // size
  EXPECT_EQ(read_file(host("f")), "0123");
  ASSERT_EQ(setattr(2, 0x8, 0, 0, 0, 100).type(), Tsetattr + 1);
  EXPECT_EQ(lstat_of(host("f")).st_size, 100);
  ASSERT_EQ(setattr(2, 0x6, 0, 321, 654, 0).type(), Tsetattr + 1);  // uid+gid
  ASSERT_EQ(setattr(2, 0x1, 04751, 0, 0, 0).type(), Tsetattr + 1);  // mode
  struct stat st = lstat_of(host("f"));
  EXPECT_EQ(st.st_uid, 321u);
  EXPECT_EQ(st.st_gid, 654u);
  EXPECT_EQ(st.st_mode, S_IFREG | 04751u);
  // atime/mtime with _SET: exact values.
  ASSERT_EQ(setattr(2, 0x10 | 0x20 | 0x80 | 0x100, 0, 0, 0, 0, 1000000, 5, 2000000, 123456789).type(), Tsetattr + 1);
  st = lstat_of(host("f"));
  EXPECT_EQ(st.st_atim.tv_sec, 1000000);
  EXPECT_EQ(st.st_mtim.tv_sec, 2000000);
  EXPECT_EQ(st.st_mtim.tv_nsec, 123456789);
  Attr a = getattr(2);
  EXPECT_EQ(a.mtime, 2000000u);
  EXPECT_EQ(a.mtime_nsec, 123456789u);
  // mtime without _SET: now.
  ASSERT_EQ(setattr(2, 0x20, 0, 0, 0, 0).type(), Tsetattr + 1);
  EXPECT_GT(lstat_of(host("f")).st_mtim.tv_sec, 2000000);
  EXPECT_EQ(lstat_of(host("f")).st_atim.tv_sec, 1000000);  // untouched
  EXPECT_EQ(setattr(2, 0x10 | 0x80, 0, 0, 0, 0, 1, 2000000000).err(), EINVAL);  // nsec out of range
  walk_ok(1, 3, {});
  EXPECT_EQ(setattr(3, 0x8, 0, 0, 0, 0).err(), EISDIR);
}

// --- malformed messages ----------------------------------------------------

TEST_F(P9, MalformedMessagesGetRlerrorAndNeverCrash) {
  ASSERT_EQ(attach(1).type(), Tattach + 1);
  // Shorter than a header: no tag to echo.
  for (size_t n : {0, 1, 4, 6}) {
    std::vector<uint8_t> b(n, 0x55);
    Reply r(srv->handle(b));
    EXPECT_EQ(r.err(), EPROTO);
    EXPECT_EQ(r.tag(), 0xffff);
  }
  // size[4] not the message length.
  std::vector<uint8_t> m = Msg(Tclunk, 42).u32(1).bytes();
  m[0] += 1;
  Reply mis(srv->handle(m));
  EXPECT_EQ(mis.err(), EPROTO);
  EXPECT_EQ(mis.tag(), 42);
  // Body truncated (Tclunk without its fid).
  EXPECT_EQ(call(Msg(Tclunk, 43)).err(), EPROTO);
  EXPECT_EQ(call(Msg(Tgetattr).u32(1).u32(0)).err(), EPROTO);
  // A string length past the end.
  EXPECT_EQ(call(Msg(Twalk).u32(1).u32(2).u16(1).u16(0xffff).u8('a')).err(), EPROTO);
  EXPECT_EQ(call(Msg(Tattach).u32(9).u32(kNoFid).u16(60000)).err(), EPROTO);
  // Twalk name count beyond the count present and beyond 16.
  EXPECT_EQ(call(Msg(Twalk).u32(1).u32(2).u16(3).str("a")).err(), EPROTO);
  std::vector<std::string> seventeen(17, ".");
  EXPECT_EQ(walk(1, 2, seventeen).err(), EINVAL);
  // Twrite count larger than the data present.
  walk_ok(1, 3, {});
  EXPECT_EQ(call(Msg(Twrite).u32(3).u64(0).u32(1000).u32(0)).err(), EPROTO);
  // Unknown fids, reused newfids, a closed fid.
  EXPECT_EQ(call(Msg(Tgetattr).u32(999).u64(0)).err(), EBADF);
  EXPECT_EQ(walk(999, 4, {}).err(), EBADF);
  EXPECT_EQ(walk(1, 3, {}).err(), EBADF);   // newfid 3 in use
  EXPECT_EQ(attach(3).err(), EBADF);        // fid 3 in use
  EXPECT_EQ(walk(1, kNoFid, {}).err(), EBADF);
  EXPECT_EQ(call(Msg(Tattach).u32(5).u32(1).str("").str("").u32(0)).err(), EBADF);  // afid without Tauth
  ASSERT_EQ(clunk(3).type(), Tclunk + 1);
  EXPECT_EQ(clunk(3).err(), EBADF);
  EXPECT_EQ(call(Msg(Tread).u32(3).u64(0).u32(10)).err(), EBADF);
  walk_ok(1, 6, {});
  EXPECT_EQ(call(Msg(Tread).u32(6).u64(0).u32(10)).err(), EBADF);  // never opened
  // Bad open flags, huge offsets.
  EXPECT_EQ(lopen(6, 3).err(), EINVAL);
  // Unknown and unsupported types.
  EXPECT_EQ(call(Msg(99)).err(), EOPNOTSUPP);
  EXPECT_EQ(call(Msg(0)).err(), EOPNOTSUPP);
  EXPECT_EQ(call(Msg(255).u64(1)).err(), EOPNOTSUPP);
  EXPECT_EQ(call(Msg(Tauth).u32(7).str("u").str("").u32(0)).err(), EOPNOTSUPP);
  // A request larger than msize.
  call(Msg(Tversion, 0xffff).u32(4096).str("9P2000.L"));
  ASSERT_EQ(attach(1).type(), Tattach + 1);
  EXPECT_EQ(write(1, 0, std::string(5000, 'x')).err(), EMSGSIZE);
  // And the server still works.
  walk_ok(1, 2, {});
  EXPECT_EQ(getattr(2).qid.path, lstat_of(root).st_ino);
}

TEST_F(P9, RandomGarbageNeverCrashesTheServer) {
  ASSERT_EQ(attach(1).type(), Tattach + 1);
  walk_ok(1, 2, {});
  uint32_t seed = 12345;
  auto rnd = [&] { return seed = seed * 1103515245 + 12345; };
  const uint8_t types[] = {Tstatfs, Tlopen, Twalk, Treaddir, Tgetattr, Tsetattr, Txattrwalk, Tlock, Tgetlock, Tread, Tclunk, Tattach};
  for (int i = 0; i < 5000; ++i) {
    std::vector<uint8_t> b(7 + rnd() % 40);
    for (auto& x : b) x = static_cast<uint8_t>(rnd() >> 16);
    b[4] = types[rnd() % std::size(types)];
    if (rnd() % 2) b[7] = static_cast<uint8_t>(rnd() % 3);  // often a real fid
    for (size_t k = 8; k < 11 && k < b.size(); ++k) b[k] = 0;
    uint32_t n = static_cast<uint32_t>(b.size());
    std::memcpy(b.data(), &n, 4);
    std::vector<uint8_t> r = srv->handle(b);
    ASSERT_GE(r.size(), 7u);
    uint32_t rn;
    std::memcpy(&rn, r.data(), 4);
    ASSERT_EQ(rn, r.size());
  }
  // Still serving (the garbage may have clunked fid 1: a fresh session).
  ASSERT_EQ(call(Msg(Tversion, 0xffff).u32(262144).str("9P2000.L")).type(), Tversion + 1);
  ASSERT_EQ(attach(1).type(), Tattach + 1);
  walk_ok(1, 100, {});
  EXPECT_EQ(getattr(100).qid.path, lstat_of(root).st_ino);
}

TEST_F(P9, FidsAreBoundedAndTheNextOneFailsWithEmfile) {
  constexpr size_t kMax = 300;
  srv = std::make_unique<P9Server>(root, false, kMax);
  ASSERT_EQ(call(Msg(Tversion, 0xffff).u32(262144).str("9P2000.L")).type(), Tversion + 1);
  ASSERT_EQ(attach(1).type(), Tattach + 1);
  uint32_t id = 2;
  int err = 0;
  for (; id < kMax + 10; ++id) {
    Reply r = walk(1, id, {});
    if (r.type() != Twalk + 1) {
      err = r.err();
      break;
    }
  }
  EXPECT_EQ(err, EMFILE);
  EXPECT_EQ(srv->fid_count(), kMax);
  EXPECT_EQ(attach(id).err(), EMFILE);
  EXPECT_EQ(call(Msg(Txattrwalk).u32(1).u32(id).str("")).err(), EMFILE);
  walk_ok(1, 1, {});  // rebinding an existing fid needs no new slot
  ASSERT_EQ(clunk(2).type(), Tclunk + 1);  // a clunk frees a slot
  walk_ok(1, id, {});
  EXPECT_EQ(P9Server::kMaxFids, 65536u);  // the default
}

TEST_F(P9, XattrLockAndFlushAnswersTheClientCopesWith) {
  ASSERT_EQ(attach(1).type(), Tattach + 1);
  write_file(host("f"), "");
  walk_ok(1, 2, {"f"});
  Reply list = call(Msg(Txattrwalk).u32(2).u32(3).str(""));
  ASSERT_EQ(list.type(), Txattrwalk + 1);
  EXPECT_EQ(list.u64(), 0u);
  EXPECT_EQ(read(3, 0, 100), "");
  ASSERT_EQ(clunk(3).type(), Tclunk + 1);
  EXPECT_EQ(call(Msg(Txattrwalk).u32(2).u32(3).str("user.x")).err(), ENODATA);
  EXPECT_EQ(clunk(3).err(), EBADF);
  EXPECT_EQ(call(Msg(Txattrcreate).u32(2).str("user.x").u64(1).u32(0)).err(), EOPNOTSUPP);

  // Locks need an open fid.
  EXPECT_EQ(call(Msg(Tlock).u32(2).u8(1).u32(0).u64(0).u64(0).u32(77).str("host")).err(), EBADF);

  Reply fl = call(Msg(Tflush, 9).u16(3));
  EXPECT_EQ(fl.type(), Tflush + 1);
  EXPECT_EQ(fl.tag(), 9);
}

TEST_F(P9, LocksAreRealAndConflictWithHostProcessesAndOtherFids) {
  write_file(host("db"), "0123456789");
  ASSERT_EQ(attach(1).type(), Tattach + 1);
  walk_ok(1, 2, {"db"});
  ASSERT_EQ(lopen(2, kRdwr).type(), Tlopen + 1);
  walk_ok(1, 3, {"db"});
  ASSERT_EQ(lopen(3, kRdwr).type(), Tlopen + 1);
  auto lock = [&](uint32_t fid, uint8_t type, uint64_t start, uint64_t len) {
    Reply r = call(Msg(Tlock).u32(fid).u8(type).u32(1).u64(start).u64(len).u32(42).str("guest"));
    EXPECT_EQ(r.type(), Tlock + 1) << r.err();
    return r.u8();  // 0 SUCCESS, 1 BLOCKED, 2 ERROR
  };
  EXPECT_EQ(lock(2, 1, 0, 5), 0) << "write lock on bytes 0-4";
  EXPECT_EQ(lock(3, 1, 2, 1), 1) << "another open file may not take byte 2";
  EXPECT_EQ(lock(3, 1, 5, 0), 0) << "bytes 5.. are free";
  // Tgetlock reports the conflicting lock.
  Reply gl = call(Msg(Tgetlock).u32(3).u8(0).u64(0).u64(1).u32(42).str("guest"));
  ASSERT_EQ(gl.type(), Tgetlock + 1) << gl.err();
  EXPECT_EQ(gl.u8(), 1);  // WRLCK
  EXPECT_EQ(gl.u64(), 0u);
  EXPECT_EQ(gl.u64(), 5u);
  // A host process sees the guest's lock (and the other way round).
  hvrun::UniqueFd hostfd(::open(host("db").c_str(), O_RDWR | O_CLOEXEC));
  ASSERT_TRUE(hostfd);
  struct flock fl{};
  fl.l_type = F_WRLCK;
  fl.l_whence = SEEK_SET;
  fl.l_start = 1;
  fl.l_len = 1;
  EXPECT_EQ(::fcntl(hostfd.get(), F_OFD_GETLK, &fl), 0);
  EXPECT_EQ(fl.l_type, F_WRLCK) << "the host sees the guest's lock";
  EXPECT_EQ(lock(2, 2, 0, 5), 0) << "unlock";
  fl = {};
  fl.l_type = F_WRLCK;
  fl.l_whence = SEEK_SET;
  fl.l_start = 0;
  fl.l_len = 2;
  ASSERT_EQ(::fcntl(hostfd.get(), F_OFD_SETLK, &fl), 0) << "bytes 0-1 are free again";
  EXPECT_EQ(lock(2, 0, 0, 1), 1) << "the host's lock blocks the guest";
  // A bad type or a range past off_t is an ERROR status, not a crash.
  EXPECT_EQ(lock(2, 9, 0, 1), 2);
  EXPECT_EQ(lock(2, 1, ~0ull, 2), 2);
  // Clunking the fid drops its locks.
  ASSERT_EQ(clunk(3).type(), Tclunk + 1);
  fl = {};
  fl.l_type = F_WRLCK;
  fl.l_whence = SEEK_SET;
  fl.l_start = 6;
  fl.l_len = 1;
  EXPECT_EQ(::fcntl(hostfd.get(), F_OFD_SETLK, &fl), 0) << "fid 3's lock went with it";
}

TEST_F(P9, LocksBelongToTheGuestProcessNotToTheSharedOpenFile) {
  write_file(host("db"), "0123456789");
  ASSERT_EQ(attach(1).type(), Tattach + 1);
  walk_ok(1, 2, {"db"});
  ASSERT_EQ(lopen(2, kRdwr).type(), Tlopen + 1);
  auto lock = [&](uint32_t proc, uint8_t type, uint64_t start, uint64_t len) {
    Reply r = call(Msg(Tlock).u32(2).u8(type).u32(0).u64(start).u64(len).u32(proc).str("guest"));
    EXPECT_EQ(r.type(), Tlock + 1) << r.err();
    return r.u8();  // 0 SUCCESS, 1 BLOCKED
  };
  hvrun::UniqueFd hostfd(::open(host("db").c_str(), O_RDWR | O_CLOEXEC));
  ASSERT_TRUE(hostfd);
  auto host_can_lock = [&] {
    struct flock fl{};
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    fl.l_start = 0;
    fl.l_len = 5;
    EXPECT_EQ(::fcntl(hostfd.get(), F_OFD_GETLK, &fl), 0);
    return fl.l_type == F_UNLCK;
  };
  // Process 100 locks through the fid it shares with its child, 101.
  EXPECT_EQ(lock(100, 1, 0, 5), 0);
  EXPECT_EQ(lock(100, 1, 2, 2), 0) << "a process does not conflict with itself";
  // The child exits: its close sends a whole-file unlock for its own pid.
  EXPECT_EQ(lock(101, 2, 0, 0), 0);
  EXPECT_FALSE(host_can_lock()) << "the parent's lock must survive its child's close";
  EXPECT_EQ(lock(101, 1, 0, 1), 1) << "another process conflicts with it";
  // The parent's own close releases it.
  EXPECT_EQ(lock(100, 2, 0, 0), 0);
  EXPECT_TRUE(host_can_lock());
}

TEST(P9Server, ConstructorRejectsMissingRootAndNonDirectory) {
  TempDir d;
  write_file(d.path + "/file", "");
  EXPECT_THROW(P9Server(d.path + "/missing", false), hvrun::Error);
  try {
    P9Server s(d.path + "/file", false);
    ADD_FAILURE() << "a file was accepted as a share";
  } catch (const hvrun::Error& e) {
    EXPECT_NE(std::string(e.what()).find(d.path + "/file"), std::string::npos) << e.what();
  }
}

}  // namespace
