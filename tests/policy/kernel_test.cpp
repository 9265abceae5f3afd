// The rendered table as this kernel takes it: a full sync, element diffs, class chains created and
// removed, in a namespace of the test's own.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "policy/enforcer.h"
#include "policy/fixtures.h"
#include "policy/metrics.h"
#include "support/scoped_netns.h"

namespace podnet::policy {
namespace {

namespace json = boost::json;
using testing::pod_json;
using testing::policy_json;

TEST(PolicyKernel, FullAndIncrementalSyncsAreAccepted) {
  podnet::testing::ScopedNetns ns;
  auto s = ns.netns().run([&]() -> Status {
    PODNET_TRY(kernel, NftPolicyKernel::open());
    Enforcer e(kernel, "node1", {.log_group = 7});
    e.set_own_ranges({parse_prefix("10.244.1.0/24").value(), parse_prefix("fd00:1::/64").value()});
    e.upsert_pod(pod_json("a", "x", "node1", "10.244.1.2", {{"app", "web"}},
                          json::array{{{"name", "http"}, {"containerPort", 80}}}));
    e.upsert_pod(pod_json("a", "y", "node2", "10.244.2.2", {{"app", "db"}}));
    e.upsert_pod(pod_json("a", "z", "node1", "fd00:1::2", {{"app", "web"}}));
    e.upsert_policy(policy_json("a", "p",
                                json::parse(R"({"podSelector":{},"policyTypes":["Ingress","Egress"],
        "ingress":[{"from":[{"podSelector":{"matchLabels":{"app":"db"}}},{"ipBlock":{"cidr":"172.16.0.0/12","except":["172.17.0.0/16"]}}],
                    "ports":[{"port":"http"},{"port":1000,"endPort":2000,"protocol":"UDP"},{"protocol":"SCTP","port":9}]}],
        "egress":[{"to":[{"podSelector":{}}],"ports":[{"port":"http"}]},{"to":[{"ipBlock":{"cidr":"fd00::/16"}}]}]})")
                                    .as_object()));
    PODNET_TRY(r1, e.sync());
    if (!r1.full) return fail_msg("first sync not full");
    e.upsert_pod(pod_json("a", "y", "node2", "10.244.2.2", {{"app", "other"}}));
    PODNET_TRY(r2, e.sync());
    if (r2.full || r2.commands_bytes == 0) return fail_msg("second sync not incremental");
    {
      nft::Nft nft = nft::Nft::open().value();
      PODNET_TRY(live, read_denied(nft));
      // Every class chain a rule uses is read, with its policies (a class has both an ic- and an
      // ec- chain; only the direction its rules use has policies).
      for (const auto& [chain, policies] : e.state().chain_policies)
        if (!live.allowed.contains(chain) || policies != std::set<std::string>{"a/p"})
          return fail_msg("class chain " + chain + " counter not read");
      if (e.state().chain_policies.empty()) return fail_msg("no class chain has policies");
    }
    e.delete_policy(policy_json("a", "p", {}));
    if (auto r3 = e.sync(); !r3) return std::unexpected(r3.error());
    nft::Nft nft = nft::Nft::open().value();
    PODNET_TRY(text, nft.query("list table inet podnet-policy", false));
    if (text.find("chain ic-") != std::string::npos) return fail_msg("class chain left: " + text);
    if (text.find("chain forward-ingress") == std::string::npos) return fail_msg("no base chain: " + text);
    PODNET_TRY(denied, read_denied(nft));
    if (denied.ingress + denied.egress + denied.pending != 0) return fail_msg("denials counted from nothing");
    if (prometheus_text(e.metrics(), denied)
            .find("podnet_network_policy_syncs_total{result=\"partial\"} 2") == std::string::npos)
      return fail_msg("metrics: " + prometheus_text(e.metrics(), denied));
    // A new Enforcer (an agent restart) replaces the table whole.
    Enforcer again(kernel, "node1", {});
    again.set_own_ranges({parse_prefix("10.244.1.0/24").value()});
    PODNET_TRY(r4, again.sync());
    if (!r4.full) return fail_msg("restart sync not full");
    return nft.run(render_delete());
  });
  ASSERT_TRUE(s) << s.error().message();
}

}  // namespace
}  // namespace podnet::policy
