// The node side of `podnet trace --live` against the real kernel, in a namespace of its own: a
// probe armed, sent and collected through ProbeSessions to a port an nftables rule drops. The
// nftables trace must name that rule with its drop verdict, skb:kfree_skb must report the probe
// with the kernel's NETFILTER_DROP reason, and afterwards neither the trace table nor the drop
// watch's BPF program may be left; a probe nobody collects is removed by the reaper after its ttl.
#include <bpf/bpf.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <chrono>
#include <cstring>
#include <thread>
#include <vector>

#include "agent/probe.h"
#include "agent/probe_query.h"
#include "nft/nft.h"
#include "support/scoped_netns.h"

namespace podnet::agent {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

// Whether the kernel holds a program named pn_drop_watch with this id. Programs are global and
// other tests (TraceLiveE2E under ctest -j2) arm probes of their own, so the test follows the ids
// of its own watches rather than counting every pn_drop_watch.
bool drop_watch_loaded(uint32_t id) {
  int fd = bpf_prog_get_fd_by_id(id);
  if (fd < 0) return false;
  bpf_prog_info info{};
  uint32_t len = sizeof info;
  bool ours =
      bpf_obj_get_info_by_fd(fd, &info, &len) == 0 && std::strncmp(info.name, "pn_drop_watch", 13) == 0;
  ::close(fd);
  return ours;
}

bool any_loaded(const std::vector<uint32_t>& ids) {
  for (uint32_t id : ids)
    if (drop_watch_loaded(id)) return true;
  return false;
}

TEST(TraceLiveKernel, ProbeDroppedByARuleIsTracedWithTheRuleAndTheKernelsReason) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root";
  testing::ScopedNetns ns;
  const std::string table = "podnet-lvtest" + std::to_string(::getpid());
  ASSERT_EQ(ns.sh("nft add table inet " + table + " && nft add chain inet " + table +
                  " in { type filter hook input priority 0 \\; } && nft add rule inet " + table +
                  " in tcp dport 9 counter drop comment \\\"probe-test\\\""),
            0);
  const uint16_t sport = static_cast<uint16_t>(40000 + ::getpid() % 20000);
  auto q = [&](const std::string& target) {
    auto p = parse_probe_query(target);
    EXPECT_TRUE(p) << target;
    return *p;
  };
  const std::string who = "namespace=t&pod=p&";
  std::vector<uint32_t> capped;
  auto r = ns.netns().run([&]() -> Result<int> {
    ProbeSessions sessions(nullptr, 0);
    auto [armed_status, armed] =
        sessions.arm(q("/podnet/v1/probe/arm?" + who + "src=127.0.0.1&sport=" + std::to_string(sport)));
    EXPECT_EQ(armed_status, 200) << json::serialize(armed);
    if (armed_status != 200) return 0;
    const std::vector<uint32_t> first = sessions.drop_programs();
    EXPECT_EQ(first.size(), 1u);
    EXPECT_TRUE(!first.empty() && first[0] != 0 && drop_watch_loaded(first[0]));
    EXPECT_NE(ns.output("nft list tables").find("podnet-probe-"), std::string::npos);
    std::string id(armed.at("id").as_string());

    auto sent = send_probe(ns.path(), q("/podnet/v1/probe/send?" + who + "dst=127.0.0.1&dport=9&sport=" +
                                        std::to_string(sport) + "&wait=300"));
    EXPECT_EQ(sent.at("result"), "timeout") << json::serialize(sent);
    EXPECT_EQ(sent.at("local").as_string(), "127.0.0.1:" + std::to_string(sport)) << json::serialize(sent);

    auto [status, got] = sessions.collect(q("/podnet/v1/probe/collect?" + who + "id=" + id));
    EXPECT_EQ(status, 200) << json::serialize(got);
    // nftables: the drop rule, named by table, chain and comment, for this probe's tuple.
    bool rule_drop = false, marked = false;
    for (const auto& e : got.at("nftrace").as_array()) {
      const auto& o = e.as_object();
      if (o.contains("src") && o.at("src").as_string() == "127.0.0.1:" + std::to_string(sport)) marked = true;
      if (o.contains("table") && o.at("table").as_string() == table && o.contains("verdict") &&
          o.at("verdict") == "drop") {
        rule_drop = true;
        EXPECT_EQ(o.at("chain"), "in");
        EXPECT_EQ(o.at("rule").at("comment"), "probe-test") << e;
      }
    }
    EXPECT_TRUE(marked) << json::serialize(got);
    EXPECT_TRUE(rule_drop) << json::serialize(got);
    // The kernel: skb:kfree_skb, reason NETFILTER_DROP, in this namespace.
    bool reason = false;
    for (const auto& d : got.at("drops").as_array())
      reason |= d.at("reason") == "NETFILTER_DROP" && d.at("reply") == false;
    EXPECT_TRUE(reason) << json::serialize(got);
    EXPECT_EQ(got.at("drops_lost").to_number<int64_t>(), 0);
    // Collected means removed, and a second collect finds nothing.
    EXPECT_EQ(sessions.armed(), 0u);
    EXPECT_EQ(ns.output("nft list tables").find("podnet-probe-"), std::string::npos);
    EXPECT_FALSE(any_loaded(first));
    EXPECT_EQ(sessions.collect(q("/podnet/v1/probe/collect?" + who + "id=" + id)).first, 404);

    // An armed probe nobody collects goes after its ttl.
    auto [s2, a2] = sessions.arm(
        q("/podnet/v1/probe/arm?" + who + "src=127.0.0.1&ttl=100&sport=" + std::to_string(sport + 1)));
    EXPECT_EQ(s2, 200);
    const std::vector<uint32_t> second = sessions.drop_programs();
    EXPECT_EQ(second.size(), 1u);
    EXPECT_TRUE(any_loaded(second));
    for (int i = 0; i < 40 && sessions.armed() > 0; ++i) std::this_thread::sleep_for(50ms);
    EXPECT_EQ(sessions.armed(), 0u);
    EXPECT_EQ(ns.output("nft list tables").find("podnet-probe-"), std::string::npos);
    EXPECT_FALSE(any_loaded(second));
    // The cap on armed probes.
    std::vector<std::string> ids;
    for (size_t i = 0; i < ProbeSessions::kMaxArmed; ++i) {
      auto [s, a] = sessions.arm(
          q("/podnet/v1/probe/arm?" + who + "src=127.0.0.1&sport=" + std::to_string(sport + 2 + i)));
      EXPECT_EQ(s, 200);
    }
    EXPECT_EQ(sessions.arm(q("/podnet/v1/probe/arm?" + who + "src=127.0.0.1&sport=50000")).first, 429);
    capped = sessions.drop_programs();
    EXPECT_EQ(capped.size(), ProbeSessions::kMaxArmed);
    return 0;
  });
  ASSERT_TRUE(r) << r.error().message();
  // The sessions' destructor removed the armed ones.
  EXPECT_EQ(ns.output("nft list tables").find("podnet-probe-"), std::string::npos);
  EXPECT_FALSE(any_loaded(capped));
}

}  // namespace
}  // namespace podnet::agent
