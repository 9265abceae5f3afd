// The rendered table as this kernel takes it: a full sync, element diffs, class chains created and
// removed, in a namespace of the test's own.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <malloc.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <boost/json.hpp>

#include "common/fd.h"
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
      // Every rule's named counter is in the kernel and read (a/p: 1 ingress and 2 egress rules).
      for (const auto& [name, rule] : e.state().counters)
        if (!live.rules.contains(name) || rule.policy != "a/p")
          return fail_msg("counter " + name + " not read");
      if (e.state().counters.size() != 3) return fail_msg("not one counter per rule");
    }
    e.delete_policy(policy_json("a", "p", {}));
    if (auto r3 = e.sync(); !r3) return std::unexpected(r3.error());
    nft::Nft nft = nft::Nft::open().value();
    PODNET_TRY(text, nft.query("list table inet podnet-policy", false));
    if (text.find("chain ic-") != std::string::npos) return fail_msg("class chain left: " + text);
    if (text.find("counter r-") != std::string::npos) return fail_msg("rule counter left: " + text);
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

// The counter of the rule that allowed a packet moves, in this kernel: a pod (its own namespace,
// a veth to the node's) sends UDP datagrams to the node; its egress is judged in `input`.
TEST(PolicyKernel, TheAllowingRulesCounterMoves) {
  podnet::testing::ScopedNetns node, pod;
  const std::string veth = podnet::testing::unique_ifname("npk");
  ASSERT_EQ(node.sh("ip link add " + veth + " type veth peer name eth0 netns " + pod.name() +
                    " && ip addr add 10.244.1.1/24 dev " + veth + " && ip link set " + veth + " up"),
            0);
  ASSERT_EQ(pod.sh("ip addr add 10.244.1.2/24 dev eth0 && ip link set eth0 up"), 0);
  // Each datagram from a fresh socket: a new conntrack entry, judged by the rules.
  auto send = [&](int port, int count) {
    return pod.netns().run([&]() -> Status {
      for (int i = 0; i < count; ++i) {
        UniqueFd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
        sockaddr_in to{};
        to.sin_family = AF_INET;
        to.sin_port = htons(static_cast<uint16_t>(port));
        ::inet_pton(AF_INET, "10.244.1.1", &to.sin_addr);
        if (::sendto(fd.get(), "x", 1, 0, reinterpret_cast<const sockaddr*>(&to), sizeof to) != 1)
          return fail("sendto");
      }
      return {};
    });
  };
  auto s = node.netns().run([&]() -> Status {
    PODNET_TRY(kernel, NftPolicyKernel::open());
    Enforcer e(kernel, "node1", {});
    e.set_own_ranges({parse_prefix("10.244.1.0/24").value()});
    e.upsert_pod(pod_json("a", "x", "node1", "10.244.1.2", {{"app", "web"}}));
    // Port 9000: a/p's rule 1 and a/q's rule 0 both allow it; a/p comes first and counts it.
    // Port 9001: only a/q. Port 9002: no rule (denied).
    e.upsert_policy(policy_json("a", "p",
                                json::parse(R"({"podSelector":{},"policyTypes":["Egress"],"egress":[
        {"to":[{"ipBlock":{"cidr":"10.9.0.0/16"}}],"ports":[{"port":53,"protocol":"UDP"}]},
        {"to":[{"ipBlock":{"cidr":"10.244.1.1/32"}}],"ports":[{"port":9000,"protocol":"UDP"}]}]})")
                                    .as_object()));
    e.upsert_policy(policy_json("a", "q",
                                json::parse(R"({"podSelector":{},"policyTypes":["Egress"],"egress":[
        {"to":[{"ipBlock":{"cidr":"10.244.1.0/24"}}],"ports":[{"port":9000,"endPort":9001,"protocol":"UDP"}]}]})")
                                    .as_object()));
    if (auto r = e.sync(); !r) return std::unexpected(r.error());
    for (auto [port, count] : {std::pair{9000, 3}, {9001, 2}, {9002, 1}})
      if (auto sent = send(port, count); !sent) return sent;
    PODNET_TRY(nft, nft::Nft::open());
    PODNET_TRY(d, read_denied(nft));
    std::map<RuleRef, uint64_t> got;
    for (const auto& rc : rule_counters(e.state().counters, d)) got[rc.rule] = rc.packets;
    std::map<RuleRef, uint64_t> want{
        {{"a/p", "egress", 0}, 0}, {{"a/p", "egress", 1}, 3}, {{"a/q", "egress", 0}, 2}};
    if (got != want || d.egress != 1) {
      std::string text;
      for (const auto& [rule, n] : got)
        text += rule.policy + "/" + std::to_string(rule.rule) + "=" + std::to_string(n) + " ";
      return fail_msg("counters: " + text + "denied egress " + std::to_string(d.egress));
    }
    return nft.run(render_delete());
  });
  ASSERT_TRUE(s) << s.error().message();
}

// libnftables keeps what a transaction defined (every element, parsed) in its context's cache; the
// kernel door replaces the context after a large transaction, so a whole table's copy does not stay
// on the agent's heap (it was ~100 MB at 10,000 policies).
TEST(PolicyKernel, ALargeTransactionLeavesNoCopyOnTheHeap) {
  podnet::testing::ScopedNetns ns;
  auto s = ns.netns().run([&]() -> Status {
    PODNET_TRY(kernel, NftPolicyKernel::open());
    std::string text =
        "table inet pn-kt-heap {\n  counter r-1 { }\n  map m {\n    type ipv4_addr : counter;\n";
    text += "    elements = { ";
    constexpr int kElements = 30000;
    for (int i = 0; i < kElements; ++i)
      text += (i ? ", 10." : "10.") + std::to_string(i >> 16) + "." + std::to_string((i >> 8) & 255) + "." +
              std::to_string(i & 255) + " : \"r-1\"";
    text += " }\n  }\n}\n";
    if (text.size() < NftPolicyKernel::kFreshContextBytes) return fail_msg("test text too small");
    ::malloc_trim(0);
    size_t before = ::mallinfo2().uordblks;
    if (auto a = kernel.apply(text); !a) return a;
    size_t after = ::mallinfo2().uordblks;
    if (kernel.fresh_contexts() != 1) return fail_msg("no fresh context after a large transaction");
    // With the cache kept this is ~40 bytes of heap per byte of text (tens of MB here).
    if (after > before + text.size() * 2)
      return fail_msg("heap grew by " + std::to_string((after - before) >> 10) + " KiB for " +
                      std::to_string(text.size() >> 10) + " KiB of nft text");
    // The fresh context works, and a small transaction keeps it.
    if (auto a = kernel.apply("add element inet pn-kt-heap m { 192.0.2.1 : \"r-1\" }\n"); !a) return a;
    if (kernel.fresh_contexts() != 1) return fail_msg("a small transaction replaced the context");
    nft::Nft nft = nft::Nft::open().value();
    PODNET_TRY(listed, nft.query("list map inet pn-kt-heap m", false));
    if (listed.find("192.0.2.1") == std::string::npos || listed.find("10.0.117.47") == std::string::npos)
      return fail_msg("elements missing: " + listed.substr(0, 300));
    return {};
  });
  ASSERT_TRUE(s) << s.error().message();
}

}  // namespace
}  // namespace podnet::policy
