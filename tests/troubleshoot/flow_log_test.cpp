// The agent's flow log (agent/flows.h): fast-path reports, conntrack events and policy drops
// aggregated per connection (both directions in one entry, the opener as the source), the --since window, and
// the bound (the least recently seen connection goes first, and is counted).
#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "agent/flows.h"
#include "fastpath/fastpath.h"
#include "fastpath/fastpath_abi.h"

namespace podnet::agent {
namespace {

namespace json = boost::json;

fastpath::FlowEvent event(const char* src, uint16_t sport, const char* dst, uint16_t dport, uint8_t flags,
                          uint32_t packets, uint32_t bytes) {
  fastpath::FlowEvent e;
  ::inet_pton(AF_INET, src, &e.saddr);
  ::inet_pton(AF_INET, dst, &e.daddr);
  e.sport = sport;
  e.dport = dport;
  e.proto = 6;
  e.tcp_flags = flags;
  e.packets = packets;
  e.bytes = bytes;
  e.path = PN_FLOW_TO_LOCAL_POD;
  return e;
}

TEST(FlowLogTest, BothDirectionsOfAConnectionAreOneFlowWithTheOpenerAsSource) {
  FlowLog log;
  log.add_carried(event("10.244.0.5", 40000, "10.244.0.6", 80, PN_TCP_SYN, 1, 60), 1000);
  log.add_carried(event("10.244.0.6", 80, "10.244.0.5", 40000, PN_TCP_SYN | PN_TCP_ACK, 1, 60), 1001);
  log.add_carried(event("10.244.0.5", 40000, "10.244.0.6", 80, PN_TCP_ACK | PN_TCP_FIN, 4, 400), 2000);
  auto snap = log.snapshot(0);
  const auto& flows = snap.at("flows").as_array();
  ASSERT_EQ(flows.size(), 1u) << snap;
  const auto& f = flows[0];
  EXPECT_EQ(f.at("src"), "10.244.0.5");
  EXPECT_EQ(f.at("sport"), 40000);
  EXPECT_EQ(f.at("dst"), "10.244.0.6");
  EXPECT_EQ(f.at("dport"), 80);
  EXPECT_EQ(f.at("verdict"), "forwarded");
  EXPECT_EQ(f.at("path"), "fastpath-local");
  EXPECT_EQ(f.at("packets"), 5);
  EXPECT_EQ(f.at("bytes"), 460);
  EXPECT_EQ(f.at("reply_packets"), 1);
  EXPECT_EQ(f.at("first_seen_ms"), 1000);
  EXPECT_EQ(f.at("last_seen_ms"), 2000);
  EXPECT_EQ(snap.at("events"), 3);
  EXPECT_EQ(f.at("tcp_flags").as_array().size(), 3u);  // SYN ACK FIN
}

TEST(FlowLogTest, AReplySeenFirstNamesTheOpenerAsSource) {
  // The other node carries only the server's replies: its first report is the SYN+ACK.
  FlowLog log;
  log.add_carried(event("10.244.1.6", 80, "10.244.0.5", 40000, PN_TCP_SYN | PN_TCP_ACK, 1, 60), 1000);
  log.add_carried(event("10.244.1.6", 80, "10.244.0.5", 40000, PN_TCP_ACK, 3, 3000), 1500);
  auto snap = log.snapshot(0);
  const auto& f = snap.at("flows").as_array().at(0);
  EXPECT_EQ(f.at("src"), "10.244.0.5");
  EXPECT_EQ(f.at("dst"), "10.244.1.6");
  EXPECT_EQ(f.at("packets"), 0);
  EXPECT_EQ(f.at("reply_packets"), 4);
  EXPECT_EQ(f.at("reply_bytes"), 3060);
}

TEST(FlowLogTest, PolicyDropsNameDirectionAndPolicies) {
  FlowLog log;
  log.add_dropped(*parse_ip("10.244.0.5"), *parse_ip("10.244.0.7"), 6, 40001, 80, "ingress", "f/deny", 1000);
  log.add_dropped(*parse_ip("10.244.0.5"), *parse_ip("10.244.0.7"), 6, 40001, 80, "ingress", "f/deny", 2000);
  auto snap = log.snapshot(0);
  const auto& f = snap.at("flows").as_array().at(0);
  EXPECT_EQ(f.at("verdict"), "dropped");
  EXPECT_EQ(f.at("path"), "policy");
  EXPECT_EQ(f.at("direction"), "ingress");
  EXPECT_EQ(f.at("policies"), "f/deny");
  EXPECT_EQ(f.at("packets"), 2);
}

proxy::ConntrackEvent ct(const char* src, uint16_t sport, const char* dst, uint16_t dport, const char* rsrc,
                         uint16_t rsport, const char* rdst, uint16_t rdport, bool destroyed) {
  proxy::ConntrackEvent e;
  e.destroyed = destroyed;
  e.proto = 6;
  e.original = {*parse_ip(src), *parse_ip(dst), sport, dport};
  e.reply = {*parse_ip(rsrc), *parse_ip(rdst), rsport, rdport};
  return e;
}

TEST(FlowLogTest, StackConnectionsShowTheirNatFromConntrackTuples) {
  FlowLog log;
  // A pod to a ClusterIP, DNATed to an endpoint: NEW, then DESTROY with the totals.
  log.add_stack(ct("10.244.0.5", 40000, "10.96.0.20", 80, "10.244.0.6", 8080, "10.244.0.5", 40000, false),
                1000);
  auto done = ct("10.244.0.5", 40000, "10.96.0.20", 80, "10.244.0.6", 8080, "10.244.0.5", 40000, true);
  done.packets = 6;
  done.bytes = 400;
  done.reply_packets = 4;
  done.reply_bytes = 300;
  log.add_stack(done, 2000);
  // A pod to the outside, masqueraded to the node's address; and a policy-selected pod, no NAT.
  log.add_stack(ct("10.244.0.5", 40001, "192.0.2.1", 443, "192.0.2.1", 443, "172.18.0.2", 40001, false),
                3000);
  log.add_stack(ct("10.244.0.5", 40002, "10.244.0.7", 80, "10.244.0.7", 80, "10.244.0.5", 40002, false),
                4000);
  auto snap = log.snapshot(0);
  const auto& flows = snap.at("flows").as_array();
  ASSERT_EQ(flows.size(), 3u) << snap;
  const auto& svc = flows[0];
  EXPECT_EQ(svc.at("dst"), "10.96.0.20");
  EXPECT_EQ(svc.at("verdict"), "forwarded");
  EXPECT_EQ(svc.at("path"), "stack");
  EXPECT_EQ(svc.at("nat"), "dnat");
  EXPECT_EQ(svc.at("reply").at("src"), "10.244.0.6");
  EXPECT_EQ(svc.at("reply").at("sport"), 8080);
  EXPECT_EQ(svc.at("ended"), true);
  EXPECT_EQ(svc.at("packets"), 6);
  EXPECT_EQ(svc.at("reply_bytes"), 300);
  EXPECT_EQ(svc.at("first_seen_ms"), 1000);
  EXPECT_EQ(flows[1].at("nat"), "snat");
  EXPECT_EQ(flows[1].at("reply").at("dst"), "172.18.0.2");
  EXPECT_EQ(flows[1].at("ended"), false);
  EXPECT_FALSE(flows[2].as_object().contains("nat")) << flows[2];
  EXPECT_EQ(flows[2].at("path"), "stack");
  EXPECT_EQ(snap.at("conntrack_events"), 4);
}

TEST(FlowLogTest, SinceWindowAndBoundedTable) {
  FlowLog log(3);
  for (uint16_t i = 0; i < 5; ++i)
    log.add_carried(event("10.244.0.5", 40000 + i, "10.244.0.6", 80, PN_TCP_SYN, 1, 60), 1000 + i * 100);
  auto all = log.snapshot(0);
  ASSERT_EQ(all.at("flows").as_array().size(), 3u);  // the two oldest evicted
  EXPECT_EQ(all.at("evicted"), 2);
  EXPECT_EQ(all.at("flows").as_array()[0].at("sport"), 40002);
  EXPECT_EQ(log.snapshot(1250).at("flows").as_array().size(), 2u);
  // Seen again: most recent now, so the next eviction takes another.
  log.add_carried(event("10.244.0.5", 40002, "10.244.0.6", 80, PN_TCP_ACK, 1, 60), 3000);
  log.add_carried(event("10.244.0.5", 40009, "10.244.0.6", 80, PN_TCP_SYN, 1, 60), 3100);
  auto after = log.snapshot(0);
  std::vector<int64_t> ports;
  for (const auto& f : after.at("flows").as_array()) ports.push_back(f.at("sport").to_number<int64_t>());
  EXPECT_EQ(ports, (std::vector<int64_t>{40004, 40002, 40009}));
  EXPECT_EQ(log.snapshot(0, 1).at("flows").as_array().size(), 1u);  // the limit keeps the newest
}

}  // namespace
}  // namespace podnet::agent
