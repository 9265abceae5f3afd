#include "common/files.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>

namespace podnet {
namespace {

class FilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/pn-files-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_;
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
