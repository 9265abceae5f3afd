// The limits over HTTPS against an in-process server: what the attacker of issue 13 sends (a deep
// annotation, copy amplification, an oversized object, a watch from the future) is refused with
// kube's code and message and leaves every object readable; /readyz reports a failing check.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <chrono>
#include <thread>

#include "api_fixture.h"
#include "apiserver/endpoints/readiness.h"
#include "apiserver/http/limits.h"

namespace podnet::apiserver::testing {
namespace {

namespace json = boost::json;

std::string nested(size_t levels) {
  std::string s;
  for (size_t i = 0; i < levels; ++i) s += "{\"a\":";
  s += "\"x\"";
  for (size_t i = 0; i < levels; ++i) s += "}";
  return s;
}

class LimitsHttpTest : public ApiServerTest {
 protected:
  HttpResult patch(const std::string& target, const std::string& body,
                   const std::string& type = "application/json-patch+json") {
    return admin().request(http::verb::patch, target, body, type);
  }
  void create_node() {
    auto r =
        admin().post("/api/v1/nodes", json::parse(R"({"metadata":{"name":"n1","annotations":{"a":"b"}}})"));
    ASSERT_EQ(r.status, 201) << r.body;
  }
  // The node, its list and its deletion still work: nothing stored is unreadable.
  void expect_node_usable() {
    EXPECT_EQ(admin().get("/api/v1/nodes/n1").status, 200);
    auto list = admin().get("/api/v1/nodes");
    EXPECT_EQ(list.status, 200) << list.body;
    EXPECT_EQ(admin().get("/api/v1/nodes?labelSelector=x!%3Dy").status, 200);
  }
};

TEST_F(LimitsHttpTest, DeepAnnotationIsRefusedAndTheNodeStaysReadable) {
  create_node();
  auto r = patch("/api/v1/nodes/n1",
                 R"([{"op":"add","path":"/metadata/annotations/deep","value":)" + nested(60) + "}]");
  EXPECT_EQ(r.status, 422) << r.body;
  EXPECT_NE(
      r.body.find("cannot unmarshal object into Go struct field ObjectMeta.metadata.annotations of type "
                  "string"),
      std::string::npos)
      << r.body;
  // The same by merge patch and on create.
  r = patch("/api/v1/nodes/n1", R"({"metadata":{"annotations":{"deep":)" + nested(60) + "}}}",
            "application/merge-patch+json");
  EXPECT_EQ(r.status, 422) << r.body;
  r = admin().post("/api/v1/nodes", json::parse(R"({"metadata":{"name":"n2","annotations":{"x":1}}})"));
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_EQ(r.json().at("message"),
            "Node in version \"v1\" cannot be handled as a Node: json: cannot unmarshal number into Go "
            "struct field "
            "ObjectMeta.metadata.annotations of type string");
  expect_node_usable();
  EXPECT_EQ(admin().del("/api/v1/nodes/n1").status, 200);
}

TEST_F(LimitsHttpTest, PatchCannotNestDeeperThanTheLimit) {
  create_node();
  // Each part within the body limit (64 levels), placed 4 levels down: 66 levels.
  auto r = patch("/api/v1/nodes/n1", R"([{"op":"add","path":"/metadata/free","value":{"b":{}}},)"
                                     R"({"op":"add","path":"/metadata/free/b/c","value":)" +
                                         nested(62) + "}]");
  EXPECT_EQ(r.status, 422) << r.body;
  EXPECT_NE(r.body.find("deeper than 64 levels"), std::string::npos) << r.body;
  // A body deeper than the limit is not parsed at all.
  r = patch("/api/v1/nodes/n1", R"({"metadata":{"free":)" + nested(64) + "}}",
            "application/merge-patch+json");
  EXPECT_EQ(r.status, 400) << r.body;
  expect_node_usable();
}

TEST_F(LimitsHttpTest, AnnotationsTotalSize) {
  create_node();
  std::string value(60 * 1024, 'v');
  int status = 0;
  std::string body;
  for (int i = 0; i < 5 && status != 422; ++i) {
    auto r = patch("/api/v1/nodes/n1",
                   R"({"metadata":{"annotations":{"k)" + std::to_string(i) + R"(":")" + value + R"("}}})",
                   "application/merge-patch+json");
    status = r.status;
    body = r.body;
    if (i < 4) {
      EXPECT_EQ(r.status, 200) << "annotation " << i << ": " << r.body;
    }
  }
  EXPECT_EQ(status, 422) << body;
  EXPECT_EQ(json::parse(body).at("message"),
            "Node \"n1\" is invalid: metadata.annotations: Too long: must have at most 262144 bytes");
  expect_node_usable();
}

TEST_F(LimitsHttpTest, JsonPatchCopyAmplificationIsRefused) {
  create_node();
  // 2 KB of patch that built a 16 MB object before the copy budget (1 KB doubled 14 times).
  std::string ops =
      R"([{"op":"add","path":"/metadata/amplify","value":{"x":")" + std::string(1000, 'x') + R"("}})";
  for (int i = 0; i < 14; ++i)
    ops += R"(,{"op":"copy","from":"/metadata/amplify","path":"/metadata/amplify/c)" + std::to_string(i) +
           R"("})";
  ops += "]";
  ASSERT_LT(ops.size(), 2500u);
  auto r = patch("/api/v1/nodes/n1", ops);
  EXPECT_EQ(r.status, 422) << r.body.substr(0, 300);
  EXPECT_NE(r.body.find("Unable to complete the copy"), std::string::npos) << r.body.substr(0, 300);
  auto node = admin().get("/api/v1/nodes/n1");
  EXPECT_LT(node.body.size(), 4096u);
  expect_node_usable();
}

TEST_F(LimitsHttpTest, DuplicateKeyWarningsAreBounded) {
  std::string body = R"({"metadata":{"name":"dups")";
  for (int i = 0; i < 3000; ++i) body += ",\"name\":\"dups\"";
  body += "}}";
  ASSERT_LT(body.size(), kTestBodyLimit);
  auto r = admin().request(http::verb::post, "/api/v1/namespaces", body);
  EXPECT_EQ(r.status, 201) << r.body.substr(0, 300);
  size_t warnings = 0, bytes = 0;
  for (const auto& f : r.headers)
    if (f.name() == http::field::warning) {
      ++warnings;
      bytes += f.value().size();
    }
  EXPECT_EQ(warnings, 1u) << "one warning per distinct problem, as kube's recorder dedupes";
  EXPECT_LT(bytes, 8192u);
}

TEST_F(LimitsHttpTest, WatchFromAFutureResourceVersion) {
  auto list = admin().get("/api/v1/namespaces");
  long current = std::stol(std::string(list.json().at("metadata").at("resourceVersion").as_string()));
  auto start = std::chrono::steady_clock::now();
  auto r = admin().get("/api/v1/namespaces?watch=true&resourceVersion=" + std::to_string(current + 1000));
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(r.status, 504) << r.body;
  EXPECT_GE(took, std::chrono::milliseconds(2500)) << "kube waits ~3 s for the store to catch up";
  EXPECT_LT(took, std::chrono::seconds(10));
  EXPECT_EQ(std::string(r.headers[http::field::retry_after]), "1");
  json::value status = r.json();
  EXPECT_EQ(status.at("reason"), "Timeout");
  EXPECT_EQ(status.at("message"),
            json::value("Timeout: Too large resource version: " + std::to_string(current + 1000) +
                        ", current: " + std::to_string(current)));
  EXPECT_EQ(status.at("details").at("causes").at(0).at("reason"), "ResourceVersionTooLarge");
  EXPECT_EQ(status.at("details").at("retryAfterSeconds"), 1);

  // A revision the store reaches while the watch waits is served.
  std::thread writer([this] {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    admin().post("/api/v1/namespaces", json::parse(R"({"metadata":{"name":"later"}})"));
  });
  auto w = admin().watch("/api/v1/namespaces?watch=1&resourceVersion=" + std::to_string(current + 1));
  writer.join();
  ASSERT_TRUE(w);
  EXPECT_EQ(w->status(), 200);
}

TEST_F(LimitsHttpTest, ReadyzReportsAFailingCheck) {
  auto ready = admin().get("/readyz");
  EXPECT_EQ(ready.status, 200);
  EXPECT_EQ(ready.body, "ok");
  std::atomic<bool> synced{false};
  server_->readiness().add("controllers", [&synced] { return synced.load(); });
  auto r = admin().get("/readyz");
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(r.body, "[+]ping ok\n[-]controllers failed: reason withheld\nreadyz check failed\n");
  EXPECT_EQ(admin().get("/healthz").status, 200) << "liveness does not depend on the controllers";
  EXPECT_EQ(admin().get("/readyz?exclude=controllers").status, 200);
  synced = true;
  r = admin().get("/readyz?verbose");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "[+]ping ok\n[+]controllers ok\nreadyz check passed\n");
}

// With the real body limit (3 MiB): an object within it but above the stored-object limit.
TEST(LimitsObjectSize, ObjectLargerThanTheStoreTakesIs413) {
  podnet::testing::TempDir dir("pn-limits-size");
  ApiServerOptions options;
  options.data_dir = dir.path() + "/data";
  options.port = 0;
  auto server = ApiServer::start(options);
  ASSERT_TRUE(server) << server.error().message();
  TlsClient admin((*server)->port(), *read_file((*server)->pki_dir() + "/ca.crt"),
                  KeyPair{*read_file((*server)->pki_dir() + "/admin.crt"),
                          *read_file((*server)->pki_dir() + "/admin.key")});
  json::value event = {{"metadata", {{"name", "big"}}},
                       {"involvedObject", {{"kind", "Node"}, {"name", "n1"}}},
                       {"reason", "Big"},
                       {"message", std::string(2 * 1024 * 1024, 'm')}};
  auto r = admin.post("/api/v1/namespaces/default/events", event);
  EXPECT_EQ(r.status, 413) << r.body.substr(0, 300);
  EXPECT_EQ(r.json().at("reason"), "RequestEntityTooLarge");
  event.as_object()["message"] = std::string(1024 * 1024, 'm');
  r = admin.post("/api/v1/namespaces/default/events", event);
  EXPECT_EQ(r.status, 201) << r.body.substr(0, 300);
  // Past the body limit: refused before it is read, with kube's message.
  r = admin.request(http::verb::post, "/api/v1/namespaces/default/events",
                    std::string(limits::kMaxRequestBodyBytes + 1, ' '));
  EXPECT_EQ(r.status, 413);
}

}  // namespace
}  // namespace podnet::apiserver::testing
