#include "controllers/scheduler.h"

#include <map>

#include "controller_fixture.h"

namespace podnet::controllers::testing {
namespace {

class SchedulerTest : public ControllerTest {
 protected:
  void start() {
    run(std::make_unique<Scheduler>(
        *pod_cache_, *node_cache_, [this] { return now(); }, *recorder_));
  }
  std::string node_of(const std::string& pod) {
    auto p = pods_->get("default", pod);
    return p ? string_at(*p, {"spec", "nodeName"}) : "";
  }
  json::value scheduled_condition(const std::string& pod) {
    auto p = must(pods_->get("default", pod));
    const auto* status = object_at(p, {"status"});
    if (status && status->contains("conditions"))
      for (const auto& c : status->at("conditions").as_array())
        if (string_at(c, {"type"}) == "PodScheduled") return c;
    return nullptr;
  }
};

TEST_F(SchedulerTest, PodsSpreadOverReadyNodes) {
  for (auto n : {"n1", "n2", "n3"}) must(nodes_->create("", node(n)));
  start();
  for (int i = 0; i < 6; ++i) must(pods_->create("default", pod("p" + std::to_string(i), {})));
  ASSERT_TRUE(eventually([&] {
    for (int i = 0; i < 6; ++i)
      if (node_of("p" + std::to_string(i)).empty()) return false;
    return true;
  }));
  std::map<std::string, int> per_node;
  for (int i = 0; i < 6; ++i) ++per_node[node_of("p" + std::to_string(i))];
  EXPECT_EQ(per_node, (std::map<std::string, int>{{"n1", 2}, {"n2", 2}, {"n3", 2}}));
  auto cond = scheduled_condition("p0");
  ASSERT_TRUE(cond.is_object());
  EXPECT_EQ(string_at(cond, {"status"}), "True");
}

TEST_F(SchedulerTest, PodsWaitPendingUntilANodeIsReady) {
  must(nodes_->create("", node("n1", false)));
  start();
  must(pods_->create("default", pod("p", {})));
  ASSERT_TRUE(eventually([&] { return scheduled_condition("p").is_object(); }));
  auto cond = scheduled_condition("p");
  EXPECT_EQ(string_at(cond, {"status"}), "False");
  EXPECT_EQ(string_at(cond, {"reason"}), "Unschedulable");
  EXPECT_EQ(string_at(cond, {"message"}), "0/1 nodes are available: 1 node(s) were not ready.");
  EXPECT_EQ(node_of("p"), "");
  EXPECT_EQ(string_at(must(pods_->get("default", "p")), {"status", "phase"}), "Pending");

  auto n1 = must(nodes_->get("", "n1"));
  n1.as_object()["status"] = {{"conditions", json::array{{{"type", "Ready"}, {"status", "True"}}}}};
  must(nodes_->update_status("", "n1", n1));
  ASSERT_TRUE(eventually([&] { return node_of("p") == "n1"; }));
  EXPECT_EQ(string_at(scheduled_condition("p"), {"status"}), "True");

  // kube-scheduler's events: the failed attempt, then the assignment.
  json::value failed, scheduled;
  ASSERT_TRUE(eventually([&] { return !(scheduled = event_about("p", "Scheduled")).is_null(); }));
  EXPECT_EQ(string_at(scheduled, {"message"}), "Successfully assigned default/p to n1");
  EXPECT_EQ(string_at(scheduled, {"type"}), "Normal");
  EXPECT_EQ(string_at(scheduled, {"involvedObject", "kind"}), "Pod");
  ASSERT_TRUE(eventually([&] { return !(failed = event_about("p", "FailedScheduling")).is_null(); }));
  EXPECT_EQ(string_at(failed, {"message"}), "0/1 nodes are available: 1 node(s) were not ready.");
  EXPECT_EQ(string_at(failed, {"type"}), "Warning");
}

TEST_F(SchedulerTest, UnschedulableAndTaintedNodesAreAvoidedUnlessTolerated) {
  auto cordoned = node("cordoned");
  cordoned["spec"] = {{"unschedulable", true}};
  must(nodes_->create("", cordoned));
  auto tainted = node("tainted");
  tainted["spec"] = {
      {"taints", json::array{{{"key", "dedicated"}, {"value", "db"}, {"effect", "NoSchedule"}}}}};
  must(nodes_->create("", tainted));
  must(nodes_->create("", node("open")));
  start();
  for (auto name : {"a", "b"}) must(pods_->create("default", pod(name, {})));
  ASSERT_TRUE(eventually([&] { return node_of("a") == "open" && node_of("b") == "open"; }));

  auto tolerant = pod("tolerant", {});
  tolerant["spec"].as_object()["tolerations"] =
      json::array{{{"key", "dedicated"}, {"operator", "Equal"}, {"value", "db"}, {"effect", "NoSchedule"}}};
  must(pods_->create("default", tolerant));
  ASSERT_TRUE(eventually([&] { return node_of("tolerant") == "tainted"; }));  // fewest pods
}

TEST_F(SchedulerTest, BoundPodsAreLeftAlone) {
  must(nodes_->create("", node("n1")));
  must(nodes_->create("", node("n2")));
  auto p = pod("pinned", {});
  p["spec"].as_object()["nodeName"] = "n2";
  auto created = must(pods_->create("default", p));
  start();
  must(pods_->create("default", pod("free", {})));
  ASSERT_TRUE(eventually([&] { return node_of("free") == "n1"; }));  // n2 already has one
  EXPECT_EQ(string_at(must(pods_->get("default", "pinned")), {"metadata", "resourceVersion"}),
            string_at(created, {"metadata", "resourceVersion"}));
}

TEST_F(SchedulerTest, BindingAnAlreadyBoundPodIsAConflict) {
  must(pods_->create("default", pod("p", {})));
  ASSERT_TRUE(pods_->bind("default", "p", "n1", "2024-01-01T00:00:00Z"));
  auto again = pods_->bind("default", "p", "n2", "2024-01-01T00:00:00Z");
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, 409);
  EXPECT_EQ(node_of("p"), "n1");
}

}  // namespace
}  // namespace podnet::controllers::testing
