// open_in_root: the safe path resolution every mount target goes through.
// Needs no privileges: it only creates files and directories.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include "container/mounts.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

namespace hvrun::container {
namespace {

struct Tree {
  std::string root, outside;
  UniqueFd rootfd;
  Tree() {
    std::string base = "/tmp/hvrun-test-mounts-" + std::to_string(::getpid()) + "-" + random_hex(4);
    root = base + "/root";
    outside = base + "/outside";
    mkdir_p(root + "/etc");
    mkdir_p(outside);
    rootfd.reset(::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  }
  ~Tree() { remove_all(root.substr(0, root.rfind('/'))); }
  std::string where(const UniqueFd& fd) const {
    char buf[4096];
    ssize_t n = ::readlink(("/proc/self/fd/" + std::to_string(fd.get())).c_str(), buf, sizeof buf - 1);
    return n < 0 ? "" : std::string(buf, size_t(n));
  }
};

TEST(ContainerMounts, DotDotCannotClimbAboveTheRoot) {
  Tree t;
  UniqueFd fd = open_in_root(t.rootfd.get(), "/../../etc", Create::No);
  ASSERT_TRUE(fd);
  EXPECT_EQ(t.where(fd), t.root + "/etc");
}

TEST(ContainerMounts, MissingDirectoriesAndFilesAreCreatedInside) {
  Tree t;
  UniqueFd d = open_in_root(t.rootfd.get(), "/a/b/c", Create::Dir);
  EXPECT_EQ(t.where(d), t.root + "/a/b/c");
  UniqueFd f = open_in_root(t.rootfd.get(), "/x/y/file", Create::File);
  struct stat st {};
  ASSERT_EQ(::stat((t.root + "/x/y/file").c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_FALSE(open_in_root(t.rootfd.get(), "/nope", Create::No));
}

TEST(ContainerMounts, SymlinksAreRefusedForRuntimeTargets) {
  Tree t;
  ASSERT_EQ(::symlink(t.outside.c_str(), (t.root + "/dev").c_str()), 0);
  ASSERT_EQ(::symlink("etc", (t.root + "/rel").c_str()), 0);
  EXPECT_THROW(open_in_root(t.rootfd.get(), "/dev", Create::Dir), Error);
  EXPECT_THROW(open_in_root(t.rootfd.get(), "/dev/null", Create::File), Error);
  EXPECT_THROW(open_in_root(t.rootfd.get(), "/rel", Create::No), Error);  // even a harmless relative one
  EXPECT_TRUE(::rmdir(t.outside.c_str()) == 0) << "something was created in the outside directory";
}

TEST(ContainerMounts, FollowInRootKeepsAbsoluteSymlinksInsideTheRoot) {
  Tree t;
  ASSERT_EQ(::symlink(t.outside.c_str(), (t.root + "/escape").c_str()), 0);
  ASSERT_EQ(::symlink("/etc", (t.root + "/etclink").c_str()), 0);
  UniqueFd e = open_in_root(t.rootfd.get(), "/etclink", Create::No, Symlinks::FollowInRoot);
  EXPECT_EQ(t.where(e), t.root + "/etc");
  UniqueFd d = open_in_root(t.rootfd.get(), "/escape/sub", Create::Dir, Symlinks::FollowInRoot);
  EXPECT_EQ(t.where(d), t.root + t.outside + "/sub");
  EXPECT_FALSE(path_exists(t.outside + "/sub"));
}

TEST(ContainerMounts, OverlayMountpointIsMergedNextToUpperdir) {
  RunSpec s;
  s.upperdir = "/var/lib/hvrun/containers/abc/upper/";
  EXPECT_EQ(overlay_mountpoint(s), "/var/lib/hvrun/containers/abc/merged");
}

}  // namespace
}  // namespace hvrun::container
