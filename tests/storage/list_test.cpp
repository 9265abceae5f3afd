// LIST semantics: prefix ranges, pagination with continue tokens pinned to one revision, reads at a
// past revision, and the errors for compacted or future revisions.
#include "fixture.h"

namespace podnet::storage::testing {
namespace {

using Keys = std::vector<std::string>;

TEST_F(StoreTest, ListReturnsLiveKeysUnderThePrefixSorted) {
  create("/registry/services/default/web", "w");
  create("/registry/services/default/api", "a");
  create("/registry/services/kube-system/dns", "d");
  create("/registry/servicesx/other", "x");  // shares the string prefix without the slash
  create("/registry/pods/default/p", "p");
  store_->remove("/registry/services/default/api");

  EXPECT_EQ(keys("/registry/services/"),
            (Keys{"/registry/services/default/web", "/registry/services/kube-system/dns"}));
  EXPECT_EQ(keys("/registry/services/default/"), (Keys{"/registry/services/default/web"}));
  EXPECT_EQ(keys("").size(), 4u);

  auto r = store_->list("/registry/services/");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->revision, 6);
  EXPECT_TRUE(r->continue_token.empty());
  EXPECT_EQ(r->items[0].value, "w");
  EXPECT_EQ(r->items[0].mod_revision, 1);
}

TEST_F(StoreTest, ListShowsLatestVersionOnly) {
  create("/a", "1");
  update("/a", "2");
  update("/a", "3");
  auto r = store_->list("/");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->items.size(), 1u);
  EXPECT_EQ(r->items[0].value, "3");
  EXPECT_EQ(r->items[0].create_revision, 1);
  EXPECT_EQ(r->items[0].mod_revision, 3);
}

TEST_F(StoreTest, ListPagesAreConsistentAtTheFirstPagesRevision) {
  for (int i = 0; i < 10; ++i) create("/p/" + std::to_string(i), "v");
  ListOptions opts{.limit = 4};
  auto p1 = store_->list("/p/", opts);
  ASSERT_TRUE(p1);
  EXPECT_EQ(p1->items.size(), 4u);
  ASSERT_FALSE(p1->continue_token.empty());

  // Changes after the first page do not show up in later pages.
  store_->remove("/p/5");
  create("/p/55", "new");

  Keys all;
  for (const auto& kv : p1->items) all.push_back(kv.key);
  std::string token = p1->continue_token;
  int pages = 1;
  while (!token.empty()) {
    auto p = store_->list("/p/", {.limit = 4, .continue_token = token});
    ASSERT_TRUE(p) << p.error().str();
    EXPECT_EQ(p->revision, p1->revision);
    for (const auto& kv : p->items) all.push_back(kv.key);
    token = p->continue_token;
    ++pages;
  }
  EXPECT_EQ(pages, 3);
  EXPECT_EQ(all, (Keys{"/p/0", "/p/1", "/p/2", "/p/3", "/p/4", "/p/5", "/p/6", "/p/7", "/p/8", "/p/9"}));
}

TEST_F(StoreTest, ListExactlyOnePageHasNoContinue) {
  for (int i = 0; i < 3; ++i) create("/p/" + std::to_string(i), "v");
  auto r = store_->list("/p/", {.limit = 3});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->items.size(), 3u);
  EXPECT_TRUE(r->continue_token.empty());
}

TEST_F(StoreTest, ListAtPastRevision) {
  create("/a", "1");     // 1
  create("/b", "1");     // 2
  update("/a", "2");     // 3
  store_->remove("/b");  // 4
  create("/c", "1");     // 5
  EXPECT_EQ(keys("/", 2), (Keys{"/a", "/b"}));
  EXPECT_EQ(keys("/", 4), (Keys{"/a"}));
  EXPECT_EQ(keys("/"), (Keys{"/a", "/c"}));
  auto at2 = store_->list("/", {.revision = 2});
  EXPECT_EQ(at2->items[0].value, "1");
  EXPECT_EQ(at2->revision, 2);

  auto future = store_->list("/", {.revision = 99});
  ASSERT_FALSE(future);
  EXPECT_EQ(future.error().code, Errc::kFutureRevision);
}

TEST_F(StoreTest, BadContinueTokensAreRejected) {
  create("/a/1", "v");
  for (const char* token : {"garbage", "x:/a/1", "0:/a/1", "1:/b/1"}) {
    auto r = store_->list("/a/", {.continue_token = token});
    ASSERT_FALSE(r) << token;
    EXPECT_EQ(r.error().code, Errc::kInvalidArgument) << token;
  }
}

TEST(PrefixEnd, IncrementsTheLastByteThatCan) {
  EXPECT_EQ(prefix_end("/a/"), "/a0");
  EXPECT_EQ(prefix_end(std::string("a\xff", 2)), "b");
  EXPECT_EQ(prefix_end(""), "");
  EXPECT_EQ(prefix_end("\xff"), "");
}

}  // namespace
}  // namespace podnet::storage::testing
