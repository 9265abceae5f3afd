#include "common/files.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>

#include "support/temp_dir.h"

namespace podnet {
namespace {

class FilesTest : public ::testing::Test {
 protected:
  podnet::testing::TempDir tmp_{"pn-files"};
  std::string dir_ = tmp_.path();
};

TEST_F(FilesTest, AtomicWriteThenRead) {
  auto path = dir_ + "/a";
  ASSERT_TRUE(write_file_atomic(path, "hello"));
  ASSERT_TRUE(write_file_atomic(path, "world"));
  auto got = read_file(path);
  ASSERT_TRUE(got);
  EXPECT_EQ(*got, "world");
}

TEST_F(FilesTest, ReadMissingCarriesErrno) {
  auto got = read_file(dir_ + "/missing");
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error().code, ENOENT);
  EXPECT_NE(got.error().message().find("missing"), std::string::npos);
}

TEST_F(FilesTest, ExchangeWriteReplacesContentAndReusesTwoInodes) {
  auto path = dir_ + "/state.json";
  auto ino = [&] {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 ? st.st_ino : 0;
  };
  ASSERT_TRUE(write_file_exchange(path, "one", 0600));
  EXPECT_EQ(read_file(path).value_or(""), "one");
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto first = ino();
  ASSERT_TRUE(write_file_exchange(path, "two, longer"));
  auto second = ino();
  EXPECT_NE(first, second);
  for (std::string v : {"3", "four", "five five five", ""}) {
    ASSERT_TRUE(write_file_exchange(path, v));
    EXPECT_EQ(read_file(path).value_or("?"), v);
    // The two files swap places: no third inode, nothing freed.
    auto now = ino();
    EXPECT_TRUE(now == first || now == second) << now;
  }
  // The previous content stays beside it, truncated at the next write, never read by anyone.
  EXPECT_EQ(read_file(path + ".prev").value_or("?"), "five five five");
}

TEST_F(FilesTest, ExchangeWriteIntoMissingDirectoryIsEnoent) {
  auto r = write_file_exchange(dir_ + "/no/such/dir/f", "x");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ENOENT);
  EXPECT_NE(r.error().message().find("/no/such/dir/f.prev"), std::string::npos) << r.error().message();
}

TEST_F(FilesTest, MakeDirsCreatesParents) {
  ASSERT_TRUE(make_dirs(dir_ + "/x/y/z"));
  struct stat st {};
  EXPECT_EQ(::stat((dir_ + "/x/y/z").c_str(), &st), 0);
  EXPECT_TRUE(make_dirs(dir_ + "/x/y/z"));
}

}  // namespace
}  // namespace podnet
