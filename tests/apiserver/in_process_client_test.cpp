// The API server's in-process client (what the controllers use) against the same server over
// HTTPS: for each identity and request of a table, both paths must give the same answer (status,
// and for a refusal the same reason and message), so the in-process path can neither do more nor
// less than the same caller over the network. Also: the in-process client's watch, and a
// controller cache (client::Cache) over it.
#include "apiserver/in_process_client.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <chrono>
#include <functional>
#include <mutex>
#include <thread>
#include <tuple>

#include "api_fixture.h"
#include "apiserver/auth/authorizer.h"
#include "client/cache.h"
#include "common/files.h"

namespace podnet::apiserver::testing {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

struct Caller {
  const char* name;
  Identity identity;
};

// One request, built per path so that a write that succeeds does not change what the other path
// meets: `suffix` is "a" for the in-process request and "b" for the HTTPS one.
struct Case {
  const char* what;
  std::function<std::tuple<http::verb, std::string, std::string>(const std::string& suffix)> request;
};

class InProcessClientTest : public ApiServerTest {
 protected:
  void SetUp() override {
    ApiServerTest::SetUp();
    if (HasFatalFailure()) return;
    auto ca_key = read_file(server_->pki_dir() + "/ca.key");
    ASSERT_TRUE(ca_key);
    ca_ = KeyPair{ca_pem_, *ca_key};
    // Nodes n1, n2 and, per path, a pending pod p-<x>, a pod q-<x> bound to n2 and a node m-<x>.
    for (const char* n : {"n1", "n2", "m-a", "m-b"})
      create("/api/v1/nodes", json::object{{"metadata", {{"name", n}}}});
    for (const char* x : {"a", "b"}) {
      create("/api/v1/namespaces/default/pods", pod(std::string("p-") + x));
      auto bound = pod(std::string("q-") + x);
      bound.as_object()["spec"].as_object()["nodeName"] = "n2";
      create("/api/v1/namespaces/default/pods", bound);
    }
  }

  TlsClient https_as(const Identity& who) {
    if (!who.authenticated) return anonymous();
    CertRequest req;
    req.common_name = who.user;
    req.organizations = who.groups;
    req.client_auth = true;
    auto leaf = make_leaf(ca_, req);
    EXPECT_TRUE(leaf) << leaf.error().message();
    return TlsClient(server_->port(), ca_pem_, leaf ? std::optional<KeyPair>(*leaf) : std::nullopt);
  }

  KeyPair ca_;
};

std::string field(const std::string& body, const char* key) {
  boost::system::error_code ec;
  json::value v = json::parse(body, ec);
  const json::object* o = ec ? nullptr : v.if_object();
  const json::value* f = o ? o->if_contains(key) : nullptr;
  return f && f->is_string() ? std::string(f->get_string()) : std::string();
}

TEST_F(InProcessClientTest, RefusedExactlyWhenTheSameRequestOverHttpsIs) {
  const std::vector<Caller> callers{
      {"controller", controller_identity()},
      {"node n1", Identity{true, "system:node:n1", {"system:nodes"}}},
      {"user without a role", Identity{true, "jane", {"developers"}}},
      {"anonymous", Identity{}},
  };
  auto pod_body = [](const std::string& name) { return json::serialize(pod(name)); };
  const std::vector<Case> cases{
      {"list pods",
       [](const std::string&) {
         return std::tuple{http::verb::get, "/api/v1/pods", ""};
       }},
      {"get a node",
       [](const std::string&) {
         return std::tuple{http::verb::get, "/api/v1/nodes/n1", ""};
       }},
      {"list secrets",
       [](const std::string&) {
         return std::tuple{http::verb::get, "/api/v1/secrets", ""};
       }},
      {"create a pod",
       [&](const std::string& x) {
         return std::tuple{http::verb::post, "/api/v1/namespaces/default/pods", pod_body("new-" + x)};
       }},
      {"bind a pending pod",
       [](const std::string& x) {
         return std::tuple{
             http::verb::post, "/api/v1/namespaces/default/pods/p-" + x + "/binding",
             std::string(R"({"metadata":{"name":"p-)") + x + R"("},"target":{"kind":"Node","name":"n1"}})"};
       }},
      {"bind a bound pod",
       [](const std::string& x) {
         return std::tuple{
             http::verb::post, "/api/v1/namespaces/default/pods/q-" + x + "/binding",
             std::string(R"({"metadata":{"name":"q-)") + x + R"("},"target":{"kind":"Node","name":"n1"}})"};
       }},
      {"set a pod's status",
       [](const std::string& x) {
         return std::tuple{http::verb::patch, "/api/v1/namespaces/default/pods/q-" + x + "/status",
                           std::string(R"({"status":{"phase":"Running"}})")};
       }},
      {"taint a node",
       [](const std::string& x) {
         return std::tuple{http::verb::patch, "/api/v1/nodes/m-" + x,
                           std::string(R"({"spec":{"taints":[{"key":"k","effect":"NoSchedule"}]}})")};
       }},
      {"an invalid pod CIDR",
       [](const std::string& x) {
         return std::tuple{http::verb::patch, "/api/v1/nodes/m-" + x,
                           std::string(R"({"spec":{"podCIDRs":["nonsense"]}})")};
       }},
      {"delete a namespace",
       [](const std::string&) {
         return std::tuple{http::verb::delete_, "/api/v1/namespaces/kube-public", ""};
       }},
      {"create a NetworkPolicy",
       [](const std::string& x) {
         return std::tuple{
             http::verb::post, "/apis/networking.k8s.io/v1/namespaces/default/networkpolicies",
             std::string(R"({"metadata":{"name":"np-)") + x + R"("},"spec":{"podSelector":{}}})"};
       }},
      {"record an event",
       [](const std::string& x) {
         return std::tuple{
             http::verb::post, "/api/v1/namespaces/default/events",
             std::string(R"({"metadata":{"name":"e-)") + x +
                 R"("},"involvedObject":{"kind":"Node","name":"n1"},"reason":"R","message":"m","type":"Normal"})"};
       }},
  };
  int allowed = 0, refused = 0;
  for (const auto& caller : callers) {
    InProcessClient in_process(server_->handler(), caller.identity);
    TlsClient https = https_as(caller.identity);
    for (const auto& c : cases) {
      auto [method, target_a, body_a] = c.request("a");
      auto [method_b, target_b, body_b] = c.request("b");
      bool patch = method == http::verb::patch;
      std::string type = patch ? "application/merge-patch+json" : "application/json";
      Reply local = in_process.roundtrip(method, target_a, body_a, body_a.empty() ? "" : type);
      HttpResult remote = https.request(method_b, target_b, body_b, type);
      SCOPED_TRACE(std::string(caller.name) + ": " + c.what + "\nin-process: " + local.msg.body() +
                   "\nhttps: " + remote.body);
      EXPECT_EQ(local.msg.result_int(), static_cast<unsigned>(remote.status));
      if (remote.status >= 400) {
        ++refused;
        EXPECT_EQ(field(local.msg.body(), "reason"), field(remote.body, "reason"));
        // Names differ by the suffix; the rest of the message is the same.
        std::string m = field(local.msg.body(), "message"), n = field(remote.body, "message");
        for (auto* s : {&m, &n})
          for (const char* from : {"-a", "-b"})
            for (size_t at; (at = s->find(from)) != std::string::npos;) s->replace(at, 2, "-x");
        EXPECT_EQ(m, n);
      } else {
        ++allowed;
      }
    }
  }
  // The table exercises both outcomes for the controller and the others.
  EXPECT_GE(allowed, 8);
  EXPECT_GE(refused, 20);
}

TEST_F(InProcessClientTest, ControllerIdentityWritesWhatItsControllersOwn) {
  InProcessClient api(server_->handler(), controller_identity());
  auto bound = api.create(
      "/api/v1/namespaces/default/pods/p-a/binding",
      json::object{{"metadata", {{"name", "p-a"}}}, {"target", {{"kind", "Node"}, {"name", "n1"}}}});
  ASSERT_TRUE(bound) << bound.error().message();
  auto bound_pod = api.get("/api/v1/namespaces/default/pods/p-a");
  ASSERT_TRUE(bound_pod);
  EXPECT_EQ(str(*bound_pod, {"spec", "nodeName"}), "n1");
  auto again = api.create(
      "/api/v1/namespaces/default/pods/p-a/binding",
      json::object{{"metadata", {{"name", "p-a"}}}, {"target", {{"kind", "Node"}, {"name", "n2"}}}});
  ASSERT_FALSE(again);
  EXPECT_TRUE(k8s::is_conflict(again.error())) << again.error().message();
  auto created = api.create("/api/v1/namespaces/default/pods", pod("new"));
  ASSERT_FALSE(created);
  EXPECT_EQ(created.error().code, EACCES) << created.error().message();
  EXPECT_NE(created.error().message().find("system:kube-controller-manager"), std::string::npos);
  // Deletion with DeleteOptions (pod GC): a wrong uid is a conflict, the right one deletes.
  auto wrong = api.remove("/api/v1/namespaces/default/pods/q-a",
                          json::object{{"gracePeriodSeconds", 0}, {"preconditions", {{"uid", "nope"}}}});
  ASSERT_FALSE(wrong);
  EXPECT_TRUE(k8s::is_conflict(wrong.error()));
  auto q = api.get("/api/v1/namespaces/default/pods/q-a");
  ASSERT_TRUE(q);
  ASSERT_TRUE(api.remove(
      "/api/v1/namespaces/default/pods/q-a",
      json::object{{"gracePeriodSeconds", 0}, {"preconditions", {{"uid", str(*q, {"metadata", "uid"})}}}}));
  EXPECT_TRUE(k8s::is_not_found(api.get("/api/v1/namespaces/default/pods/q-a").error()));
}

TEST_F(InProcessClientTest, WatchStreamsEventsAndCancels) {
  InProcessClient api(server_->handler(), controller_identity());
  auto page = api.list("/api/v1/pods", 1, "");
  ASSERT_TRUE(page) << page.error().message();
  EXPECT_EQ(page->items.size(), 1u);
  EXPECT_FALSE(page->continue_token.empty()) << "paged by limit";
  auto all = api.list("/api/v1/pods", 100, "");
  ASSERT_TRUE(all);
  auto watch = api.watch("/api/v1/pods", all->resource_version);
  ASSERT_TRUE(watch) << watch.error().message();
  create("/api/v1/namespaces/default/pods", pod("w"));
  // A BOOKMARK may come at any time (the server sends them periodically): not an event of the store.
  auto next_event = [&] {
    auto e = (*watch)->next();
    while (e && *e && (**e).type == k8s::WatchEvent::Type::kBookmark) e = (*watch)->next();
    return e;
  };
  auto event = next_event();
  ASSERT_TRUE(event && *event) << (event ? "end" : event.error().message());
  EXPECT_EQ((*event)->type, k8s::WatchEvent::Type::kAdded);
  EXPECT_EQ(str((*event)->object, {"metadata", "name"}), "w");
  std::thread canceller([&] {
    std::this_thread::sleep_for(100ms);
    (*watch)->cancel();
  });
  auto started = std::chrono::steady_clock::now();
  auto ended = next_event();
  canceller.join();
  ASSERT_FALSE(ended);
  EXPECT_EQ(ended.error().code, ECANCELED);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 2s);
  // A watch the caller may not open is refused at once, as over HTTPS.
  InProcessClient nobody(server_->handler(), Identity{true, "jane", {}});
  auto refused = nobody.watch("/api/v1/pods", "");
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, EACCES);
}

TEST_F(InProcessClientTest, CacheOverTheInProcessClientFollowsTheStore) {
  InProcessClient api(server_->handler(), controller_identity());
  client::Cache pods(api, "/api/v1/pods");
  pods.add_index("node", client::pod_node_index);
  std::vector<std::string> seen;
  std::mutex mu;
  pods.add_handler([&](client::Change change, const client::ObjectPtr& obj, const client::ObjectPtr&) {
    std::lock_guard lock(mu);
    seen.push_back(std::to_string(static_cast<int>(change)) + " " + str(*obj, {"metadata", "name"}));
  });
  pods.start();
  ASSERT_TRUE(pods.wait_synced(5s));
  EXPECT_EQ(pods.list("default").size(), 4u);
  EXPECT_EQ(pods.by_index("node", "n2").size(), 2u);
  auto made = create("/api/v1/namespaces/default/pods", pod("late"));
  ASSERT_TRUE(pods.wait_for_revision(str(made, {"metadata", "resourceVersion"}), 5s));
  EXPECT_TRUE(pods.get("default/late"));
  ASSERT_EQ(admin().del("/api/v1/namespaces/default/pods/late").status, 200);
  EXPECT_TRUE(pods.wait_gone({"default/late"}, 5s));
  pods.stop();
  std::lock_guard lock(mu);
  EXPECT_EQ(seen.back(), "2 late");
}

}  // namespace
}  // namespace podnet::apiserver::testing
