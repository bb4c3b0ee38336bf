// The 9p server's fid table on its own (vmm/p9_fids.hpp): the confinement
// rules of a share without the protocol around them.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>

#include "util/fd.hpp"
#include "vmm/p9_fids.hpp"
#include "vmm/p9_wire.hpp"

using namespace hvrun;
using namespace hvrun::vmm;
namespace fs = std::filesystem;

namespace {

struct Tree {
  std::string base;
  std::string root;
  Tree() {
    char t[] = "/tmp/hvrun-p9fids-XXXXXX";
    base = ::mkdtemp(t);
    root = base + "/share";
    fs::create_directories(root + "/dir/sub");
    std::ofstream(root + "/dir/file") << "in";
    std::ofstream(base + "/secret") << "out";
    fs::create_symlink(base + "/secret", root + "/dir/escape");
    fs::create_symlink("..", root + "/dir/sub/up");
  }
  ~Tree() { fs::remove_all(base); }
  UniqueFd root_fd() const { return UniqueFd(::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC)); }
};

int err_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const p9::P9Errno& e) {
    return e.err;
  }
  return 0;
}

P9FidTable::Fid fid_at(const P9FidTable& t, const std::string& rel) {
  P9FidTable::Fid f;
  f.path = t.beneath(rel, O_PATH);
  f.rel = rel;
  return f;
}

TEST(P9FidTable, BeneathOpensOnlyBelowTheRootAndNeverThroughASymlink) {
  Tree tr;
  P9FidTable t(tr.root_fd(), false, 16, 1 << 20);
  EXPECT_TRUE(t.beneath("dir/file", O_RDONLY));
  EXPECT_TRUE(t.beneath("", O_PATH | O_DIRECTORY)) << "\"\" is the root";
  EXPECT_EQ(err_of([&] { t.beneath("..", O_PATH); }), EXDEV);
  EXPECT_EQ(err_of([&] { t.beneath("dir/../../secret", O_RDONLY); }), EXDEV);
  EXPECT_EQ(err_of([&] { t.beneath("/etc/passwd", O_RDONLY); }), EXDEV);
  EXPECT_EQ(err_of([&] { t.beneath("dir/escape", O_RDONLY); }), ELOOP);
  EXPECT_EQ(err_of([&] { t.beneath("dir/sub/up/file", O_RDONLY); }), ELOOP);
  EXPECT_EQ(err_of([&] { t.beneath("dir/missing", O_RDONLY); }), ENOENT);
}

TEST(P9FidTable, FidsAreBoundedInNumberAndPathBytes) {
  Tree tr;
  P9FidTable t(tr.root_fd(), false, 2, 12);
  EXPECT_EQ(err_of([&] { t.check_new(p9::kNoFid); }), EBADF);
  t.bind(1, fid_at(t, "dir"));
  EXPECT_EQ(err_of([&] { t.check_new(1); }), EBADF) << "bound already";
  t.bind(2, fid_at(t, "dir/file"));
  EXPECT_EQ(t.path_bytes(), 3u + 8u);
  EXPECT_EQ(err_of([&] { t.check_new(3); }), EMFILE);
  // Replacing fid 1 with a longer path passes the 12-byte budget: refused,
  // fid 1 unchanged.
  EXPECT_EQ(err_of([&] { t.bind(1, fid_at(t, "dir/sub")); }), ENFILE);
  EXPECT_EQ(t.get(1).rel, "dir");
  EXPECT_EQ(err_of([&] { t.set_rel(t.get(1), "dir/sub"); }), ENFILE);
  EXPECT_TRUE(t.drop(2));
  EXPECT_FALSE(t.drop(2));
  EXPECT_EQ(err_of([&] { t.get(2); }), EBADF);
  EXPECT_EQ(t.path_bytes(), 3u);
  t.set_rel(t.get(1), "dir/sub");
  EXPECT_EQ(t.path_bytes(), 7u);
  t.clear();
  EXPECT_EQ(t.size(), 0u);
  EXPECT_EQ(t.path_bytes(), 0u);
  EXPECT_EQ(err_of([&] { p9_join(std::string(PATH_MAX - 2, 'a'), "bc"); }), ENAMETOOLONG);
  EXPECT_EQ(p9_join("", "a"), "a");
  EXPECT_EQ(p9_join("a", "b"), "a/b");
}

TEST(P9FidTable, ARenameMovesEveryFidAtOrBelowItAndNothingElse) {
  Tree tr;
  P9FidTable t(tr.root_fd(), false, 16, 1 << 20);
  t.bind(1, fid_at(t, "dir"));
  t.bind(2, fid_at(t, "dir/sub"));
  t.bind(3, fid_at(t, "dir/file"));
  t.bind(4, fid_at(t, ""));
  fs::create_directory(tr.root + "/dirx");
  t.bind(5, fid_at(t, "dirx"));  // shares a prefix, not a parent
  const size_t before = t.path_bytes();
  t.check_move("dir", "moved");
  t.moved("dir", "moved");
  EXPECT_EQ(t.get(1).rel, "moved");
  EXPECT_EQ(t.get(2).rel, "moved/sub");
  EXPECT_EQ(t.get(3).rel, "moved/file");
  EXPECT_EQ(t.get(4).rel, "");
  EXPECT_EQ(t.get(5).rel, "dirx");
  EXPECT_EQ(t.path_bytes(), before + 3 * 2);
  // A move that would push a fid past PATH_MAX fails before anything moves.
  EXPECT_EQ(err_of([&] { t.check_move("moved", std::string(PATH_MAX - 3, 'x')); }), ENAMETOOLONG);
}

TEST(P9FidTable, ParentOfFindsTheFidsInodeOrSaysItMoved) {
  Tree tr;
  P9FidTable t(tr.root_fd(), false, 16, 1 << 20);
  t.bind(1, fid_at(t, "dir/file"));
  std::string name;
  EXPECT_TRUE(t.parent_of(t.get(1), name));
  EXPECT_EQ(name, "file");
  // Renamed on the host behind the fid's back: the path is stale.
  fs::rename(tr.root + "/dir/file", tr.root + "/dir/file2");
  std::ofstream(tr.root + "/dir/file") << "another inode";
  EXPECT_EQ(err_of([&] { t.parent_of(t.get(1), name); }), ENOENT);
  t.bind(2, fid_at(t, ""));
  EXPECT_EQ(err_of([&] { t.parent_of(t.get(2), name); }), EBUSY) << "the root has no parent in the share";
}

TEST(P9FidTable, ReopenGivesTheSameInodeForIo) {
  Tree tr;
  P9FidTable t(tr.root_fd(), true, 16, 1 << 20);
  EXPECT_TRUE(t.readonly());
  auto f = fid_at(t, "dir/file");
  struct stat st{};
  ASSERT_EQ(::fstatat(f.path.get(), "", &st, AT_EMPTY_PATH), 0);
  UniqueFd io = t.reopen(f.path.get(), st, O_RDONLY);
  char buf[8] = {};
  EXPECT_EQ(::read(io.get(), buf, sizeof buf), 2);
  EXPECT_EQ(std::string(buf), "in");
  struct stat other{};
  ASSERT_EQ(::stat((tr.base + "/secret").c_str(), &other), 0);
  EXPECT_EQ(err_of([&] { t.reopen(f.path.get(), other, O_RDONLY); }), ESTALE);
}

}  // namespace
