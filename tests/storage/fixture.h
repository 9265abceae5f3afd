// Shared by the storage tests: a throw-away database directory /var/tmp/pn-storage-XXXXXX (files
// under /tmp are slow on the CI machine) and helpers that fail the test on unexpected errors.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "storage/sqlite_store.h"

namespace podnet::storage::testing {

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/var/tmp/pn-storage-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    reopen();
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  SqliteOptions options() const {
    SqliteOptions o;
    o.path = dir_ + "/db.sqlite";
    // Tests check semantics, not power-loss durability; skip the fsyncs.
    o.durability = Durability::kProcessCrash;
    return o;
  }
  // Closes the store (if open) and opens it again from disk.
  void reopen() { reopen(options()); }
  void reopen(const SqliteOptions& o) {
    store_.reset();
    auto s = SqliteStore::open(o);
    ASSERT_TRUE(s) << s.error().str();
    store_ = std::move(*s);
  }

  KeyValue create(const std::string& key, const std::string& value) {
    auto r = store_->create(key, value);
    EXPECT_TRUE(r) << r.error().str();
    return r.value_or(KeyValue{});
  }
  KeyValue update(const std::string& key, const std::string& value, Revision expected = 0) {
    auto r = store_->update(key, value, expected);
    EXPECT_TRUE(r) << r.error().str();
    return r.value_or(KeyValue{});
  }
  std::vector<std::string> keys(const std::string& prefix, Revision at = 0) {
    auto r = store_->list(prefix, {.revision = at});
    EXPECT_TRUE(r) << r.error().str();
    std::vector<std::string> out;
    if (r)
      for (const auto& kv : r->items) out.push_back(kv.key);
    return out;
  }
  std::unique_ptr<Watch> watch(const std::string& prefix, Revision from) {
    auto r = store_->watch(prefix, from);
    EXPECT_TRUE(r) << r.error().str();
    return r ? std::move(*r) : nullptr;
  }
  // Reads events until `n` arrived or a second passes without progress.
  static std::vector<EventPtr> collect(Watch& w, size_t n) {
    std::vector<EventPtr> out;
    while (out.size() < n) {
      auto r = w.next(std::chrono::milliseconds(1000));
      EXPECT_TRUE(r) << r.error().str();
      if (!r || r->empty()) break;
      out.insert(out.end(), r->begin(), r->end());
    }
    return out;
  }

  std::string dir_;
  std::unique_ptr<SqliteStore> store_;
};

}  // namespace podnet::storage::testing
