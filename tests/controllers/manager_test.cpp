// The ControllerManager as `podnet server` runs it (through the request chain as the controller
// identity), over a store whose lists fail at first: start()
// returns at once (the API server serves meanwhile), synced() stays false while the caches cannot
// list, and the controllers start, with backoff between attempts, once the store answers.
#include "controllers/manager.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "apiserver/auth/authorizer.h"
#include "apiserver/http/metrics.h"
#include "apiserver/in_process_client.h"
#include "apiserver/registry/object_store.h"
#include "apiserver/registry/resources.h"
#include "apiserver/request_chain.h"
#include "storage/sqlite_store.h"
#include "support/temp_dir.h"

namespace podnet::controllers {
namespace {

using namespace std::chrono_literals;

// A real SQLite store whose list() fails while `failing` is set, counting the attempts.
class FlakyStore final : public storage::Store {
 public:
  explicit FlakyStore(storage::Store& real) : real_(real) {}
  std::atomic<bool> failing{true};
  std::atomic<int> failed_lists{0};

  storage::StoreResult<storage::KeyValue> create(std::string_view k, std::string_view v) override {
    return real_.create(k, v);
  }
  storage::StoreResult<storage::KeyValue> update(std::string_view k, std::string_view v,
                                                 storage::Revision r) override {
    return real_.update(k, v, r);
  }
  storage::StoreResult<storage::Removed> remove(std::string_view k, storage::Revision r) override {
    return real_.remove(k, r);
  }
  storage::StoreResult<storage::KeyValue> get(std::string_view k, storage::Revision r) override {
    return real_.get(k, r);
  }
  storage::StoreResult<storage::ListResult> list(std::string_view prefix,
                                                 const storage::ListOptions& options) override {
    if (failing) {
      ++failed_lists;
      return storage::store_fail(storage::Errc::kIo, "list " + std::string(prefix) + ": disk on fire");
    }
    return real_.list(prefix, options);
  }
  storage::StoreResult<std::unique_ptr<storage::Watch>> watch(std::string_view prefix,
                                                              storage::Revision from) override {
    return real_.watch(prefix, from);
  }
  storage::StoreStatus compact(storage::Revision r) override { return real_.compact(r); }
  storage::Revision current_revision() const override { return real_.current_revision(); }
  storage::Revision compacted_revision() const override { return real_.compacted_revision(); }

 private:
  storage::Store& real_;
};

TEST(ControllerManager, StartsAfterAFailingFirstSyncWithBackoff) {
  podnet::testing::TempDir dir("pn-manager");
  storage::SqliteOptions options;
  options.path = dir.path() + "/state.db";
  auto sqlite = storage::SqliteStore::open(options);
  ASSERT_TRUE(sqlite) << sqlite.error().str();
  FlakyStore store(**sqlite);
  apiserver::ObjectStore objects(
      store, [] { return std::chrono::system_clock::now(); }, 7);
  auto registry = apiserver::ResourceRegistry::builtin();
  apiserver::Metrics metrics;
  store.failing = false;  // the chain reads the stored Services once, at start
  auto chain = apiserver::RequestChain::make(objects, registry, metrics, {});
  ASSERT_TRUE(chain) << chain.error().message();
  store.failing = true;
  apiserver::InProcessClient api((*chain)->handler(), apiserver::controller_identity());

  auto began = std::chrono::steady_clock::now();
  auto manager = ControllerManager::start(api, {});
  ASSERT_TRUE(manager) << manager.error().message();
  EXPECT_LT(std::chrono::steady_clock::now() - began, 1s) << "start() must not wait for the first list";
  auto ready = (*manager)->readiness_check();

  std::this_thread::sleep_for(3500ms);
  EXPECT_FALSE((*manager)->synced());
  EXPECT_FALSE(ready());
  // Four caches, each retrying after 1 s, 2 s (then 4 s): about 3 attempts each in 3.5 s, not one
  // every few milliseconds.
  int attempts = store.failed_lists.load();
  EXPECT_GE(attempts, 4);
  EXPECT_LE(attempts, 4 * 4) << "lists are retried with backoff";

  store.failing = false;
  bool synced = false;
  for (auto deadline = std::chrono::steady_clock::now() + 15s;
       !synced && std::chrono::steady_clock::now() < deadline;)
    if (!(synced = (*manager)->synced())) std::this_thread::sleep_for(20ms);
  EXPECT_TRUE(synced);
  EXPECT_TRUE(ready());
  manager->reset();
  EXPECT_TRUE(ready()) << "the check outlives the manager";
}

}  // namespace
}  // namespace podnet::controllers
