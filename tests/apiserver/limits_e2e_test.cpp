// Issue 13's attack through the real `podnet server` and a node's own credential: a 60-deep
// annotation is refused (raw HTTPS and Debian's python3-kubernetes) and the server restarts
// cleanly; a database that already holds an unreadable or invalid Node (written straight into its
// SQLite file) is repaired or quarantined at start instead of keeping the server down; /readyz
// turns ready once the controllers have synced.
#include <chrono>
#include <thread>

#include "apiserver/http/limits.h"
#include "node_credential_fixture.h"
#include "storage/sqlite_store.h"

namespace podnet::apiserver::testing {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

std::string nested(size_t levels) {
  std::string s;
  for (size_t i = 0; i < levels; ++i) s += "{\"a\":";
  s += "\"x\"";
  for (size_t i = 0; i < levels; ++i) s += "}";
  return s;
}

class LimitsE2eTest : public NodeCredentialTest {
 protected:
  LimitsE2eTest() : NodeCredentialTest("pn-limits-e2e") {}

  void register_node(const std::string& name) {
    auto r = as_node(name).post(
        "/api/v1/nodes", json::parse(R"({"metadata":{"name":")" + name + R"(","annotations":{"a":"b"}}})"));
    ASSERT_EQ(r.status, 201) << r.body;
  }
  bool ready() {
    for (auto deadline = std::chrono::steady_clock::now() + 15s;
         std::chrono::steady_clock::now() < deadline;) {
      if (admin().get("/readyz").status == 200) return true;
      std::this_thread::sleep_for(50ms);
    }
    return false;
  }
  std::string deep_patch() const {
    return R"([{"op":"add","path":"/metadata/annotations/deep","value":)" + nested(60) + "}]";
  }
};

TEST_F(LimitsE2eTest, NodeCannotStoreADeepAnnotationAndTheServerRestartsCleanly) {
  register_node("node1");
  auto r = patch(as_node("node1"), "/api/v1/nodes/node1", deep_patch(), "application/json-patch+json");
  EXPECT_EQ(r.status, 422) << r.body;
  EXPECT_EQ(r.json().at("reason"), "Invalid") << r.body;
  // Through the status subresource (the node's heartbeat path) metadata is not written at all.
  r = patch(as_node("node1"), "/api/v1/nodes/node1/status", deep_patch(), "application/json-patch+json");
  auto node = admin().get("/api/v1/nodes/node1");
  EXPECT_EQ(node.status, 200);
  EXPECT_EQ(str(node.json(), {"metadata", "annotations"}), R"({"a":"b"})");
  EXPECT_EQ(admin().get("/api/v1/nodes").status, 200);

  ASSERT_EQ(server_.stop(), 0) << server_.log();
  ASSERT_TRUE(server_.start()) << server_.log();
  EXPECT_TRUE(ready()) << admin().get("/readyz?verbose").body << server_.log();
  auto list = admin().get("/api/v1/nodes");
  EXPECT_EQ(list.status, 200) << list.body;
  EXPECT_EQ(list.json().at("items").as_array().size(), 1u);
  EXPECT_EQ(admin().del("/api/v1/nodes/node1").status, 200);
}

TEST_F(LimitsE2eTest, PythonClientGetsTheRefusal) {
  if (podnet::testing::shell(std::string(kPython) + " -c 'import kubernetes'").rc != 0)
    GTEST_SKIP() << "no python3-kubernetes in " << kPython;
  register_node("node1");
  auto r = python(R"(
import json, sys
from kubernetes import client, config
from kubernetes.client.rest import ApiException
config.load_kube_config()
api = client.CoreV1Api()
deep = "x"
for _ in range(60):
    deep = {"a": deep}
try:
    api.patch_node("node1", [{"op": "add", "path": "/metadata/annotations/deep", "value": deep}])
    print("ACCEPTED")
except ApiException as e:
    print("STATUS", e.status, json.loads(e.body)["reason"])
print("NODES", len(api.list_node().items))
)",
                  node_kubeconfig("node1"));
  EXPECT_NE(r.out.find("STATUS 422 Invalid"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("NODES 1"), std::string::npos) << r.out;
}

TEST_F(LimitsE2eTest, UnreadableStoredNodeIsQuarantinedAtStart) {
  register_node("node1");
  register_node("node2");
  ASSERT_TRUE(ready()) << admin().get("/readyz?verbose").body;
  ASSERT_EQ(server_.stop(), 0) << server_.log();
  {
    // What an older server let a node store: a 60-deep annotation (readable now, but invalid), and
    // what no read limit admits (300 levels).
    storage::SqliteOptions options;
    options.path = server_.data_dir() + "/state.db";
    auto store = storage::SqliteStore::open(options);
    ASSERT_TRUE(store) << store.error().str();
    auto write = [&](const std::string& key, const std::string& value) {
      auto updated = (*store)->update(key, value, 0);
      ASSERT_TRUE(updated) << updated.error().str();
    };
    write("/registry/nodes/node1",
          R"({"apiVersion":"v1","kind":"Node","metadata":{"name":"node1","uid":"u1",)"
          R"("annotations":{"a":"b","deep":)" +
              nested(60) + "}}}");
    std::string unreadable = R"({"apiVersion":"v1","kind":"Node","metadata":{"name":"node2","uid":"u2",)"
                             R"("annotations":{"deep":)" +
                             nested(300) + "}}}";
    write("/registry/nodes/node2", unreadable);
  }
  ASSERT_TRUE(server_.start()) << server_.log();
  EXPECT_TRUE(ready()) << admin().get("/readyz?verbose").body << server_.log();
  std::string log = server_.log();
  EXPECT_NE(log.find("stored object /registry/nodes/node1 REPAIRED"), std::string::npos) << log;
  EXPECT_NE(log.find("stored object /registry/nodes/node2 QUARANTINED"), std::string::npos) << log;
  auto list = admin().get("/api/v1/nodes");
  ASSERT_EQ(list.status, 200) << list.body;
  ASSERT_EQ(list.json().at("items").as_array().size(), 1u) << list.body;
  EXPECT_EQ(str(list.json().at("items").at(0), {"metadata", "annotations"}), R"({"a":"b"})");
  // The node can write its own Node again, and the quarantined name is free for it to re-register.
  auto beat = patch(as_node("node1"), "/api/v1/nodes/node1", R"({"metadata":{"labels":{"x":"y"}}})");
  EXPECT_EQ(beat.status, 200) << beat.body;
  register_node("node2");
}

}  // namespace
}  // namespace podnet::apiserver::testing
