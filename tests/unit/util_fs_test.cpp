// util/fs: copy_file_sparse (a snapshot's and a clone's disk copies) keeps
// a file's holes and bytes, and never clobbers or leaves half a file.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include "util/error.hpp"
#include "util/fd.hpp"
#include "tests/unit/image_test_util.hpp"
#include "util/fs.hpp"

namespace hvrun {
namespace {

class UtilFs : public ::testing::Test {
 protected:
  image::testing::Tmp tmp_;
  const std::string dir_ = tmp_.path;
};

TEST_F(UtilFs, CopyFileSparseKeepsTheBytesAndTheHolesOfASparseFile) {
  const std::string from = dir_ + "/disk", to = dir_ + "/copy";
  {
    UniqueFd fd(::open(from.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
    ASSERT_TRUE(fd);
    ASSERT_EQ(::ftruncate(fd.get(), 64 << 20), 0);
    const std::string a(1 << 20, 'a'), b(4096, 'b');
    ASSERT_EQ(::pwrite(fd.get(), a.data(), a.size(), 8 << 20), ssize_t(a.size()));
    ASSERT_EQ(::pwrite(fd.get(), b.data(), b.size(), (64 << 20) - 4096), ssize_t(b.size()));
  }
  copy_file_sparse(from, to);
  EXPECT_EQ(read_file(to), read_file(from));
  struct stat st{};
  ASSERT_EQ(::stat(to.c_str(), &st), 0);
  EXPECT_EQ(st.st_size, 64 << 20);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  // 1 MiB + 4 KiB of data: the 63 MiB of holes stay holes (some slack for
  // the file system's allocation granularity).
  EXPECT_LT(uint64_t(st.st_blocks) * 512, uint64_t(2) << 20);
}

TEST_F(UtilFs, CopyFileSparseNeverClobbersAnExistingFileAndNamesAMissingSource) {
  const std::string from = dir_ + "/a", to = dir_ + "/b";
  write_file_atomic(from, "new");
  write_file_atomic(to, "precious");
  try {
    copy_file_sparse(from, to);
    FAIL() << "an existing target was overwritten";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(to), std::string::npos) << e.what();
  }
  EXPECT_EQ(read_file(to), "precious");
  try {
    copy_file_sparse(dir_ + "/missing", dir_ + "/c");
    FAIL() << "a missing source was copied";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(dir_ + "/missing"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(path_exists(dir_ + "/c"));
}

}  // namespace
}  // namespace hvrun
