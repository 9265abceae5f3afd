// HttpsApiClient's writes against podnet's real API server (in process): create, update, merge and
// strategic merge patches, delete, the Status errors each can produce, and keep-alive reuse.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <thread>

#include "apiserver/api_fixture.h"
#include "client/https_client.h"

namespace podnet::client {
namespace {

namespace json = boost::json;
using k8s::is_already_exists;
using k8s::is_conflict;
using k8s::is_not_found;
using k8s::PatchType;

class ClientWriteTest : public apiserver::testing::ApiServerTest {
 protected:
  std::unique_ptr<HttpsApiClient> client() {
    ClusterAccess a;
    a.server = "https://127.0.0.1:" + std::to_string(server_->port());
    a.ca_pem = ca_pem_;
    a.client_cert_pem = admin_.cert_pem;
    a.client_key_pem = admin_.key_pem;
    auto c = HttpsApiClient::create(a, {.request_timeout = std::chrono::seconds(5)});
    EXPECT_TRUE(c) << c.error().message();
    return c ? std::move(*c) : nullptr;
  }
  static json::value node(const std::string& name) {
    return json::object{{"apiVersion", "v1"}, {"kind", "Node"}, {"metadata", {{"name", name}}}};
  }
};

TEST_F(ClientWriteTest, CreateGetAndAlreadyExists) {
  auto c = client();
  auto created = c->create("/api/v1/nodes", node("n1"));
  ASSERT_TRUE(created) << created.error().message();
  EXPECT_EQ(str(*created, {"metadata", "name"}), "n1");
  EXPECT_FALSE(str(*created, {"metadata", "resourceVersion"}).empty());

  auto again = c->create("/api/v1/nodes", node("n1"));
  ASSERT_FALSE(again);
  EXPECT_TRUE(is_already_exists(again.error())) << again.error().message();
  EXPECT_FALSE(is_conflict(again.error()));

  auto got = c->get("/api/v1/nodes/n1");
  ASSERT_TRUE(got) << got.error().message();
  EXPECT_EQ(str(*got, {"metadata", "uid"}), str(*created, {"metadata", "uid"}));
}

TEST_F(ClientWriteTest, UpdateWithStaleResourceVersionIsConflict) {
  auto c = client();
  auto created = c->create("/api/v1/nodes", node("n1"));
  ASSERT_TRUE(created) << created.error().message();
  json::value v = *created;
  v.as_object()["metadata"].as_object()["labels"] = json::object{{"a", "1"}};
  auto updated = c->update("/api/v1/nodes/n1", v);
  ASSERT_TRUE(updated) << updated.error().message();
  EXPECT_EQ(str(*updated, {"metadata", "labels", "a"}), "1");
  EXPECT_NE(str(*updated, {"metadata", "resourceVersion"}), str(*created, {"metadata", "resourceVersion"}));

  // `v` still carries the old resourceVersion.
  auto stale = c->update("/api/v1/nodes/n1", v);
  ASSERT_FALSE(stale);
  EXPECT_TRUE(is_conflict(stale.error())) << stale.error().message();
  EXPECT_FALSE(is_already_exists(stale.error()));
}

TEST_F(ClientWriteTest, MergeAndStrategicPatches) {
  auto c = client();
  ASSERT_TRUE(c->create("/api/v1/nodes", node("n1")));
  auto merged = c->patch("/api/v1/nodes/n1", PatchType::kMerge,
                         json::parse(R"({"metadata":{"annotations":{"podnet.io/overlay":"vxlan"}}})"));
  ASSERT_TRUE(merged) << merged.error().message();
  EXPECT_EQ(str(*merged, {"metadata", "annotations", "podnet.io/overlay"}), "vxlan");

  // Status through its subresource, twice: conditions merge by type under a strategic patch.
  auto cond = [](const std::string& type, const std::string& status) {
    return json::object{
        {"status", {{"conditions", json::array{json::object{{"type", type}, {"status", status}}}}}}};
  };
  ASSERT_TRUE(c->patch("/api/v1/nodes/n1/status", PatchType::kStrategicMerge, cond("Ready", "True")));
  auto second =
      c->patch("/api/v1/nodes/n1/status", PatchType::kStrategicMerge, cond("MemoryPressure", "False"));
  ASSERT_TRUE(second) << second.error().message();
  const auto& conds = second->at("status").at("conditions").as_array();
  EXPECT_EQ(conds.size(), 2u) << json::serialize(*second);

  auto missing = c->patch("/api/v1/nodes/nope", PatchType::kMerge, json::object{});
  ASSERT_FALSE(missing);
  EXPECT_TRUE(is_not_found(missing.error())) << missing.error().message();
}

TEST_F(ClientWriteTest, DeleteThenNotFound) {
  auto c = client();
  ASSERT_TRUE(c->create("/api/v1/nodes", node("n1")));
  auto removed = c->remove("/api/v1/nodes/n1");
  ASSERT_TRUE(removed) << removed.error().message();
  auto got = c->get("/api/v1/nodes/n1");
  ASSERT_FALSE(got);
  EXPECT_TRUE(is_not_found(got.error())) << got.error().message();
  auto again = c->remove("/api/v1/nodes/n1");
  ASSERT_FALSE(again);
  EXPECT_TRUE(is_not_found(again.error()));
}

TEST_F(ClientWriteTest, InvalidObjectIsEinval) {
  auto c = client();
  auto bad = c->create("/api/v1/nodes", node("Not_A_Name"));
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, EINVAL) << bad.error().message();
}

// The agent, the proxy and the pod runner hold only k8s::ApiClient: every verb through it, the
// status subresource, each PatchType, and a DELETE whose preconditions are honoured.
TEST_F(ClientWriteTest, EveryVerbThroughTheOneInterface) {
  auto owned = client();
  ASSERT_TRUE(owned);
  k8s::ApiClient& api = *owned;
  auto created = api.create("/api/v1/nodes", node("n1"));
  ASSERT_TRUE(created) << created.error().message();

  json::value with_status = *created;
  with_status.as_object()["status"] =
      json::object{{"conditions", json::array{json::object{{"type", "Ready"}, {"status", "True"}}}}};
  auto st = api.update_status("/api/v1/nodes/n1", with_status);
  ASSERT_TRUE(st) << st.error().message();
  EXPECT_NE(str(*st, {"status", "conditions"}).find(R"("type":"Ready")"), std::string::npos)
      << str(*st, {"status"});

  auto labelled = api.patch("/api/v1/nodes/n1", PatchType::kJson,
                            json::parse(R"([{"op":"add","path":"/metadata/labels","value":{"x":"y"}}])"));
  ASSERT_TRUE(labelled) << labelled.error().message();
  EXPECT_EQ(str(*labelled, {"metadata", "labels", "x"}), "y");
  auto merged =
      api.patch("/api/v1/nodes/n1", PatchType::kMerge, json::parse(R"({"metadata":{"labels":{"z":"w"}}})"));
  ASSERT_TRUE(merged) << merged.error().message();
  EXPECT_EQ(str(*merged, {"metadata", "labels", "x"}), "y");
  EXPECT_EQ(str(*merged, {"metadata", "labels", "z"}), "w");

  auto page = api.list("/api/v1/nodes", 500, "");
  ASSERT_TRUE(page) << page.error().message();
  ASSERT_EQ(page->items.size(), 1u);
  EXPECT_EQ(str(page->items[0], {"metadata", "labels", "x"}), "y");

  auto stale = api.update("/api/v1/nodes/n1", *created);
  ASSERT_FALSE(stale);
  EXPECT_TRUE(is_conflict(stale.error())) << stale.error().message();

  auto options = [](const std::string& uid) {
    return json::object{{"kind", "DeleteOptions"}, {"apiVersion", "v1"}, {"preconditions", {{"uid", uid}}}};
  };
  auto wrong = api.remove("/api/v1/nodes/n1", options("not-the-uid"));
  ASSERT_FALSE(wrong);
  EXPECT_TRUE(is_conflict(wrong.error())) << wrong.error().message();
  auto removed = api.remove("/api/v1/nodes/n1", options(str(*created, {"metadata", "uid"})));
  ASSERT_TRUE(removed) << removed.error().message();
  auto gone = api.get("/api/v1/nodes/n1");
  ASSERT_FALSE(gone);
  EXPECT_TRUE(is_not_found(gone.error()));
}

TEST_F(ClientWriteTest, SequentialRequestsShareOneConnection) {
  auto c = client();
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(c->create("/api/v1/nodes", node("n" + std::to_string(i))));
    ASSERT_TRUE(c->get("/api/v1/nodes/n" + std::to_string(i)));
  }
  ASSERT_TRUE(c->list("/api/v1/nodes", 500, ""));
  EXPECT_EQ(c->connections_opened(), 1u);
}

TEST_F(ClientWriteTest, ConcurrentCallersEachGetTheirAnswer) {
  auto c = client();
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10; ++i) {
        std::string name = "t" + std::to_string(t) + "-" + std::to_string(i);
        auto made = c->create("/api/v1/nodes", node(name));
        auto got = c->get("/api/v1/nodes/" + name);
        if (made && got && str(*got, {"metadata", "name"}) == name) ++ok;
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok, 40);
  EXPECT_LE(c->connections_opened(), 4u);
}

}  // namespace
}  // namespace podnet::client
