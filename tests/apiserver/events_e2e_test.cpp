// Events through the real binary: a node's credential writes events only about itself and the pods
// bound to it (raw HTTPS), kubectl lists them with kube's field selectors and `describe` shows a pod's,
// --event-ttl deletes events that long after their last write (not after their first), and
// EventRateLimit answers 429 with Retry-After.
#include <chrono>
#include <thread>

#include "node_credential_fixture.h"

namespace podnet::apiserver::testing {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

json::object pod(const std::string& name, const std::string& node) {
  return {{"apiVersion", "v1"},
          {"kind", "Pod"},
          {"metadata", {{"name", name}}},
          {"spec",
           {{"nodeName", node},
            {"containers", json::array{json::object{
                               {"name", "c"}, {"image", "none"}, {"command", json::array{"sleep"}}}}}}}};
}

// An event as kubelet writes it about `kind`/`name` (a pod in default, or a node).
json::object event(const std::string& name, const std::string& kind, const std::string& about,
                   const std::string& reason = "Started") {
  json::object involved{{"kind", kind}, {"name", about}, {"apiVersion", "v1"}};
  if (kind == "Pod") {
    involved["namespace"] = "default";
    involved["fieldPath"] = "spec.containers{c}";
  }
  return {{"apiVersion", "v1"},
          {"kind", "Event"},
          {"metadata", {{"name", name}, {"namespace", "default"}}},
          {"involvedObject", std::move(involved)},
          {"reason", reason},
          {"message", reason + " container c"},
          {"type", "Normal"},
          {"source", {{"component", "kubelet"}, {"host", "node1"}}},
          {"firstTimestamp", "2024-01-01T00:00:00Z"},
          {"lastTimestamp", "2024-01-01T00:00:00Z"},
          {"count", 1}};
}

constexpr const char* kEvents = "/api/v1/namespaces/default/events";

class EventsE2E : public NodeCredentialTest {
 protected:
  explicit EventsE2E(std::vector<std::string> args = {}) : NodeCredentialTest("pn-events", std::move(args)) {}

  // Nodes node1 and node2 (so that pod GC leaves their pods alone), web on node1, db on node2.
  void make_pods() {
    for (const char* n : {"node1", "node2"}) {
      auto r = admin().post("/api/v1/nodes", json::object{{"metadata", {{"name", n}}}});
      ASSERT_EQ(r.status, 201) << r.body;
    }
    for (auto [name, node] : {std::pair{"web", "node1"}, std::pair{"db", "node2"}}) {
      auto r = admin().post("/api/v1/namespaces/default/pods", pod(name, node));
      ASSERT_EQ(r.status, 201) << r.body;
      uids_[name] = str(r.json(), {"metadata", "uid"});
    }
  }
  // An event about pod `about` with its uid, as kubelet writes them.
  json::object pod_event(const std::string& name, const std::string& about) {
    json::object e = event(name, "Pod", about);
    e["involvedObject"].as_object()["uid"] = uids_[about];
    return e;
  }
  std::map<std::string, std::string> uids_;
  bool exists(const std::string& event) {
    return admin().get(std::string(kEvents) + "/" + event).status == 200;
  }
};

TEST_F(EventsE2E, ANodeWritesEventsOnlyAboutItselfAndItsOwnPods) {
  ASSERT_NO_FATAL_FAILURE(make_pods());
  auto n1 = as_node("node1");
  auto mine = n1.post(kEvents, pod_event("web.1", "web"));
  EXPECT_EQ(mine.status, 201) << mine.body;
  auto self = n1.post(kEvents, event("node1.1", "Node", "node1", "Starting"));
  EXPECT_EQ(self.status, 201) << self.body;

  auto theirs = n1.post(kEvents, event("db.1", "Pod", "db"));
  EXPECT_EQ(theirs.status, 403) << theirs.body;
  EXPECT_EQ(str(theirs.json(), {"reason"}), "Forbidden");
  EXPECT_EQ(str(theirs.json(), {"message"}),
            "events \"db.1\" is forbidden: node \"node1\" can only create events about pods bound to it; pod "
            "\"default/db\" is not");
  EXPECT_EQ(n1.post(kEvents, event("node2.1", "Node", "node2")).status, 403);
  EXPECT_EQ(n1.post(kEvents, event("ghost.1", "Pod", "ghost")).status, 403);
  auto svc = event("kubernetes.1", "Service", "kubernetes");
  svc["involvedObject"].as_object()["namespace"] = "default";
  EXPECT_EQ(n1.post(kEvents, svc).status, 403);
  // Nor in another namespace than the pod's.
  auto elsewhere = event("web.2", "Pod", "web");
  elsewhere["metadata"].as_object()["namespace"] = "kube-system";
  EXPECT_EQ(n1.post("/api/v1/namespaces/kube-system/events", elsewhere).status, 403);
  // Nor take over another node's event by a patch.
  ASSERT_EQ(as_node("node2").post(kEvents, event("db.1", "Pod", "db")).status, 201);
  auto hijack = patch(n1, std::string(kEvents) + "/db.1", R"({"involvedObject":{"name":"web"},"count":9})");
  EXPECT_EQ(hijack.status, 403) << hijack.body;
  auto counted =
      patch(n1, std::string(kEvents) + "/web.1", R"({"count":2})", "application/strategic-merge-patch+json");
  EXPECT_EQ(counted.status, 200) << counted.body;
  EXPECT_FALSE(exists("db.2") || exists("node2.1") || exists("ghost.1"));

  if (!have_kubectl()) GTEST_SKIP() << "no kubectl for the listing half";
  auto listed = kubectl({"get", "events", "--field-selector", "involvedObject.name=web"});
  EXPECT_EQ(listed.code, 0) << listed.out;
  EXPECT_NE(listed.out.find("LAST SEEN"), std::string::npos) << listed.out;
  EXPECT_NE(listed.out.find("pod/web"), std::string::npos) << listed.out;
  EXPECT_EQ(listed.out.find("pod/db"), std::string::npos) << listed.out;
  auto wide = kubectl({"get", "events", "-o", "wide", "--field-selector", "source=kubelet,reason=Started"});
  EXPECT_NE(wide.out.find("spec.containers{c}"), std::string::npos) << wide.out;
  EXPECT_NE(wide.out.find("kubelet, node1"), std::string::npos) << wide.out;
  auto bad = kubectl({"get", "events", "--field-selector", "involvedObject.color=red"});
  EXPECT_NE(bad.code, 0);
  EXPECT_NE(bad.out.find("field label not supported"), std::string::npos) << bad.out;
  // describe lists the events whose involvedObject is the pod (a field selector on its kind,
  // namespace, name and uid).
  auto described = kubectl({"describe", "pod", "web"});
  EXPECT_EQ(described.code, 0) << described.out;
  auto at = described.out.find("Events:");
  ASSERT_NE(at, std::string::npos) << described.out;
  EXPECT_NE(described.out.find("Started", at), std::string::npos) << described.out;
  EXPECT_NE(described.out.find("kubelet  Started container c", at), std::string::npos) << described.out;
  EXPECT_EQ(described.out.find("Events:          <none>"), std::string::npos) << described.out;
}

class EventTtlE2E : public EventsE2E {
 protected:
  EventTtlE2E() : EventsE2E({"--event-ttl", "3s"}) {}
};

TEST_F(EventTtlE2E, EventsGoTheTtlAfterTheirLastWrite) {
  auto a = admin();
  ASSERT_EQ(a.post(kEvents, event("once.1", "Pod", "web")).status, 201);
  ASSERT_EQ(a.post(kEvents, event("again.1", "Pod", "web")).status, 201);
  auto created = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(2s);
  EXPECT_TRUE(exists("once.1")) << "deleted before its TTL";
  auto repeat =
      patch(a, std::string(kEvents) + "/again.1", R"({"count":2,"lastTimestamp":"2024-01-01T00:00:02Z"})");
  ASSERT_EQ(repeat.status, 200) << repeat.body;
  auto written_again = std::chrono::steady_clock::now();
  while (exists("once.1") && std::chrono::steady_clock::now() - created < 15s)
    std::this_thread::sleep_for(100ms);
  EXPECT_FALSE(exists("once.1")) << "never deleted";
  EXPECT_LT(std::chrono::steady_clock::now() - created, 5s);
  // The patched one lives on: its TTL counts from the patch.
  if (std::chrono::steady_clock::now() - written_again < 2500ms) {
    EXPECT_TRUE(exists("again.1"));
  }
  while (exists("again.1") && std::chrono::steady_clock::now() - written_again < 15s)
    std::this_thread::sleep_for(100ms);
  EXPECT_FALSE(exists("again.1"));
  EXPECT_GE(std::chrono::steady_clock::now() - written_again, 2900ms);
}

class EventRateE2E : public EventsE2E {
 protected:
  EventRateE2E() : EventsE2E({"--event-rate-limit", "User=0.2/3"}) {}
};

TEST_F(EventRateE2E, OverTheLimitIs429WithRetryAfter) {
  ASSERT_NO_FATAL_FAILURE(make_pods());
  auto a = admin();
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(a.post(kEvents, event("web.a" + std::to_string(i), "Pod", "web")).status, 201);
  auto over = a.post(kEvents, event("web.a3", "Pod", "web"));
  EXPECT_EQ(over.status, 429) << over.body;
  EXPECT_EQ(str(over.json(), {"reason"}), "TooManyRequests");
  EXPECT_EQ(str(over.json(), {"message"}),
            "Too many requests: limit reached on type User for key podnet-admin")
      << over.body;
  EXPECT_EQ(std::string(over.headers[http::field::retry_after]), "5");
  EXPECT_FALSE(exists("web.a3"));
  // Another user has its own bucket; other writes are not limited.
  EXPECT_EQ(as_node("node1").post(kEvents, event("web.n1", "Pod", "web")).status, 201);
  EXPECT_EQ(a.post("/api/v1/namespaces/default/pods", pod("more", "node1")).status, 201);
}

}  // namespace
}  // namespace podnet::apiserver::testing
