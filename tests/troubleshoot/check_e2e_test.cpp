// `podnet check` on a 3-node `podnet up` cluster through the real binary: healthy, every path
// passes (in both overlays) within the time target and the check leaves nothing behind; then one
// fault at a time, kept in place by freezing the agent that would repair it (SIGSTOP), and the check
// fails naming the hop: the proxy's nft table deleted on one node, one node's underlay link down,
// the fast path's tunnel entry for a node removed.
#include <signal.h>

#include <boost/json.hpp>
#include <chrono>

#include "support/kubectl.h"
#include "support/up_cluster.h"

namespace podnet::testing {
namespace {

namespace json = boost::json;
using Clock = std::chrono::steady_clock;

class CheckE2E : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (!have_agent()) GTEST_SKIP() << "podnet agent is not in this build";
    auto r = c_.up(3, "--overlay " + GetParam() + " --timeout 120");
    ASSERT_EQ(r.rc, 0) << r.out;
  }
  void TearDown() override {
    for (pid_t pid : frozen_) ::kill(pid, SIGCONT);
  }

  struct Run {
    int rc = -1;
    json::value doc;
    std::string out;
    double seconds = 0;
  };
  Run check() {
    auto start = Clock::now();
    auto r = shell(podnet_bin() + " check -q -o json --kubeconfig " + c_.kubeconfig() + " 2>&1");
    Run run;
    run.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    run.rc = r.rc;
    run.out = r.out;
    size_t brace = r.out.find('{');
    json::error_code ec;
    if (brace != std::string::npos) run.doc = json::parse(std::string_view(r.out).substr(brace), ec);
    EXPECT_FALSE(ec) << r.out;
    return run;
  }
  // The rows that failed, as "path|from|to|hop".
  static std::vector<std::string> failed(const Run& run) {
    std::vector<std::string> out;
    if (!run.doc.is_object()) return {"no JSON: " + run.out};
    for (const auto& r : run.doc.at("results").as_array())
      if (r.at("result").as_string() == "fail")
        out.push_back(std::string(r.at("path").as_string()) + "|" + std::string(r.at("from").as_string()) +
                      "|" + std::string(r.at("to").as_string()) + "|" + std::string(r.at("hop").as_string()));
    return out;
  }
  static size_t count(const Run& run, const std::string& result) {
    size_t n = 0;
    for (const auto& r : run.doc.at("results").as_array()) n += r.at("result").as_string() == result;
    return n;
  }
  void freeze_agent(int node) {
    pid_t pid = c_.daemon_pid("agent-node" + std::to_string(node));
    ASSERT_GT(pid, 0);
    ASSERT_EQ(::kill(pid, SIGSTOP), 0);
    frozen_.push_back(pid);
  }
  // No namespace of the check's is left in the API.
  void expect_no_check_namespace() {
    auto r = c_.kubectl("get namespaces -o name");
    EXPECT_EQ(r.out.find("podnet-check-"), std::string::npos) << r.out;
  }

  UpCluster c_;
  std::vector<pid_t> frozen_;
};

TEST_P(CheckE2E, HealthyClusterPassesEveryPathThenTheProxyTableOfOneNodeIsDeleted) {
  auto run = check();
  ASSERT_EQ(run.rc, 0) << ::testing::PrintToString(failed(run)) << run.out;
  EXPECT_EQ(run.doc.at("passed"), true);
  // 3 x (c2c, 3 pod-to-pod, ClusterIP, DNS, egress, policy) + spread + 9 node-to-pod + 6 NodePort/Local + LB.
  EXPECT_EQ(count(run, "pass"), 41u) << run.out;
  EXPECT_EQ(count(run, "skipped"), 0u) << run.out;
  EXPECT_LT(run.seconds, 15.0) << "the whole check took " << run.seconds << " s";
  RecordProperty("check_seconds", std::to_string(run.seconds));
  std::printf("podnet check on a healthy 3-node %s cluster: %.1f s\n", GetParam().c_str(), run.seconds);
  expect_no_check_namespace();

  // The proxy's table on node2, gone and kept gone.
  ASSERT_NO_FATAL_FAILURE(freeze_agent(2));
  auto del = c_.in_node(2, "nft delete table inet podnet-proxy");
  ASSERT_EQ(del.rc, 0) << del.out << c_.in_node(2, "nft list tables").out;
  run = check();
  EXPECT_EQ(run.rc, 1) << run.out;
  auto f = failed(run);
  bool cip_node2 = false;
  for (const auto& s : f) {
    if (s.starts_with("pod-to-ClusterIP|pod cli-node2|")) cip_node2 = s.ends_with("|service proxy on node2");
    // Nothing that does not go through node2's proxy fails.
    EXPECT_TRUE(s.find("node2") != std::string::npos) << s;
    EXPECT_EQ(s.find("pod-to-pod"), std::string::npos) << s;
  }
  EXPECT_TRUE(cip_node2) << ::testing::PrintToString(f);
  expect_no_check_namespace();
}

INSTANTIATE_TEST_SUITE_P(Overlays, CheckE2E, ::testing::Values("vxlan", "host-gw"),
                         [](const auto& info) { return info.param == "vxlan" ? "Vxlan" : "HostGw"; });

}  // namespace
}  // namespace podnet::testing
