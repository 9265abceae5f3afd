#include "controllers/node_ipam.h"

#include <set>

#include "controller_fixture.h"

namespace podnet::controllers::testing {
namespace {

class NodeIpamTest : public ControllerTest {
 protected:
  void start(const std::string& cidr = "10.244.0.0/16", int mask = 24) {
    auto c = NodeIpamController::make(*node_cache_, *recorder_, cidr, mask, [this] { return now(); });
    ASSERT_TRUE(c) << c.error().message();
    run(std::move(*c));
  }
  std::string cidr_of(const std::string& node) {
    auto n = nodes_->get("", node);
    return n ? string_at(*n, {"spec", "podCIDR"}) : "";
  }
  bool has_cidr(const std::string& node) { return !cidr_of(node).empty(); }
};

TEST_F(NodeIpamTest, EveryNodeGetsItsOwnRange) {
  start();
  for (auto name : {"n1", "n2", "n3"}) must(nodes_->create("", node(name)));
  ASSERT_TRUE(eventually([&] { return has_cidr("n1") && has_cidr("n2") && has_cidr("n3"); }));
  std::set<std::string> cidrs;
  for (auto name : {"n1", "n2", "n3"}) {
    auto n = must(nodes_->get("", name));
    std::string cidr = string_at(n, {"spec", "podCIDR"});
    EXPECT_EQ(json::serialize(n.at("spec").at("podCIDRs")), "[\"" + cidr + "\"]");
    cidrs.insert(cidr);
  }
  EXPECT_EQ(cidrs, (std::set<std::string>{"10.244.0.0/24", "10.244.1.0/24", "10.244.2.0/24"}));
}

TEST_F(NodeIpamTest, ARangeAlreadySetIsKeptAndNotGivenAgain) {
  auto n0 = node("n0");
  n0["spec"] = {{"podCIDR", "10.244.0.0/24"}, {"podCIDRs", json::array{"10.244.0.0/24"}}};
  must(nodes_->create("", n0));
  start();
  must(nodes_->create("", node("n1")));
  ASSERT_TRUE(eventually([&] { return has_cidr("n1"); }));
  EXPECT_EQ(cidr_of("n0"), "10.244.0.0/24");
  EXPECT_EQ(cidr_of("n1"), "10.244.1.0/24");
}

TEST_F(NodeIpamTest, ExhaustedRangeIsAnEventAndADeletedNodeFreesItsRange) {
  start("10.244.0.0/23", 24);  // two ranges
  must(nodes_->create("", node("n1")));
  ASSERT_TRUE(eventually([&] { return has_cidr("n1"); }));
  must(nodes_->create("", node("n2")));
  ASSERT_TRUE(eventually([&] { return has_cidr("n2"); }));
  must(nodes_->create("", node("n3")));
  auto warned = [&] {
    auto events = events_->list();
    if (!events) return false;
    for (const auto& e : events->items)
      if (string_at(*e, {"reason"}) == "CIDRNotAvailable" &&
          string_at(*e, {"involvedObject", "name"}) == "n3" && string_at(*e, {"type"}) == "Warning")
        return true;
    return false;
  };
  ASSERT_TRUE(eventually(warned));
  EXPECT_FALSE(has_cidr("n3"));

  std::string freed = cidr_of("n1");
  must(nodes_->remove("", "n1"));
  ASSERT_TRUE(eventually([&] { return has_cidr("n3"); }));
  EXPECT_EQ(cidr_of("n3"), freed);
}

TEST_F(NodeIpamTest, AllocationsAreRebuiltFromNodesAfterARestart) {
  start();
  must(nodes_->create("", node("n1")));
  ASSERT_TRUE(eventually([&] { return has_cidr("n1"); }));
  must(nodes_->create("", node("n2")));
  ASSERT_TRUE(eventually([&] { return has_cidr("n2"); }));
  ASSERT_EQ(cidr_of("n1"), "10.244.0.0/24");
  ASSERT_EQ(cidr_of("n2"), "10.244.1.0/24");

  restart_store();
  must(nodes_->remove("", "n1"));  // while no controller runs
  start();
  must(nodes_->create("", node("n3")));
  ASSERT_TRUE(eventually([&] { return has_cidr("n3"); }));
  must(nodes_->create("", node("n4")));
  ASSERT_TRUE(eventually([&] { return has_cidr("n4"); }));
  EXPECT_EQ(cidr_of("n2"), "10.244.1.0/24");
  EXPECT_EQ(cidr_of("n3"), "10.244.0.0/24");  // n1's, free again
  EXPECT_EQ(cidr_of("n4"), "10.244.2.0/24");  // not n2's
}

TEST_F(NodeIpamTest, AConflictingWriteIsRetriedOnAFreshRead) {
  ConflictingClient flaky(*api_);
  flaky.conflicts = 3;
  node_cache_ = std::make_unique<Cache>(flaky, kNodesPath);
  start();
  must(nodes_->create("", node("n1")));
  ASSERT_TRUE(eventually([&] { return has_cidr("n1"); }));
  EXPECT_EQ(flaky.writes_refused, 3);
  EXPECT_EQ(cidr_of("n1"), "10.244.0.0/24");
}

TEST_F(NodeIpamTest, BadClusterCidrIsRefused) {
  EXPECT_FALSE(
      NodeIpamController::make(*node_cache_, *recorder_, "10.244.0.0/16", 8, [this] { return now(); }));
  EXPECT_FALSE(NodeIpamController::make(*node_cache_, *recorder_, "nonsense", 24, [this] { return now(); }));
}

}  // namespace
}  // namespace podnet::controllers::testing
