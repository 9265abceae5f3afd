// Node lifecycle and pod GC together with the EndpointSlice controller, on the real object layer: a
// node whose agent goes silent loses its ready endpoints; a deleted node loses its pods (after the
// quarantine) and with them its endpoints. The clock is jumped ahead instead of waiting.
#include "controllers/node_lifecycle.h"

#include "controller_fixture.h"
#include "controllers/endpoint_slices.h"
#include "controllers/pod_gc.h"

namespace podnet::controllers::testing {
namespace {

class NodeLifecycleTest : public ControllerTest {
 protected:
  Clock clock() {
    return [this] { return now(); };
  }
  std::unique_ptr<Controller> slices() {
    return std::make_unique<EndpointSliceController>(*service_cache_, *pod_cache_, *slice_cache_, clock());
  }

  // What the agent's status patch does every 10 s: Ready=True with a new lastHeartbeatTime.
  void heartbeat(const std::string& name) {
    for (int attempt = 0; attempt < 5; ++attempt) {
      auto n = must(nodes_->get("", name));
      json::object ready{{"type", "Ready"},
                         {"status", "True"},
                         {"reason", "KubeletReady"},
                         {"lastHeartbeatTime", rfc3339(now())},
                         {"lastTransitionTime", rfc3339(now())}};
      n.as_object()["status"] = {{"conditions", json::array{std::move(ready)}}};
      if (nodes_->update_status("", name, n)) return;
    }
    ADD_FAILURE() << "heartbeat of " << name << " not written";
  }
  void add_node(const std::string& name) {
    must(nodes_->create("", node(name)));
    heartbeat(name);
  }

  json::value ready_condition(const json::value& obj) {
    const auto* status = object_at(obj, {"status"});
    if (status && status->contains("conditions"))
      for (const auto& c : status->at("conditions").as_array())
        if (string_at(c, {"type"}) == "Ready") return c;
    return nullptr;
  }
  std::string node_ready(const std::string& name) {
    auto n = nodes_->get("", name);
    return n ? string_at(ready_condition(*n), {"status"}) : "";
  }
  std::string pod_ready(const std::string& name) {
    auto p = pods_->get("default", name);
    return p ? string_at(ready_condition(*p), {"status"}) : "";
  }
  bool pod_exists(const std::string& name) { return pods_->get("default", name).has_value(); }
  std::string taints(const std::string& name) {
    auto n = nodes_->get("", name);
    const auto* spec = n ? object_at(*n, {"spec"}) : nullptr;
    const auto* t = spec ? spec->if_contains("taints") : nullptr;
    return t ? json::serialize(*t) : "";
  }

  void add_service(const std::string& name) {
    json::object spec{{"selector", {{"app", name}}},
                      {"ports", json::array{{{"name", "http"}, {"port", 80}, {"targetPort", 8080}}}}};
    must(services_->create("default",
                           json::object{{"metadata", {{"name", name}}}, {"spec", std::move(spec)}}));
  }
  void add_running_pod(const std::string& name, const std::string& ip, const std::string& node) {
    must(pods_->create("default", pod(name, {{"app", "web"}})));
    set_pod_status(name, ip, true, node);
  }
  // "ready" / "not-ready" per endpoint address of the service, "" when the address is not listed.
  std::string endpoint(const std::string& svc, const std::string& ip) {
    for (const auto& s : slices_of(svc))
      for (const auto& e : s.at("endpoints").as_array())
        if (e.at("addresses").at(0).as_string() == ip)
          return e.at("conditions").at("ready").as_bool() ? "ready" : "not-ready";
    return "";
  }
};

TEST_F(NodeLifecycleTest, SilentNodeGoesUnknownItsPodsAndEndpointsNotReadyUntilItPostsAgain) {
  add_node("n1");
  add_node("n2");
  add_service("web");
  add_running_pod("web-1", "10.244.1.5", "n1");
  add_running_pod("web-2", "10.244.2.5", "n2");
  std::vector<std::unique_ptr<Controller>> cs;
  cs.push_back(std::make_unique<NodeLifecycleController>(*node_cache_, *pod_cache_, clock(), 40s));
  cs.push_back(slices());
  run_all(std::move(cs));
  ASSERT_TRUE(eventually([&] { return endpoint("web", "10.244.1.5") == "ready"; }));
  ASSERT_TRUE(eventually([&] { return endpoint("web", "10.244.2.5") == "ready"; }));

  // Heartbeats within the grace period keep both nodes Ready, however long that goes on.
  for (int i = 0; i < 3; ++i) {
    advance(30s);
    heartbeat("n1");
    heartbeat("n2");
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_EQ(node_ready("n1"), "True");
  EXPECT_EQ(node_ready("n2"), "True");

  // n1's agent goes silent; n2's keeps posting.
  advance(30s);
  heartbeat("n2");
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(node_ready("n1"), "True") << "30 s without heartbeat is within the 40 s grace period";
  advance(11s);
  heartbeat("n2");
  ASSERT_TRUE(eventually([&] { return node_ready("n1") == "Unknown"; })) << node_ready("n1");
  auto cond = ready_condition(must(nodes_->get("", "n1")));
  EXPECT_EQ(string_at(cond, {"reason"}), "NodeStatusUnknown");
  EXPECT_EQ(string_at(cond, {"message"}), "Kubelet stopped posting node status.");
  EXPECT_TRUE(eventually([&] {
    return taints("n1") == R"([{"key":"node.kubernetes.io/unreachable","effect":"NoSchedule"}])";
  })) << taints("n1");
  EXPECT_TRUE(eventually([&] { return pod_ready("web-1") == "False"; }));
  EXPECT_TRUE(eventually([&] { return endpoint("web", "10.244.1.5") == "not-ready"; }))
      << endpoint("web", "10.244.1.5");
  EXPECT_EQ(node_ready("n2"), "True");
  EXPECT_EQ(pod_ready("web-2"), "True");
  EXPECT_EQ(endpoint("web", "10.244.2.5"), "ready");
  EXPECT_EQ(taints("n2"), "");

  // The agent is back: its status patch makes the node Ready, and the taint goes.
  heartbeat("n1");
  EXPECT_TRUE(eventually([&] { return taints("n1").empty(); })) << taints("n1");
  EXPECT_EQ(node_ready("n1"), "True");
}

TEST_F(NodeLifecycleTest, NodeThatNeverPostedStatusGoesUnknown) {
  must(nodes_->create("", json::object{{"metadata", {{"name", "n1"}}}}));
  run(std::make_unique<NodeLifecycleController>(*node_cache_, *pod_cache_, clock(), 40s, *recorder_));
  std::this_thread::sleep_for(100ms);  // the grace period runs from when the controller first saw it
  advance(41s);
  ASSERT_TRUE(eventually([&] { return node_ready("n1") == "Unknown"; }));
  EXPECT_EQ(string_at(ready_condition(must(nodes_->get("", "n1"))), {"reason"}), "NodeStatusNeverUpdated");
  EXPECT_TRUE(
      eventually([&] { return taints("n1").find("node.kubernetes.io/unreachable") != std::string::npos; }));
  // kube's node lifecycle events, in "default" (nodes have no namespace).
  json::value registered, not_ready;
  ASSERT_TRUE(eventually([&] { return !(registered = event_about("n1", "RegisteredNode")).is_null(); }));
  EXPECT_EQ(string_at(registered, {"message"}), "Node n1 event: Registered Node n1 in Controller");
  EXPECT_EQ(string_at(registered, {"metadata", "namespace"}), "default");
  ASSERT_TRUE(eventually([&] { return !(not_ready = event_about("n1", "NodeNotReady")).is_null(); }));
  EXPECT_EQ(string_at(not_ready, {"message"}), "Node n1 status is now: NodeNotReady");
}

TEST_F(NodeLifecycleTest, DeletedNodesPodsAreDeletedAfterTheQuarantineAndLeaveTheSlice) {
  add_node("n1");
  add_node("n2");
  add_service("web");
  add_running_pod("web-1", "10.244.1.5", "n1");
  add_running_pod("web-2", "10.244.2.5", "n2");
  add_running_pod("web-3", "10.244.1.6", "n1");
  mark_terminating("web-3");  // terminating pods of a node that is gone are never finished by it
  std::vector<std::unique_ptr<Controller>> cs;
  cs.push_back(std::make_unique<PodGcController>(*pod_cache_, *node_cache_, clock(), 5s));
  cs.push_back(slices());
  run_all(std::move(cs));
  ASSERT_TRUE(eventually([&] { return endpoint("web", "10.244.1.5") == "ready"; }));

  ASSERT_TRUE(nodes_->remove("", "n1"));
  std::this_thread::sleep_for(300ms);
  EXPECT_TRUE(pod_exists("web-1")) << "deleted within the quarantine";
  EXPECT_TRUE(pod_exists("web-3")) << "deleted within the quarantine";
  advance(5s);
  EXPECT_TRUE(eventually([&] { return !pod_exists("web-1") && !pod_exists("web-3"); }));
  EXPECT_TRUE(eventually([&] { return endpoint("web", "10.244.1.5").empty(); }));
  EXPECT_TRUE(pod_exists("web-2"));
  EXPECT_EQ(endpoint("web", "10.244.2.5"), "ready");
}

TEST_F(NodeLifecycleTest, PodsOfANodeThatRegistersWithinTheQuarantineAreKept) {
  must(pods_->create("default", pod("early", {})));
  set_pod_status("early", "10.244.3.5", true, "n3");  // bound to n3 before n3 exists
  run(std::make_unique<PodGcController>(*pod_cache_, *node_cache_, clock(), 5s));
  std::this_thread::sleep_for(100ms);
  advance(3s);
  add_node("n3");
  std::this_thread::sleep_for(100ms);
  advance(10s);
  std::this_thread::sleep_for(300ms);
  EXPECT_TRUE(pod_exists("early"));
  // And once n3 is gone for the quarantine, the pod goes.
  ASSERT_TRUE(nodes_->remove("", "n3"));
  std::this_thread::sleep_for(100ms);
  advance(6s);
  EXPECT_TRUE(eventually([&] { return !pod_exists("early"); }));
}

}  // namespace
}  // namespace podnet::controllers::testing
