// Informer logic against a scripted fake ApiClient: paged list, watch events in order, resume from
// the last resourceVersion after a drop, relist on 410 (event or HTTP), deletes on relist, bookmarks.
#include "client/informer.h"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/json.hpp>
#include <deque>
#include <thread>

#include "client/watch_decoder.h"

namespace podnet::client {
namespace {

namespace json = boost::json;
using k8s::ApiClient;
using k8s::kExpired;
using k8s::ListPage;
using k8s::PatchType;
using k8s::WatchEvent;
using k8s::WatchStream;

json::value obj(const std::string& name, const std::string& rv) {
  return json::object{{"metadata", {{"name", name}, {"namespace", "ns"}, {"resourceVersion", rv}}}};
}

// One scripted watch connection: events, then an end (clean, an error, or blocking until cancel).
struct ScriptedWatch {
  std::vector<WatchEvent> events;
  enum class End { kClean, kDrop, kBlock } end = End::kClean;
};

class FakeStream : public WatchStream {
 public:
  FakeStream(ScriptedWatch w, std::atomic<int>& blocked) : w_(std::move(w)), blocked_(blocked) {}
  Result<std::optional<WatchEvent>> next() override {
    if (i_ < w_.events.size()) return std::optional(w_.events[i_++]);
    if (w_.end == ScriptedWatch::End::kClean) return std::optional<WatchEvent>();
    if (w_.end == ScriptedWatch::End::kDrop) return fail("watch stream", ECONNRESET);
    std::unique_lock l(mu_);
    ++blocked_;
    cv_.wait(l, [&] { return cancelled_; });
    return fail("watch stream", ECANCELED);
  }
  void cancel() override {
    std::lock_guard l(mu_);
    cancelled_ = true;
    cv_.notify_all();
  }

 private:
  ScriptedWatch w_;
  std::atomic<int>& blocked_;
  size_t i_ = 0;
  std::mutex mu_;
  std::condition_variable cv_;
  bool cancelled_ = false;
};

class FakeClient : public ApiClient {
 public:
  std::deque<Result<ListPage>> lists;
  std::deque<Result<ScriptedWatch>> watches;
  std::vector<std::string> calls;  // "list <continue>" / "watch <rv>"
  std::atomic<int> blocked{0};     // streams waiting for cancel()

  Result<ListPage> list(const std::string&, size_t, const std::string& token) override {
    calls.push_back("list " + token);
    if (lists.empty()) return fail_msg("no list scripted");
    auto r = std::move(lists.front());
    lists.pop_front();
    return r;
  }
  Result<std::unique_ptr<WatchStream>> watch(const std::string&, const std::string& rv) override {
    calls.push_back("watch " + rv);
    if (watches.empty()) return fail_msg("no watch scripted");
    auto r = std::move(watches.front());
    watches.pop_front();
    if (!r) return std::unexpected(r.error());
    return std::unique_ptr<WatchStream>(new FakeStream(std::move(*r), blocked));
  }
  // The informer only reads.
  Result<json::value> get(const std::string&) override { return fail_msg("informer does not get"); }
  Result<json::value> create(const std::string&, const json::value&) override {
    return fail_msg("read only");
  }
  Result<json::value> update(const std::string&, const json::value&) override {
    return fail_msg("read only");
  }
  Result<json::value> patch(const std::string&, PatchType, const json::value&) override {
    return fail_msg("read only");
  }
  Status remove(const std::string&) override { return fail_msg("read only"); }
  Status remove(const std::string&, const json::value&) override { return fail_msg("read only"); }
};

struct Recorder : InformerHandler {
  std::vector<std::string> log;
  void on_upsert(const json::value& o) override {
    log.push_back("upsert " + object_key(o) + "@" + resource_version_of(o));
  }
  void on_delete(const json::value& o) override {
    log.push_back("delete " + object_key(o) + "@" + resource_version_of(o));
    deleted.push_back(o);
  }
  std::vector<json::value> deleted;
  void on_synced() override { log.push_back("synced"); }
};

WatchEvent ev(WatchEvent::Type t, json::value o) {
  return {t, std::move(o)};
}
WatchEvent expired() {
  return {WatchEvent::Type::kError, json::object{{"kind", "Status"}, {"code", 410}, {"reason", "Expired"}}};
}
ListPage page(std::vector<json::value> items, std::string rv, std::string cont = "") {
  return {std::move(items), std::move(rv), std::move(cont)};
}

using T = WatchEvent::Type;
using Log = std::vector<std::string>;

class InformerTest : public ::testing::Test {
 protected:
  FakeClient client;
  Recorder rec;
  Informer inf{client, rec, {.path = "/api/v1/services", .initial_backoff = std::chrono::milliseconds(1)}};
};

TEST_F(InformerTest, PagedListThenWatchEventsInOrder) {
  client.lists.push_back(page({obj("a", "5")}, "10", "next"));
  client.lists.push_back(page({obj("b", "6")}, "11"));
  client.watches.push_back(ScriptedWatch{
      {ev(T::kAdded, obj("c", "12")), ev(T::kModified, obj("a", "13")), ev(T::kDeleted, obj("b", "14"))}});
  ASSERT_TRUE(inf.step());
  EXPECT_TRUE(inf.synced());
  EXPECT_EQ(inf.resource_version(), "11");
  ASSERT_TRUE(inf.step());
  EXPECT_EQ(client.calls, (Log{"list ", "list next", "watch 11"}));
  EXPECT_EQ(rec.log, (Log{"upsert ns/a@5", "upsert ns/b@6", "synced", "upsert ns/c@12", "upsert ns/a@13",
                          "delete ns/b@14"}));
  EXPECT_EQ(inf.resource_version(), "14");
  EXPECT_EQ(inf.size(), 2u);
}

TEST_F(InformerTest, ResumesFromLastResourceVersionAfterADrop) {
  client.lists.push_back(page({}, "10"));
  client.watches.push_back(ScriptedWatch{{ev(T::kAdded, obj("a", "12"))}, ScriptedWatch::End::kDrop});
  client.watches.push_back(ScriptedWatch{{ev(T::kModified, obj("a", "15"))}});
  ASSERT_TRUE(inf.step());
  EXPECT_FALSE(inf.step());        // the drop is an error run() backs off from...
  EXPECT_FALSE(inf.needs_list());  // ...but not a reason to list again
  ASSERT_TRUE(inf.step());
  EXPECT_EQ(client.calls, (Log{"list ", "watch 10", "watch 12"}));
  EXPECT_EQ(rec.log, (Log{"synced", "upsert ns/a@12", "upsert ns/a@15"}));
}

TEST_F(InformerTest, BookmarksAdvanceTheResourceVersion) {
  client.lists.push_back(page({}, "10"));
  json::value bm = json::object{{"kind", "Service"}, {"metadata", {{"resourceVersion", "40"}}}};
  client.watches.push_back(ScriptedWatch{{ev(T::kBookmark, bm)}, ScriptedWatch::End::kDrop});
  client.watches.push_back(ScriptedWatch{{}});
  ASSERT_TRUE(inf.step());
  EXPECT_FALSE(inf.step());
  EXPECT_EQ(inf.resource_version(), "40");
  (void)inf.step();
  EXPECT_EQ(client.calls.back(), "watch 40");
  EXPECT_EQ(rec.log, (Log{"synced"}));  // bookmarks are not objects
}

TEST_F(InformerTest, ExpiredEventRelistsAndDeliversDeletesAndChangesOnly) {
  client.lists.push_back(page({obj("a", "5"), obj("b", "6"), obj("c", "7")}, "10"));
  client.watches.push_back(ScriptedWatch{{expired()}});
  // While we were away: b deleted, c changed, d added; a unchanged (no event for it).
  client.lists.push_back(page({obj("a", "5"), obj("c", "30"), obj("d", "31")}, "32"));
  client.watches.push_back(ScriptedWatch{{}});
  ASSERT_TRUE(inf.step());
  ASSERT_TRUE(inf.step());
  EXPECT_TRUE(inf.needs_list());
  ASSERT_TRUE(inf.step());
  (void)inf.step();
  EXPECT_EQ(client.calls, (Log{"list ", "watch 10", "list ", "watch 32"}));
  EXPECT_EQ(rec.log, (Log{"upsert ns/a@5", "upsert ns/b@6", "upsert ns/c@7", "synced", "delete ns/b@6",
                          "upsert ns/c@30", "upsert ns/d@31", "synced"}));
}

// The agent's informers keep no objects (each handler keeps what it needs, typed): a relist then
// delivers what vanished as its namespace, name and last resourceVersion, and still skips what did
// not change. A watch's DELETED event carries the object as the server sent it.
TEST(InformerWithoutObjects, RelistDeletesCarryTheKeyAndTheLastVersion) {
  FakeClient client;
  Recorder rec;
  Informer inf{client, rec, {.path = "/api/v1/services", .remember_objects = false}};
  json::value labelled = obj("b", "6");
  labelled.as_object()["metadata"].as_object()["labels"] = json::object{{"app", "web"}};
  client.lists.push_back(page({obj("a", "5"), labelled}, "10"));
  client.watches.push_back(ScriptedWatch{{ev(T::kDeleted, obj("a", "11")), expired()}});
  client.lists.push_back(page({obj("c", "30")}, "32"));
  ASSERT_TRUE(inf.step());
  ASSERT_TRUE(inf.step());
  ASSERT_TRUE(inf.step());
  EXPECT_EQ(rec.log, (Log{"upsert ns/a@5", "upsert ns/b@6", "synced", "delete ns/a@11", "delete ns/b@6",
                          "upsert ns/c@30", "synced"}));
  ASSERT_EQ(rec.deleted.size(), 2u);
  EXPECT_EQ(rec.deleted[1],
            (json::value{{"metadata", {{"name", "b"}, {"resourceVersion", "6"}, {"namespace", "ns"}}}}));
  EXPECT_EQ(inf.size(), 1u);
}

// The first LIST is delivered page by page (never held parsed whole); a relist still holds its
// changes until it knows what vanished (deletes first: ExpiredEventRelists... above).
TEST(InformerFirstList, DeliversEachPageBeforeAskingForTheNext) {
  FakeClient client;
  struct AtPage : InformerHandler {
    FakeClient& c;
    std::vector<std::string> log;
    explicit AtPage(FakeClient& client) : c(client) {}
    void on_upsert(const json::value& o) override {
      log.push_back(object_key(o) + " after " + std::to_string(c.calls.size()) + " call(s)");
    }
    void on_delete(const json::value&) override {}
    void on_synced() override { log.push_back("synced"); }
  } h(client);
  Informer inf{client, h, {.path = "/api/v1/services"}};
  client.lists.push_back(page({obj("a", "5"), obj("b", "6")}, "10", "next"));
  client.lists.push_back(page({obj("c", "7")}, "11"));
  ASSERT_TRUE(inf.step());
  EXPECT_EQ(h.log, (Log{"ns/a after 1 call(s)", "ns/b after 1 call(s)", "ns/c after 2 call(s)", "synced"}));
  EXPECT_EQ(inf.size(), 3u);
}

TEST_F(InformerTest, HttpGoneOnWatchRelists) {
  client.lists.push_back(page({}, "10"));
  client.watches.push_back(std::unexpected(Error{kExpired, "HTTP 410"}));
  client.lists.push_back(page({}, "20"));
  ASSERT_TRUE(inf.step());
  ASSERT_TRUE(inf.step());
  ASSERT_TRUE(inf.step());
  EXPECT_EQ(client.calls, (Log{"list ", "watch 10", "list "}));
  EXPECT_EQ(inf.resource_version(), "20");
}

TEST_F(InformerTest, OtherWatchErrorsAreErrors) {
  client.lists.push_back(page({}, "10"));
  client.watches.push_back(ScriptedWatch{
      {ev(T::kError, json::object{{"kind", "Status"}, {"code", 500}, {"message", "etcd down"}})}});
  ASSERT_TRUE(inf.step());
  auto s = inf.step();
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message().find("server error 500: etcd down"), std::string::npos)
      << s.error().message();
  EXPECT_FALSE(inf.needs_list());
}

TEST_F(InformerTest, FailedListKeepsTheOldStateAndRetries) {
  client.lists.push_back(page({obj("a", "5")}, "10"));
  client.watches.push_back(ScriptedWatch{{expired()}});
  client.lists.push_back(page({obj("a", "5")}, "20", "more"));
  client.lists.push_back(std::unexpected(Error{kExpired, "continue token expired"}));
  ASSERT_TRUE(inf.step());
  ASSERT_TRUE(inf.step());
  EXPECT_FALSE(inf.step());
  EXPECT_TRUE(inf.needs_list());
  EXPECT_EQ(inf.resource_version(), "10");
  EXPECT_EQ(rec.log, (Log{"upsert ns/a@5", "synced"}));  // nothing from the half list
}

TEST_F(InformerTest, RunBacksOffAndStopCancelsABlockedWatch) {
  client.lists.push_back(std::unexpected(Error{ECONNREFUSED, "connect"}));
  client.lists.push_back(page({obj("a", "5")}, "10"));
  client.watches.push_back(ScriptedWatch{{ev(T::kAdded, obj("b", "11"))}, ScriptedWatch::End::kBlock});
  std::thread t([&] { inf.run(); });
  for (int i = 0; i < 400 && client.blocked == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  inf.stop();
  t.join();
  EXPECT_EQ(client.calls, (Log{"list ", "list ", "watch 10"}));
  EXPECT_EQ(rec.log, (Log{"upsert ns/a@5", "synced", "upsert ns/b@11"}));
}

TEST(WatchDecoder, SplitsEventsAcrossChunks) {
  WatchDecoder d;
  std::string a = R"({"type":"ADDED","object":{"metadata":{"name":"x","resourceVersion":"3"}}})";
  std::string b = R"({"type":"BOOKMARK","object":{"metadata":{"resourceVersion":"9"}}})";
  std::string all = a + "\n" + b + "\n";
  for (size_t i = 0; i < all.size(); i += 7) ASSERT_TRUE(d.feed(std::string_view(all).substr(i, 7)));
  ASSERT_TRUE(d.has_event());
  EXPECT_EQ(object_key(d.pop().object), "x");
  ASSERT_TRUE(d.has_event());
  auto e = d.pop();
  EXPECT_EQ(e.type, T::kBookmark);
  EXPECT_EQ(resource_version_of(e.object), "9");
  EXPECT_FALSE(d.has_event());
  EXPECT_EQ(d.pending_bytes(), 0u);
  EXPECT_FALSE(d.feed("{\"type\":\"NOPE\",\"object\":{}}\n"));
  EXPECT_FALSE(WatchDecoder().feed("not json\n"));
}

}  // namespace
}  // namespace podnet::client
