// The planner and enforcer with a fake kernel: policies + pods + namespaces -> sets and maps, and
// updates written as element changes.
#include <gtest/gtest.h>

#include <algorithm>
#include <boost/json.hpp>

#include "policy/enforcer.h"
#include "policy/fixtures.h"
#include "policy/metrics.h"

namespace podnet::policy {
namespace {

namespace json = boost::json;
using testing::ns_json;
using testing::pod_json;
using testing::policy_json;

class FakeKernel : public PolicyKernel {
 public:
  Status apply(std::string_view cmds) override {
    if (fail_next) {
      fail_next = false;
      return fail_msg("nft: refused");
    }
    applied.emplace_back(cmds);
    return {};
  }
  std::vector<std::string> applied;
  bool fail_next = false;
};

class PolicyPlanner : public ::testing::Test {
 protected:
  PolicyPlanner() : e_(kernel_, "node1", {}) {
    e_.set_own_ranges({parse_prefix("10.244.1.0/24").value()});
    e_.upsert_namespace(ns_json("a", {{"team", "red"}}));
    e_.upsert_namespace(ns_json("b", {{"team", "blue"}}));
    // Local: a/x (web, http=80), a/y; remote: b/z, b/w.
    e_.upsert_pod(pod_json("a", "x", "node1", "10.244.1.2", {{"app", "web"}},
                           json::array{{{"name", "http"}, {"containerPort", 80}}}));
    e_.upsert_pod(pod_json("a", "y", "node1", "10.244.1.3", {{"app", "db"}}));
    e_.upsert_pod(pod_json("b", "z", "node2", "10.244.2.2", {{"app", "web"}},
                           json::array{{{"name", "http"}, {"containerPort", 8080}}}));
    e_.upsert_pod(pod_json("b", "w", "node2", "10.244.2.3", {{"app", "cli"}}));
  }
  void policy(const std::string& ns, const std::string& name, const char* spec) {
    ASSERT_TRUE(e_.upsert_policy(policy_json(ns, name, json::parse(spec).as_object())));
  }
  const TableState& sync() {
    auto r = e_.sync();
    EXPECT_TRUE(r) << r.error().message();
    return e_.state();
  }
  const std::map<std::string, std::string>& elems(const std::string& set) {
    return e_.state().sets.at(set).elements;
  }
  // The members of the class the verdict jumps to: the elements of the sets or maps its chain's
  // rules look up (pods' addresses, ipBlocks' intervals), and "*" for a rule that looks up nothing
  // (a rule allowing every peer).
  std::vector<std::string> members(const std::string& verdict) {
    std::vector<std::string> out;
    for (const auto& rule : e_.state().chains.at(verdict.substr(5))) {  // "jump ic-N"
      size_t at = rule.find('@');
      if (at == std::string::npos) {
        out.push_back("*");
        continue;
      }
      for (const auto& [k, _] : elems(rule.substr(at + 1, rule.find(' ', at) - at - 1))) out.push_back(k);
    }
    std::sort(out.begin(), out.end());
    return out;
  }
  // The set or map the chain's first rule looks up ("c1", "cm2").
  std::string lookup(const std::string& verdict) {
    const std::string& rule = e_.state().chains.at(verdict.substr(5)).at(0);
    size_t at = rule.find('@');
    return rule.substr(at + 1, rule.find(' ', at) - at - 1);
  }
  // The counter a class member's element names, as the rule it counts.
  RuleRef counted_by(const std::string& value) {
    EXPECT_TRUE(value.size() > 2 && value.front() == '"') << value;
    return e_.state().counters.at(value.substr(1, value.size() - 2));
  }
  FakeKernel kernel_;
  Enforcer e_;
};

using Strings = std::vector<std::string>;

TEST_F(PolicyPlanner, NoPolicyMeansOpenAndProgrammed) {
  sync();
  EXPECT_EQ(elems("local-pods").size(), 2u);
  EXPECT_TRUE(elems("ingress-isolated").empty());
  EXPECT_TRUE(elems("egress-isolated").empty());
  ASSERT_EQ(kernel_.applied.size(), 1u);
  EXPECT_NE(kernel_.applied[0].find("delete table inet podnet-policy"), std::string::npos);
  EXPECT_NE(kernel_.applied[0].find(
                "ip saddr 10.244.1.0/24 ip saddr != @local-pods counter name \"deny-pending\" drop"),
            std::string::npos);
}

TEST_F(PolicyPlanner, DefaultDenyIngressIsolatesWithNoAllow) {
  policy("a", "deny", R"({"podSelector":{}})");
  sync();
  EXPECT_EQ(elems("ingress-isolated").size(), 2u);
  EXPECT_TRUE(elems("egress-isolated").empty());
  EXPECT_TRUE(elems("in-ports").empty());
  EXPECT_TRUE(elems("in-any").empty());
  EXPECT_EQ(e_.selected_by("10.244.1.2"), "a/deny");
}

TEST_F(PolicyPlanner, AllowFromNamespaceByLabel) {
  policy("a", "from-blue", R"({"podSelector":{"matchLabels":{"app":"web"}},
      "ingress":[{"from":[{"namespaceSelector":{"matchLabels":{"team":"blue"}}}]}]})");
  sync();
  EXPECT_EQ(elems("ingress-isolated").size(), 1u);
  ASSERT_EQ(elems("in-any").size(), 1u);
  EXPECT_EQ(members(elems("in-any").at("10.244.1.2")),
            (Strings{"10.244.2.2", "10.244.2.3"}));  // adjacent: one interval
}

TEST_F(PolicyPlanner, PodAndNamespaceSelectorIsAndTwoPeersAreOr) {
  policy("a", "and", R"({"podSelector":{"matchLabels":{"app":"web"}},
      "ingress":[{"from":[{"namespaceSelector":{"matchLabels":{"team":"blue"}},"podSelector":{"matchLabels":{"app":"cli"}}}]}]})");
  policy("a", "or", R"({"podSelector":{"matchLabels":{"app":"db"}},
      "ingress":[{"from":[{"namespaceSelector":{"matchLabels":{"team":"blue"}}},{"podSelector":{"matchLabels":{"app":"cli"}}}]}]})");
  sync();
  EXPECT_EQ(members(elems("in-any").at("10.244.1.2")), (Strings{"10.244.2.3"}));
  // The podSelector alone means the policy's own namespace: no a/ pod is app=cli.
  EXPECT_EQ(members(elems("in-any").at("10.244.1.3")), (Strings{"10.244.2.2", "10.244.2.3"}));
}

TEST_F(PolicyPlanner, OverlappingPortRangesAreCutIntoDisjointSegments) {
  policy("a", "p1", R"({"podSelector":{"matchLabels":{"app":"web"}},
      "ingress":[{"from":[{"podSelector":{"matchLabels":{"app":"db"}}}],"ports":[{"port":80}]}]})");
  policy("a", "p2", R"({"podSelector":{"matchLabels":{"app":"web"}},
      "ingress":[{"from":[{"ipBlock":{"cidr":"192.0.2.0/24","except":["192.0.2.128/25"]}}],
                  "ports":[{"port":79,"endPort":90},{"protocol":"UDP"},{"protocol":"SCTP","port":"http"}]}]})");
  sync();
  const auto& m = elems("in-ports");
  ASSERT_EQ(m.size(), 4u) << ::testing::PrintToString(m);
  EXPECT_EQ(members(m.at("10.244.1.2 . tcp . 79")), (Strings{"192.0.2.0-192.0.2.127"}));
  EXPECT_EQ(members(m.at("10.244.1.2 . tcp . 80")), (Strings{"10.244.1.3", "192.0.2.0-192.0.2.127"}));
  EXPECT_EQ(members(m.at("10.244.1.2 . tcp . 81-90")), (Strings{"192.0.2.0-192.0.2.127"}));
  EXPECT_EQ(members(m.at("10.244.1.2 . udp . 0-65535")), (Strings{"192.0.2.0-192.0.2.127"}));
  // "http" is a TCP port on x: an SCTP rule naming it resolves to nothing.
}

TEST_F(PolicyPlanner, NamedPortsResolvePerDestinationPod) {
  policy("a", "in",
         R"({"podSelector":{"matchLabels":{"app":"web"}},"ingress":[{"ports":[{"port":"http"}]}]})");
  policy("a", "out", R"({"podSelector":{"matchLabels":{"app":"db"}},"policyTypes":["Egress"],
      "egress":[{"to":[{"namespaceSelector":{}}],"ports":[{"port":"http"}]}]})");
  sync();
  EXPECT_EQ(members(elems("in-ports").at("10.244.1.2 . tcp . 80")), (Strings{"*"}));
  ASSERT_EQ(elems("out-named").size(), 1u);
  std::string v = elems("out-named").at("10.244.1.3");
  std::string set = "n" + v.substr(v.rfind('-') + 1);
  ASSERT_EQ(elems(set).size(), 2u);
  for (const auto& key : {"10.244.1.2 . tcp . 80", "10.244.2.2 . tcp . 8080"})
    EXPECT_EQ(counted_by(elems(set).at(key)), (RuleRef{"a/out", "egress", 0}));
  EXPECT_TRUE(elems("egress-isolated").contains("10.244.1.3"));
}

TEST_F(PolicyPlanner, LabelChangeIsAnElementChange) {
  policy("a", "from-web", R"({"podSelector":{"matchLabels":{"app":"db"}},
      "ingress":[{"from":[{"namespaceSelector":{},"podSelector":{"matchLabels":{"app":"web"}}}]}]})");
  sync();
  EXPECT_EQ(members(elems("in-any").at("10.244.1.3")), (Strings{"10.244.1.2", "10.244.2.2"}));
  e_.upsert_pod(pod_json("b", "w", "node2", "10.244.2.3", {{"app", "web"}}));
  ASSERT_TRUE(e_.pending());
  sync();
  EXPECT_EQ(members(elems("in-any").at("10.244.1.3")), (Strings{"10.244.1.2", "10.244.2.2", "10.244.2.3"}));
  ASSERT_EQ(kernel_.applied.size(), 2u);
  const std::string& diff = kernel_.applied[1];
  EXPECT_EQ(diff.find("chain"), std::string::npos) << diff;
  EXPECT_EQ(diff.find("table inet podnet-policy {"), std::string::npos) << diff;
  // A member joining a class is one element added to its hash set (no interval re-merge).
  EXPECT_EQ(diff, "add element inet podnet-policy c1 { 10.244.2.3 }\n");
  // Status churn that changes nothing is no sync.
  e_.upsert_pod(pod_json("b", "w", "node2", "10.244.2.3", {{"app", "web"}}));
  EXPECT_FALSE(e_.pending());
}

TEST_F(PolicyPlanner, ClassesAreSharedAcrossPoliciesAndPods) {
  // 50 policies naming the same peers over both local pods: one class, whose members appear once.
  for (int i = 0; i < 50; ++i)
    policy(
        "a", "p" + std::to_string(i),
        R"({"podSelector":{},"ingress":[{"from":[{"namespaceSelector":{"matchLabels":{"team":"blue"}}}]}]})");
  for (int i = 0; i < 200; ++i)
    e_.upsert_pod(
        pod_json("b", "r" + std::to_string(i), "node2", "10.244.3." + std::to_string(i), {{"app", "r"}}));
  const auto& s = sync();
  EXPECT_EQ(s.chains.size(), 1u);  // ic-N of the one class (its 50 rules in order)
  EXPECT_EQ(s.counters.size(), 50u);
  // Every member is counted by the first rule, a/p0 (a/p1, a/p10, ... never see a packet): one
  // lookup in the shared set with a fixed counter.
  const auto& chain = s.chains.begin()->second;
  ASSERT_EQ(chain.size(), 2u);
  EXPECT_EQ(chain[0], "ip saddr @c1 counter name \"" +
                          std::find_if(s.counters.begin(), s.counters.end(),
                                       [](const auto& kv) {
                                         return kv.second == RuleRef{"a/p0", "ingress", 0};
                                       })
                              ->first +
                          "\" accept");
  EXPECT_EQ(elems("in-any").size(), 2u);
  // local, isolated, in-any, and each of the class's 202 members once (not once per policy or pod)
  EXPECT_EQ(s.element_count(), 2u + 2u + 2u + 202u);
}

TEST_F(PolicyPlanner, HostNetworkAndTerminalPodsAreNeitherSelectedNorPeers) {
  auto host = pod_json("a", "h", "node1", "192.168.1.1", {{"app", "web"}});
  host.as_object()["spec"].as_object()["hostNetwork"] = true;
  e_.upsert_pod(host);
  auto done = pod_json("b", "d", "node2", "10.244.2.9", {{"app", "web"}});
  done.as_object()["status"].as_object()["phase"] = "Succeeded";
  e_.upsert_pod(done);
  policy(
      "a", "p",
      R"({"podSelector":{},"ingress":[{"from":[{"namespaceSelector":{},"podSelector":{"matchLabels":{"app":"web"}}}]}]})");
  sync();
  EXPECT_FALSE(elems("local-pods").contains("192.168.1.1"));
  EXPECT_FALSE(elems("ingress-isolated").contains("192.168.1.1"));
  EXPECT_EQ(members(elems("in-any").at("10.244.1.3")), (Strings{"10.244.1.2", "10.244.2.2"}));
}

TEST_F(PolicyPlanner, BadPolicyIsSkippedAndTheRestEnforced) {
  policy("a", "good", R"({"podSelector":{}})");
  EXPECT_FALSE(e_.upsert_policy(
      policy_json("a", "bad", json::parse(R"({"ingress":[{"ports":[{"port":-1}]}]})").as_object())));
  EXPECT_FALSE(e_.upsert_pod(json::parse(R"({"metadata":{"name":7}})")));
  sync();
  EXPECT_EQ(elems("ingress-isolated").size(), 2u);
  EXPECT_EQ(e_.metrics().skipped_objects, 2u);
}

TEST_F(PolicyPlanner, PolicyDeleteRemovesClassChainsAfterTheirElements) {
  policy("a", "p", R"({"podSelector":{},"ingress":[{"from":[{"podSelector":{}}],"ports":[{"port":80}]}]})");
  sync();
  ASSERT_FALSE(e_.state().chains.empty());
  e_.delete_policy(policy_json("a", "p", {}));
  sync();
  EXPECT_TRUE(e_.state().chains.empty());
  EXPECT_TRUE(elems("ingress-isolated").empty());
  const std::string& diff = kernel_.applied.back();
  auto el = diff.find("delete element inet podnet-policy in-ports");
  auto ch = diff.find("delete chain inet podnet-policy ic-");
  auto st = diff.find("delete set inet podnet-policy c");
  auto co = diff.find("delete counter inet podnet-policy r-");
  ASSERT_NE(el, std::string::npos) << diff;
  EXPECT_LT(el, ch);
  EXPECT_LT(ch, st);
  EXPECT_LT(st, co);
  EXPECT_TRUE(e_.state().counters.empty());
}

TEST_F(PolicyPlanner, FailedWriteIsFollowedByAFullSync) {
  sync();
  policy("a", "p", R"({"podSelector":{}})");
  kernel_.fail_next = true;
  EXPECT_FALSE(e_.sync());
  sync();
  EXPECT_NE(kernel_.applied.back().find("delete table inet podnet-policy"), std::string::npos);
  EXPECT_EQ(e_.metrics().failed_syncs, 1u);
}

TEST_F(PolicyPlanner, Ipv6PodsAndBlocks) {
  e_.upsert_pod(pod_json("a", "v6", "node1", "fd00:10:244:1::5", {{"app", "web"}}));
  policy("a", "p", R"({"podSelector":{"matchLabels":{"app":"web"}},"policyTypes":["Egress"],
      "egress":[{"to":[{"ipBlock":{"cidr":"fd00::/16","except":["fd00:10::/32"]}}],"ports":[{"port":53,"protocol":"UDP"}]}]})");
  sync();
  EXPECT_TRUE(elems("egress-isolated6").contains("fd00:10:244:1::5"));
  std::string v = elems("out-ports6").at("fd00:10:244:1::5 . udp . 53");
  EXPECT_TRUE(elems("c" + v.substr(v.rfind('-') + 1) + "-6").empty());
  EXPECT_EQ(elems("b" + v.substr(v.rfind('-') + 1) + "-6"),
            (std::map<std::string, std::string>{{"fd00::-fd00:f:ffff:ffff:ffff:ffff:ffff:ffff", ""},
                                                {"fd00:11::-fd00:ffff:ffff:ffff:ffff:ffff:ffff:ffff", ""}}));
}

}  // namespace
}  // namespace podnet::policy

namespace podnet::policy {
namespace {

// The pod runner's admission (no window at pod start): the CNI ADD address counts before the API
// has it, survives a late informer event without it, and goes with the pod, not its predecessor.
TEST_F(PolicyPlanner, AdmittedPodIsLocalBeforeTheApiHasItsAddress) {
  auto fresh = [](const std::string& uid, const std::string& ip) {
    json::value v = pod_json("a", "n", "node1", ip, {{"app", "web"}});
    v.as_object()["metadata"].as_object()["uid"] = uid;
    if (ip.empty()) v.as_object().erase("status");
    return v;
  };
  sync();
  ASSERT_TRUE(e_.admit_pod(fresh("u1", ""), {parse_ip("10.244.1.9").value()}));
  EXPECT_TRUE(e_.pending());
  EXPECT_TRUE(sync().sets.at("local-pods").elements.contains("10.244.1.9"));
  // The informer's copy without status (older than the runner's): the address stays.
  e_.upsert_pod(fresh("u1", ""));
  EXPECT_TRUE(sync().sets.at("local-pods").elements.contains("10.244.1.9"));
  // The late delete of an earlier pod of that name does not remove the admitted one.
  e_.delete_pod(fresh("u0", ""));
  EXPECT_TRUE(sync().sets.at("local-pods").elements.contains("10.244.1.9"));
  // The API catches up, then the pod goes: so does its address.
  e_.upsert_pod(fresh("u1", "10.244.1.9"));
  EXPECT_TRUE(sync().sets.at("local-pods").elements.contains("10.244.1.9"));
  e_.delete_pod(fresh("u1", "10.244.1.9"));
  EXPECT_FALSE(sync().sets.at("local-pods").elements.contains("10.244.1.9"));
  // A new pod of that name (another uid) does not inherit a hint.
  ASSERT_TRUE(e_.admit_pod(fresh("u2", ""), {parse_ip("10.244.1.10").value()}));
  e_.upsert_pod(fresh("u3", ""));
  EXPECT_FALSE(sync().sets.at("local-pods").elements.contains("10.244.1.10"));
}

}  // namespace
}  // namespace podnet::policy

namespace podnet::policy {
namespace {

// Per-rule counters: a class's member elements name the counter of the first rule (in RuleRef
// order) allowing them; an earlier rule's ipBlock holding a pod's address wins over later pod rules.
TEST_F(PolicyPlanner, EachMemberCountsForTheFirstRuleAllowingIt) {
  policy("a", "p0", R"({"podSelector":{"matchLabels":{"app":"web"}},
      "ingress":[{"from":[{"ipBlock":{"cidr":"10.244.2.0/24","except":["10.244.2.2/32"]}}],"ports":[{"port":80}]}]})");
  policy("a", "p1", R"({"podSelector":{"matchLabels":{"app":"web"}},
      "ingress":[{"ports":[{"port":81}]},{"from":[{"namespaceSelector":{"matchLabels":{"team":"blue"}}}],"ports":[{"port":80}]}]})");
  policy("a", "p2", R"({"podSelector":{"matchLabels":{"app":"web"}},
      "ingress":[{"from":[{"podSelector":{"matchLabels":{"app":"db"}}},{"namespaceSelector":{},"podSelector":{"matchLabels":{"app":"web"}}}],"ports":[{"port":80}]}]})");
  const TableState& t = sync();
  std::string verdict = t.sets.at("in-ports").elements.at("10.244.1.2 . tcp . 80");
  std::string map = lookup(verdict);  // not uniform: the class's own maps
  ASSERT_TRUE(map.starts_with("cm")) << map;
  std::string id = map.substr(2);
  const auto& pods = t.sets.at("cm" + id).elements;
  ASSERT_EQ(pods.size(), 4u) << ::testing::PrintToString(pods);
  EXPECT_EQ(counted_by(pods.at("10.244.2.3")), (RuleRef{"a/p0", "ingress", 0}));  // p0's block, before p1
  EXPECT_EQ(counted_by(pods.at("10.244.2.2")), (RuleRef{"a/p1", "ingress", 1}));  // excepted from p0
  EXPECT_EQ(counted_by(pods.at("10.244.1.3")), (RuleRef{"a/p2", "ingress", 0}));
  EXPECT_EQ(counted_by(pods.at("10.244.1.2")), (RuleRef{"a/p2", "ingress", 0}));
  const auto& blocks = t.sets.at("bm" + id).elements;
  ASSERT_EQ(blocks.size(), 2u) << ::testing::PrintToString(blocks);
  for (const auto& [_, v] : blocks) EXPECT_EQ(counted_by(v), (RuleRef{"a/p0", "ingress", 0}));
  // Port 81: p1's rule 0 allows every peer: its chain counts it with no lookup.
  std::string any = t.sets.at("in-ports").elements.at("10.244.1.2 . tcp . 81").substr(5);
  ASSERT_EQ(t.chains.at(any).size(), 1u);
  EXPECT_EQ(t.chains.at(any)[0], "counter name \"" +
                                     std::find_if(t.counters.begin(), t.counters.end(),
                                                  [](const auto& kv) {
                                                    return kv.second == RuleRef{"a/p1", "ingress", 0};
                                                  })
                                         ->first +
                                     "\" accept");
  EXPECT_EQ(t.counters.size(), 4u);  // p0/0, p1/0, p1/1, p2/0
  // b leaves blue: b/z's element moves to the next rule naming it (p2's web peer); b/w leaves the
  // pod map (p0's block still holds its address, and counts it).
  e_.upsert_namespace(ns_json("b", {{"team", "green"}}));
  sync();
  EXPECT_EQ(counted_by(elems("cm" + id).at("10.244.2.2")), (RuleRef{"a/p2", "ingress", 0}));
  EXPECT_FALSE(elems("cm" + id).contains("10.244.2.3"));
  EXPECT_EQ(kernel_.applied.back().find("chain"), std::string::npos) << kernel_.applied.back();
  EXPECT_EQ(e_.state(), e_.full_replan());
}

// What /metrics, the node API and trace read: named counters by rule, per pod.
TEST_F(PolicyPlanner, RuleCountersInMetricsTheNodeApiAndPerPod) {
  policy("a", "p1", R"({"podSelector":{"matchLabels":{"app":"web"}},
      "ingress":[{"from":[{"namespaceSelector":{"matchLabels":{"team":"blue"}}}],"ports":[{"port":80}]}]})");
  policy("a", "p2", R"({"podSelector":{},
      "ingress":[{"from":[{"namespaceSelector":{"matchLabels":{"team":"red"}}}]}]})");
  policy("b", "remote", R"({"podSelector":{},"ingress":[{}]})");  // selects no local pod: no counter
  const TableState& t = sync();
  ASSERT_EQ(t.counters.size(), 2u);
  std::string p1, p2;
  for (const auto& [name, rule] : t.counters) (rule.policy == "a/p1" ? p1 : p2) = name;
  ASSERT_EQ(t.counters.at(p2), (RuleRef{"a/p2", "ingress", 0}));
  std::string listing = R"({"nftables":[{"metainfo":{"version":"1.0.6"}},
      {"counter":{"family":"inet","name":"deny-ingress","table":"podnet-policy","packets":3,"bytes":180}},
      {"counter":{"family":"inet","name":"deny-pending","table":"podnet-policy","packets":1,"bytes":60}},
      {"counter":{"family":"inet","name":")" +
                        p1 + R"(","table":"podnet-policy","packets":7,"bytes":420}},
      {"counter":{"family":"inet","name":"r-999","table":"podnet-policy","packets":5,"bytes":1}},
      {"counter":{"name":7}},{"rule":{"chain":"x"}}]})";
  auto d = denied_from_json(listing);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->ingress, 3u);
  EXPECT_EQ(d->egress, 0u);
  EXPECT_EQ(d->pending, 1u);
  EXPECT_EQ(d->rules.at(p1).packets, 7u);
  auto all = rule_counters(t.counters, *d);
  ASSERT_EQ(all.size(), 2u);  // r-999 is no rule of the table's: not shown
  EXPECT_EQ(all[0].rule, (RuleRef{"a/p1", "ingress", 0}));
  EXPECT_EQ(all[0].packets, 7u);
  EXPECT_EQ(all[0].bytes, 420u);
  EXPECT_EQ(all[1].packets, 0u);
  EXPECT_EQ(rule_counters(t.counters, *d, "a", "p2").size(), 1u);
  EXPECT_EQ(rule_counters(t.counters, *d, "a").size(), 2u);
  EXPECT_TRUE(rule_counters(t.counters, *d, "b").empty());
  EXPECT_TRUE(rule_counters(t.counters, *d, "a", "p").empty());  // no prefix match on names
  EXPECT_EQ(
      rule_counters_json(rule_counters(t.counters, *d, "a", "p1")),
      R"({"counters":[{"namespace":"a","policy":"p1","direction":"ingress","rule":0,"packets":7,"bytes":420}]})");
  // Per pod: the rules of the policies selecting it.
  EXPECT_EQ(pod_counters(t, *d, "10.244.1.2").size(), 2u);  // web: p1 and p2
  ASSERT_EQ(pod_counters(t, *d, "10.244.1.3").size(), 1u);  // db: p2
  EXPECT_EQ(pod_counters(t, *d, "10.244.1.3")[0].rule.policy, "a/p2");
  EXPECT_TRUE(pod_counters(t, *d, "10.244.2.2").empty());  // not local
  EXPECT_TRUE(pod_counters(t, *d, "10.244.1.").empty());
  std::string text = prometheus_text(e_.metrics(), *d, {}, t.counters);
  EXPECT_NE(text.find("podnet_network_policy_rule_allowed_packets_total{namespace=\"a\",policy=\"p1\","
                      "direction=\"ingress\",rule=\"0\"} 7\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("podnet_network_policy_denied_packets_total{direction=\"ingress\"} 3\n"),
            std::string::npos);
}

}  // namespace
}  // namespace podnet::policy

namespace podnet::policy {
namespace {

// Incremental planning: each kind of change writes exactly the elements it touches.

TEST_F(PolicyPlanner, NewAndDeletedRemotePodIsOneElement) {
  policy("a", "from-web", R"({"podSelector":{"matchLabels":{"app":"db"}},
      "ingress":[{"from":[{"namespaceSelector":{},"podSelector":{"matchLabels":{"app":"web"}}}]}]})");
  sync();
  e_.upsert_pod(pod_json("b", "v", "node2", "10.244.2.4", {{"app", "web"}}));
  sync();
  EXPECT_EQ(kernel_.applied.back(), "add element inet podnet-policy c1 { 10.244.2.4 }\n");
  e_.delete_pod(pod_json("b", "v", "node2", "10.244.2.4"));
  sync();
  EXPECT_EQ(kernel_.applied.back(), "delete element inet podnet-policy c1 { 10.244.2.4 }\n");
  // A pod with no address yet is no member; its address arriving is one element.
  auto no_ip = pod_json("b", "u", "node2", "10.244.2.5", {{"app", "web"}});
  no_ip.as_object()["status"].as_object().erase("podIP");
  no_ip.as_object()["status"].as_object().erase("podIPs");
  ASSERT_TRUE(e_.upsert_pod(no_ip));
  sync();
  EXPECT_EQ(kernel_.applied.size(), 3u);  // nothing to write
  e_.upsert_pod(pod_json("b", "u", "node2", "10.244.2.5", {{"app", "web"}}));
  sync();
  EXPECT_EQ(kernel_.applied.back(), "add element inet podnet-policy c1 { 10.244.2.5 }\n");
  EXPECT_EQ(e_.state(), e_.full_replan());
}

TEST_F(PolicyPlanner, NamespaceLabelChangeIsAnElementChange) {
  policy("a", "from-green", R"({"podSelector":{"matchLabels":{"app":"db"}},
      "ingress":[{"from":[{"namespaceSelector":{"matchLabels":{"team":"green"}}}]}]})");
  sync();
  EXPECT_TRUE(elems("c1").empty());
  e_.upsert_namespace(ns_json("b", {{"team", "green"}}));
  sync();
  EXPECT_EQ(kernel_.applied.back(), "add element inet podnet-policy c1 { 10.244.2.2, 10.244.2.3 }\n");
  e_.upsert_namespace(ns_json("b", {{"team", "blue"}}));
  sync();
  EXPECT_EQ(kernel_.applied.back(), "delete element inet podnet-policy c1 { 10.244.2.2, 10.244.2.3 }\n");
  EXPECT_EQ(e_.state(), e_.full_replan());
}

TEST_F(PolicyPlanner, PolicyEditChangesOnlyItsElements) {
  policy("a", "p", R"({"podSelector":{"matchLabels":{"app":"db"}},
      "ingress":[{"from":[{"podSelector":{}}],"ports":[{"port":80}]}]})");
  sync();
  policy("a", "p", R"({"podSelector":{"matchLabels":{"app":"db"}},
      "ingress":[{"from":[{"podSelector":{}}],"ports":[{"port":81}]}]})");
  sync();
  // Same peers: the class (its chain and set) stays; only the port element moves.
  EXPECT_EQ(kernel_.applied.back(),
            "delete element inet podnet-policy in-ports { 10.244.1.3 . tcp . 80 }\n"
            "add element inet podnet-policy in-ports { 10.244.1.3 . tcp . 81 : jump ic-1 }\n");
  EXPECT_EQ(e_.state(), e_.full_replan());
}

TEST_F(PolicyPlanner, NewLocalPodIsItsOwnElementsAndItsMemberships) {
  policy("a", "p", R"({"podSelector":{},"ingress":[{"from":[{"podSelector":{}}]}]})");
  sync();
  e_.upsert_pod(pod_json("a", "n", "node1", "10.244.1.4", {{"app", "new"}}));
  sync();
  EXPECT_EQ(kernel_.applied.back(),
            "add element inet podnet-policy c1 { 10.244.1.4 }\n"
            "add element inet podnet-policy in-any { 10.244.1.4 : jump ic-1 }\n"
            "add element inet podnet-policy ingress-isolated { 10.244.1.4 }\n"
            "add element inet podnet-policy local-pods { 10.244.1.4 }\n");
  EXPECT_EQ(e_.state(), e_.full_replan());
}

// What differs between two states (for failure messages).
std::string state_diff(const TableState& a, const TableState& b) {
  std::string out;
  for (const auto& [n, s] : a.sets)
    if (!b.sets.contains(n))
      out += "set " + n + " only in incremental\n";
    else if (s != b.sets.at(n))
      for (const auto& [k, v] : s.elements)
        if (!b.sets.at(n).elements.contains(k) || b.sets.at(n).elements.at(k) != v)
          out += n + ": " + k + " : " + v + " only in incremental\n";
  for (const auto& [n, s] : b.sets)
    if (!a.sets.contains(n))
      out += "set " + n + " only in full\n";
    else
      for (const auto& [k, v] : s.elements)
        if (!a.sets.at(n).elements.contains(k) || a.sets.at(n).elements.at(k) != v)
          out += n + ": " + k + " : " + v + " only in full\n";
  for (const auto& [n, _] : a.chains)
    if (!b.chains.contains(n)) out += "chain " + n + " only in incremental\n";
  for (const auto& [n, _] : b.chains)
    if (!a.chains.contains(n)) out += "chain " + n + " only in full\n";
  if (a.chain_policies != b.chain_policies) out += "chain_policies differ\n";
  if (a.counters != b.counters) out += "counters differ\n";
  if (a.selected_by != b.selected_by) out += "selected_by differ\n";
  return out;
}

// Random changes of every kind: after each sync the incremental state equals a whole re-plan of
// the same inputs, and what was written equals the difference of the whole states.
TEST_F(PolicyPlanner, IncrementalStateEqualsAFullReplan) {
  const char* specs[] = {
      R"({"podSelector":{"matchLabels":{"app":"a0"}},"ingress":[{"from":[{"namespaceSelector":{"matchLabels":{"team":"t1"}},"podSelector":{"matchLabels":{"role":"r1"}}}],"ports":[{"port":80},{"port":"http"}]}]})",
      R"({"podSelector":{},"policyTypes":["Ingress","Egress"],"ingress":[{"from":[{"podSelector":{"matchLabels":{"role":"r0"}}},{"ipBlock":{"cidr":"10.0.0.0/8","except":["10.244.0.0/16"]}}]}],"egress":[{"to":[{"namespaceSelector":{}}],"ports":[{"port":"http"},{"port":53,"protocol":"UDP"}]}]})",
      R"({"podSelector":{"matchExpressions":[{"key":"app","operator":"In","values":["a1","a2"]}]},"ingress":[{"from":[{"namespaceSelector":{"matchLabels":{"team":"t0"}}}],"ports":[{"port":79,"endPort":90}]},{"ports":[{"port":80}]}]})",
      R"({"podSelector":{"matchLabels":{"role":"r2"}},"policyTypes":["Egress"],"egress":[{"ports":[{"port":"http"}]},{"to":[{"podSelector":{"matchLabels":{"app":"a0"}}}]}]})",
      // Rules covering one port with different peers (classes with their own counter maps, an
      // ipBlock holding pod addresses before a pod selector), and a named egress port twice.
      R"({"podSelector":{},"policyTypes":["Ingress","Egress"],"ingress":[{"from":[{"namespaceSelector":{"matchLabels":{"team":"t2"}}}],"ports":[{"port":80}]},{"from":[{"podSelector":{"matchLabels":{"role":"r1"}}}],"ports":[{"port":80,"endPort":81}]},{"from":[{"ipBlock":{"cidr":"10.244.1.0/24","except":["10.244.1.32/27"]}}],"ports":[{"port":80}]}],"egress":[{"to":[{"podSelector":{"matchLabels":{"role":"r1"}}}],"ports":[{"port":"http"}]},{"to":[{"namespaceSelector":{"matchLabels":{"team":"t0"}}}],"ports":[{"port":"http"}]}]})",
  };
  uint32_t seed = 12345;
  auto rnd = [&](uint32_t n) {
    seed = seed * 1103515245u + 12345u;
    return (seed >> 16) % n;
  };
  auto random_pod = [&](int i) {
    std::string ns = "n" + std::to_string(i % 3),
                ip = rnd(8) == 0 ? ""
                                 : "10.244." + std::to_string(rnd(3)) + "." + std::to_string(10 + rnd(40));
    json::array ports;
    if (rnd(2))
      ports.push_back(json::object{{"name", "http"}, {"containerPort", static_cast<int>(8000 + rnd(3))}});
    auto v = pod_json(ns, "p" + std::to_string(i), rnd(2) ? "node1" : "node2", ip.empty() ? "10.0.0.1" : ip,
                      {{"app", "a" + std::to_string(rnd(3))}, {"role", "r" + std::to_string(rnd(3))}}, ports);
    if (ip.empty()) {
      v.as_object()["status"].as_object().erase("podIP");
      v.as_object()["status"].as_object().erase("podIPs");
    }
    if (rnd(10) == 0) v.as_object()["status"].as_object()["phase"] = "Failed";
    return v;
  };
  for (int i = 0; i < 3; ++i)
    e_.upsert_namespace(ns_json("n" + std::to_string(i), {{"team", "t" + std::to_string(i)}}));
  for (int i = 0; i < 24; ++i) e_.upsert_pod(random_pod(i));
  sync();
  int own_maps = 0;
  for (int step = 0; step < 400; ++step) {
    TableState prev = e_.state();
    size_t writes = kernel_.applied.size();
    switch (rnd(6)) {
      case 0:
      case 1:
        e_.upsert_pod(random_pod(rnd(30)));
        break;
      case 2: {
        int i = rnd(30);
        e_.delete_pod(pod_json("n" + std::to_string(i % 3), "p" + std::to_string(i), "node1", "10.0.0.1"));
        break;
      }
      case 3:
        e_.upsert_namespace(ns_json("n" + std::to_string(rnd(3)), {{"team", "t" + std::to_string(rnd(3))}}));
        break;
      case 4:
        policy("n" + std::to_string(rnd(3)), "np" + std::to_string(rnd(4)), specs[rnd(5)]);
        break;
      case 5:
        e_.delete_policy(policy_json("n" + std::to_string(rnd(3)), "np" + std::to_string(rnd(4)), {}));
        break;
    }
    const TableState& now = sync();
    own_maps += std::count_if(now.sets.begin(), now.sets.end(),
                              [](const auto& kv) { return kv.first.starts_with("cm"); });
    TableState full = e_.full_replan();
    ASSERT_EQ(now, full) << "step " << step << "\n" << state_diff(now, full);
    std::string expected = render_diff(prev, now, {});
    if (expected.empty())
      ASSERT_EQ(kernel_.applied.size(), writes) << "step " << step;
    else
      ASSERT_EQ(kernel_.applied.back(), expected) << "step " << step;
  }
  EXPECT_GT(e_.state().chains.size(), 0u);
  EXPECT_GT(own_maps, 0) << "no step had a class with its own counter maps";
}

}  // namespace
}  // namespace podnet::policy
