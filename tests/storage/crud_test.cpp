// Create/update/remove/get semantics of the SQLite store: revisions, compare-and-swap, errors.
#include "fixture.h"

namespace podnet::storage::testing {
namespace {

TEST_F(StoreTest, CreateAssignsIncreasingRevisions) {
  EXPECT_EQ(store_->current_revision(), 0);
  auto a = create("/registry/pods/default/a", "A");
  auto b = create("/registry/pods/default/b", "B");
  EXPECT_EQ(a.mod_revision, 1);
  EXPECT_EQ(a.create_revision, 1);
  EXPECT_EQ(b.mod_revision, 2);
  EXPECT_EQ(store_->current_revision(), 2);
  auto got = store_->get("/registry/pods/default/a");
  ASSERT_TRUE(got);
  EXPECT_EQ(*got, a);
  EXPECT_EQ(got->value, "A");
}

TEST_F(StoreTest, CreateOfLiveKeyFailsWithAlreadyExists) {
  create("/k", "1");
  auto r = store_->create("/k", "2");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kAlreadyExists);
  EXPECT_EQ(store_->current_revision(), 1) << "a refused write takes no revision";
}

TEST_F(StoreTest, UpdateIsCompareAndSwapOnModRevision) {
  auto v1 = create("/k", "1");
  auto v2 = update("/k", "2", v1.mod_revision);
  EXPECT_EQ(v2.create_revision, v1.create_revision);
  EXPECT_EQ(v2.mod_revision, 2);

  auto stale = store_->update("/k", "3", v1.mod_revision);
  ASSERT_FALSE(stale);
  EXPECT_EQ(stale.error().code, Errc::kConflict);
  EXPECT_EQ(store_->get("/k")->value, "2");

  auto unconditional = update("/k", "4", 0);
  EXPECT_EQ(unconditional.mod_revision, 3);
}

TEST_F(StoreTest, UpdateOfMissingKeyIsNotFound) {
  auto r = store_->update("/nope", "x", 0);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kNotFound);
}

TEST_F(StoreTest, RemoveReturnsLastObjectAndFreesTheKey) {
  auto v1 = create("/k", "1");
  auto v2 = update("/k", "2", 0);
  auto conflict = store_->remove("/k", v1.mod_revision);
  ASSERT_FALSE(conflict);
  EXPECT_EQ(conflict.error().code, Errc::kConflict);

  auto removed = store_->remove("/k", v2.mod_revision);
  ASSERT_TRUE(removed) << removed.error().str();
  EXPECT_EQ(removed->last, v2);
  EXPECT_EQ(removed->revision, 3);

  auto gone = store_->get("/k");
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().code, Errc::kNotFound);
  auto again = store_->remove("/k");
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, Errc::kNotFound);

  // A new incarnation gets a new create_revision.
  auto reborn = create("/k", "new");
  EXPECT_EQ(reborn.create_revision, 4);
}

TEST_F(StoreTest, GetAtRevisionSeesHistory) {
  create("/k", "1");
  update("/k", "2");
  store_->remove("/k");
  EXPECT_EQ(store_->get("/k", 1)->value, "1");
  EXPECT_EQ(store_->get("/k", 2)->value, "2");
  EXPECT_EQ(store_->get("/k", 3).error().code, Errc::kNotFound);
  EXPECT_EQ(store_->get("/k", 9).error().code, Errc::kFutureRevision);
}

TEST_F(StoreTest, EmptyKeyIsInvalid) {
  auto r = store_->create("", "x");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kInvalidArgument);
}

TEST_F(StoreTest, BinaryValuesRoundTrip) {
  std::string value("a\0b\xff", 4);
  create("/bin", value);
  create("/empty", "");
  EXPECT_EQ(store_->get("/bin")->value, value);
  EXPECT_EQ(store_->get("/empty")->value, "");
}

TEST_F(StoreTest, DataAndRevisionsSurviveReopen) {
  create("/a", "1");
  update("/a", "2");
  create("/b", "3");
  reopen();
  EXPECT_EQ(store_->current_revision(), 3);
  EXPECT_EQ(store_->get("/a")->value, "2");
  EXPECT_EQ(create("/c", "4").mod_revision, 4);
}

TEST_F(StoreTest, SecondOpenOfTheSameDatabaseFails) {
  auto second = SqliteStore::open(options());
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().code, Errc::kIo);
}

}  // namespace
}  // namespace podnet::storage::testing
