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

TEST_F(FilesTest, MakeDirsCreatesParents) {
  ASSERT_TRUE(make_dirs(dir_ + "/x/y/z"));
  struct stat st {};
  EXPECT_EQ(::stat((dir_ + "/x/y/z").c_str(), &st), 0);
  EXPECT_TRUE(make_dirs(dir_ + "/x/y/z"));
}

}  // namespace
}  // namespace podnet
