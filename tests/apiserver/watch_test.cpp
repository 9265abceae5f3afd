// Watch over HTTPS: from a list's resourceVersion, synthetic ADDED for rv=0, selector-relative
// event types, bookmarks, timeoutSeconds, and 410 Expired for a compacted resourceVersion.
#include <thread>

#include "api_fixture.h"

namespace podnet::apiserver::testing {
namespace {

namespace json = boost::json;
const std::string kPods = "/api/v1/namespaces/default/pods";

std::string type_of(const std::optional<json::value>& e) {
  return e ? std::string(e->at("type").as_string()) : "<none>";
}
std::string name_of(const std::optional<json::value>& e) {
  return e ? ApiServerTest::str(*e, {"object", "metadata", "name"}) : "<none>";
}

TEST_F(ApiServerTest, WatchFromListResourceVersionSeesOnlyLaterChanges) {
  create(kPods, pod("before"));
  auto list = admin().get(kPods);
  std::string rv = str(list.json(), {"metadata", "resourceVersion"});
  auto w = admin().watch(kPods + "?watch=true&resourceVersion=" + rv);
  ASSERT_TRUE(w);
  EXPECT_EQ(w->status(), 200);
  create(kPods, pod("after"));
  auto e = w->next();
  EXPECT_EQ(type_of(e), "ADDED");
  EXPECT_EQ(name_of(e), "after");

  auto deleted = admin().del(kPods + "/after");
  auto d = w->next();
  EXPECT_EQ(type_of(d), "DELETED");
  EXPECT_EQ(str(*d, {"object", "metadata", "resourceVersion"}),
            str(deleted.json(), {"metadata", "resourceVersion"}));
}

TEST_F(ApiServerTest, WatchWithoutResourceVersionStartsWithSyntheticAdded) {
  create(kPods, pod("a"));
  create(kPods, pod("b"));
  auto w = admin().watch(kPods + "?watch=1&resourceVersion=0");
  ASSERT_TRUE(w);
  auto e1 = w->next(), e2 = w->next();
  EXPECT_EQ(type_of(e1) + name_of(e1) + type_of(e2) + name_of(e2), "ADDEDaADDEDb");
  create(kPods, pod("c"));
  EXPECT_EQ(name_of(w->next()), "c");
}

// Python's client sends watch=True: any value but 0 and false (any case) asks for a watch.
TEST_F(ApiServerTest, WatchFlagIsParsedAsKubeDoes) {
  create(kPods, pod("a"));
  for (const char* value : {"True", "TRUE", "yes"}) {
    auto w = admin().watch(kPods + "?watch=" + value + "&resourceVersion=0");
    ASSERT_TRUE(w) << value;
    EXPECT_EQ(type_of(w->next()), "ADDED") << value;
  }
  auto list = admin().get(kPods + "?watch=FALSE");
  ASSERT_EQ(list.status, 200);
  EXPECT_EQ(str(list.json(), {"kind"}), "PodList");
}

// A timeout too large for the timer is capped; one too large for any integer is a 400.
TEST_F(ApiServerTest, HugeTimeoutSecondsIsCappedOrRefused) {
  auto w = admin().watch(kPods + "?watch=true&timeoutSeconds=9223372036854775807");
  ASSERT_TRUE(w);
  create(kPods, pod("a"));
  EXPECT_EQ(name_of(w->next()), "a");
  auto bad = admin().get(kPods + "?watch=true&timeoutSeconds=99999999999999999999999");
  EXPECT_EQ(bad.status, 400) << bad.body;
}

TEST_F(ApiServerTest, WatchEventTypesFollowTheSelector) {
  create(kPods, pod("p", {{"app", "web"}}));
  auto w = admin().watch(kPods + "?watch=true&labelSelector=app%3Dweb&resourceVersion=0");
  ASSERT_TRUE(w);
  EXPECT_EQ(type_of(w->next()), "ADDED");
  auto patch = [&](const char* body) {
    return admin().request(http::verb::patch, kPods + "/p", body, "application/merge-patch+json").status;
  };
  ASSERT_EQ(patch(R"({"metadata":{"labels":{"app":"db"}}})"), 200);
  EXPECT_EQ(type_of(w->next()), "DELETED") << "leaving the selector is a deletion for this watcher";
  ASSERT_EQ(patch(R"({"metadata":{"labels":{"x":"1"}}})"), 200);
  ASSERT_EQ(patch(R"({"metadata":{"labels":{"app":"web"}}})"), 200);
  EXPECT_EQ(type_of(w->next()), "ADDED") << "the unmatched change is not sent; entering the selector is";
  ASSERT_EQ(patch(R"({"metadata":{"labels":{"y":"2"}}})"), 200);
  EXPECT_EQ(type_of(w->next()), "MODIFIED");
}

TEST_F(ApiServerTest, WatchOfOneNamespaceIgnoresOthers) {
  json::value ns = {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", "other"}}}};
  create("/api/v1/namespaces", ns);
  auto w = admin().watch(kPods + "?watch=true&resourceVersion=" +
                         str(admin().get(kPods).json(), {"metadata", "resourceVersion"}));
  ASSERT_TRUE(w);
  create("/api/v1/namespaces/other/pods", pod("elsewhere"));
  create(kPods, pod("here"));
  EXPECT_EQ(name_of(w->next()), "here");
}

TEST_F(ApiServerTest, BookmarksCarryTheCurrentResourceVersion) {
  auto w = admin().watch(kPods + "?watch=true&allowWatchBookmarks=true&resourceVersion=0");
  ASSERT_TRUE(w);
  auto created = create(kPods, pod("x"));
  EXPECT_EQ(type_of(w->next()), "ADDED");
  auto b = w->next(std::chrono::seconds(3));
  ASSERT_EQ(type_of(b), "BOOKMARK");
  EXPECT_EQ(str(*b, {"object", "metadata", "resourceVersion"}),
            str(created, {"metadata", "resourceVersion"}));
  EXPECT_EQ(str(*b, {"object", "kind"}), "Pod");
}

TEST_F(ApiServerTest, TimeoutSecondsEndsTheStream) {
  auto w = admin().watch(kPods + "?watch=true&timeoutSeconds=1");
  ASSERT_TRUE(w);
  auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(w->next(std::chrono::seconds(5)));
  EXPECT_TRUE(w->ended());
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(4));
}

TEST_F(ApiServerTest, CompactedResourceVersionIsAnExpiredErrorEvent) {
  auto first = create(kPods, pod("a"));
  create(kPods, pod("b"));
  admin().del(kPods + "/a");
  ASSERT_TRUE(server_->store().compact(server_->store().current_revision()));
  auto w =
      admin().watch(kPods + "?watch=true&resourceVersion=" + str(first, {"metadata", "resourceVersion"}));
  ASSERT_TRUE(w);
  EXPECT_EQ(w->status(), 200);
  auto e = w->next();
  ASSERT_EQ(type_of(e), "ERROR");
  EXPECT_EQ(str(*e, {"object", "kind"}), "Status");
  EXPECT_EQ(str(*e, {"object", "code"}), "410");
  EXPECT_EQ(str(*e, {"object", "reason"}), "Expired");
  EXPECT_FALSE(w->next());
  EXPECT_TRUE(w->ended());
}

TEST(Compactor, CompactsToTheRevisionOfThePreviousTick) {
  podnet::testing::TempDir dir("podnet-compact");
  ApiServerOptions options;
  options.data_dir = dir.path();
  options.port = 0;
  options.compaction_interval = std::chrono::milliseconds(100);
  auto server = ApiServer::start(options);
  ASSERT_TRUE(server) << server.error().message();
  storage::Store& store = (*server)->store();
  storage::Revision start = store.current_revision();
  for (int i = 0; i < 50 && store.compacted_revision() < start; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_GE(store.compacted_revision(), start);
  EXPECT_LE(store.compacted_revision(), store.current_revision());
}

TEST_F(ApiServerTest, ManyWatchersAndClosedClientsDoNotWedgeTheServer) {
  for (int i = 0; i < 20; ++i) {
    auto w = admin().watch(kPods + "?watch=true");
    ASSERT_TRUE(w);
  }  // each reader closes its connection here
  auto w = admin().watch(kPods + "?watch=true&resourceVersion=" +
                         str(admin().get(kPods).json(), {"metadata", "resourceVersion"}));
  create(kPods, pod("still-served"));
  EXPECT_EQ(name_of(w->next()), "still-served");
}

TEST_F(ApiServerTest, ShutdownWithOpenWatchesEndsTheirStreams) {
  auto w = admin().watch(kPods + "?watch=true");
  ASSERT_TRUE(w);
  server_.reset();  // must not hang on the open stream nor leave it running
  EXPECT_FALSE(w->next(std::chrono::seconds(2)));
  EXPECT_TRUE(w->ended());
}

}  // namespace
}  // namespace podnet::apiserver::testing
