// `podnet trace --live` without a cluster: the node API's probe requests as parsed (what the API
// server relays from a user), and how the CLI turns each node's evidence about one probe into
// seen / not seen per hop and the hop a lost probe was lost at, against fake nodes.
#include "troubleshoot/trace_live.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <cstdio>
#include <map>
#include <mutex>

#include "agent/probe_query.h"

namespace podnet::troubleshoot {
namespace {

namespace json = boost::json;
using agent::parse_probe_query;
using agent::ProbeStep;

TEST(ProbeQueryTest, EveryStepNamesTheSourcePodAndBoundsItsParameters) {
  auto arm = parse_probe_query(
      "/podnet/v1/probe/arm?namespace=lv&pod=cli&src=10.244.0.5&sport=40001&proto=udp&ttl=3000");
  ASSERT_TRUE(arm) << arm.error().message;
  EXPECT_EQ(arm->step, ProbeStep::kArm);
  EXPECT_EQ(arm->ns, "lv");
  EXPECT_EQ(arm->pod, "cli");
  EXPECT_EQ(arm->src->to_string(), "10.244.0.5");
  EXPECT_EQ(arm->sport, 40001);
  EXPECT_EQ(arm->proto, 17);
  EXPECT_EQ(arm->ttl_ms, 3000);
  auto send =
      parse_probe_query("/podnet/v1/probe/send?namespace=lv&pod=cli&dst=10.96.0.10&dport=80&sport=40001");
  ASSERT_TRUE(send) << send.error().message;
  EXPECT_EQ(send->dport, 80);
  EXPECT_EQ(send->timeout_ms, 1000);
  auto collect = parse_probe_query("/podnet/v1/probe/collect?namespace=lv&pod=cli&id=00ff12ab34cd");
  ASSERT_TRUE(collect) << collect.error().message;
  EXPECT_EQ(collect->id, "00ff12ab34cd");

  struct Bad {
    const char* target;
    int status;
    const char* says;
  };
  for (const Bad& b : std::vector<Bad>{
           {"/podnet/v1/probe/arm?src=10.0.0.1&sport=40000", 400, "\"namespace\" is required"},
           {"/podnet/v1/probe/arm?namespace=lv&pod=cli&src=10.0.0.1&sport=80", 400, "sport"},
           {"/podnet/v1/probe/arm?namespace=lv&pod=cli&src=fd00::1&sport=40000", 400, "IPv4"},
           {"/podnet/v1/probe/arm?namespace=lv&pod=cli&src=10.0.0.1&sport=40000&ttl=600000", 400, "ttl"},
           {"/podnet/v1/probe/arm?namespace=lv&pod=cli&pod=x&src=10.0.0.1&sport=40000", 400, "twice"},
           {"/podnet/v1/probe/arm?namespace=Lv&pod=cli&src=10.0.0.1&sport=40000", 400, "namespace"},
           {"/podnet/v1/probe/send?namespace=lv&pod=cli&dst=10.0.0.1&dport=0&sport=40000", 400, "dport"},
           {"/podnet/v1/probe/send?namespace=lv&pod=cli&dst=10.0.0.1&dport=80&sport=40000&wait=60000", 400,
            "wait"},
           {"/podnet/v1/probe/collect?namespace=lv&pod=cli&id=../../x", 400, "id"},
           {"/podnet/v1/probe/collect?namespace=lv&pod=cli&id=1&cmd=x", 400, "unknown parameter"},
           {"/podnet/v1/probe/exec?namespace=lv&pod=cli", 404, "unknown probe step"},
           {"/podnet/v1/probe/arm?namespace=lv&pod=cli&src=10.0.0.1&sport=40000&proto=%zz", 400, ""},
       }) {
    auto q = parse_probe_query(b.target);
    ASSERT_FALSE(q) << b.target;
    EXPECT_EQ(q.error().status, b.status) << b.target;
    EXPECT_NE(q.error().message.find(b.says), std::string::npos) << b.target << ": " << q.error().message;
  }
}

// The computed trace of pod a (node1) to pod c (node2) across a VXLAN tunnel, as compute_trace
// answers it (written out here so this test pins the live part only).
json::value computed_across() {
  return json::parse(R"({"src":{"kind":"pod","name":"lv/a","ip":"10.244.0.5","node":"node1"},
    "dst":{"kind":"pod","name":"lv/c","ip":"10.244.1.5","node":"node2"},"proto":"tcp",
    "hops":[{"hop":"pod eth0","node":"node1","detail":"","evidence":null},
            {"hop":"fast path","node":"node1","detail":"","evidence":null},
            {"hop":"route","node":"node1","detail":"","evidence":null},
            {"hop":"vxlan tunnel","node":"node1","detail":"","evidence":null},
            {"hop":"masquerade","node":"node1","detail":"","evidence":null},
            {"hop":"pod veth","node":"node2","detail":"","evidence":null}],
    "result":"delivered","lost_at":null,"ms":3.0})");
}

// Fake nodes: arm answers an id and remembers the probe's source port, send answers `outcome`,
// collect answers what the node "saw" (with the probe's real port filled in for PORT).
struct FakeNodes {
  std::string outcome = "connected";
  std::map<std::string, std::string> seen;  // node -> collect body with PORT placeholders
  std::vector<std::string> calls;
  std::mutex mu;  // the CLI asks the nodes in parallel
  std::string port;
  int arm_status = 200;
  ApiGet get() {
    return [this](const std::string& path) -> Result<json::value> {
      std::lock_guard lock(mu);
      calls.push_back(path);
      const std::string prefix = "/api/v1/nodes/";
      std::string node = path.substr(prefix.size(), path.find('/', prefix.size()) - prefix.size());
      if (path.find("/probe/arm?") != std::string::npos) {
        if (arm_status == 403)
          return fail_msg("pods \"a\" is forbidden: User \"x\" cannot create resource \"pods/exec\"");
        size_t s = path.find("sport=") + 6;
        port = path.substr(s, path.find('&', s) - s);
        return json::value(json::object{{"id", "0000000000" + node.substr(4)}});
      }
      if (path.find("/probe/send?") != std::string::npos)
        return json::value(json::object{{"result", outcome}, {"ms", 1.5}});
      if (path.find("/probe/collect?") != std::string::npos) {
        std::string body = seen.count(node) ? seen[node] : "{}";
        for (size_t at; (at = body.find("PORT")) != std::string::npos;) body.replace(at, 4, port);
        return json::parse(body);
      }
      return fail_msg("GET " + path + ": 404");
    };
  }
};

TEST(TraceLiveTest, DeliveredProbeIsSeenAtEveryHopWithEachNodesEvidence) {
  FakeNodes nodes;
  nodes.seen["node1"] = R"({"flows":[{"src":"10.244.0.5","dst":"10.244.1.5","sport":PORT,"dport":80,
      "verdict":"forwarded","path":"fastpath-vxlan"}],"nftrace":[],"drops":[]})";
  nodes.seen["node2"] = R"({"flows":[{"src":"10.244.0.5","dst":"10.244.1.5","sport":PORT,"dport":80,
      "verdict":"forwarded","path":"fastpath-vxlan"}],"nftrace":[],"drops":[]})";
  TraceRequest req{"lv/a", "lv/c", "tcp", 80};
  auto t = live_trace(nodes.get(), req, computed_across());
  ASSERT_TRUE(t) << t.error().message();
  EXPECT_EQ(t->at("result"), "delivered") << json::serialize(*t);
  for (const auto& h : t->at("hops").as_array()) EXPECT_TRUE(h.at("live").at("seen").as_bool()) << h;
  EXPECT_EQ(t->at("live").at("probe").at("src").as_string(), "10.244.0.5:" + nodes.port);
  EXPECT_EQ(t->at("live").at("probe").at("dst"), "10.244.1.5:80");
  const auto& fp = t->at("hops").as_array()[1].at("live").at("evidence").as_array();
  ASSERT_FALSE(fp.empty());
  EXPECT_NE(std::string(fp[0].as_string()).find("fastpath-vxlan"), std::string::npos);
  EXPECT_EQ(t->at("computed").at("result"), "delivered");
  // Arm on both nodes, one send from the source's node, collect on both.
  int arms = 0, sends = 0, collects = 0;
  for (const auto& c : nodes.calls) {
    arms += c.find("/probe/arm?namespace=lv&pod=a&") != std::string::npos;
    sends += c.find("/nodes/node1/proxy/podnet/v1/probe/send?namespace=lv&pod=a&dst=10.244.1.5&dport=80") !=
             std::string::npos;
    collects += c.find("/probe/collect?") != std::string::npos;
  }
  EXPECT_EQ(arms, 2);
  EXPECT_EQ(sends, 1);
  EXPECT_EQ(collects, 2);
  EXPECT_NE(format_live_trace(*t).find("seen"), std::string::npos);
}

TEST(TraceLiveTest, ProbeDroppedByThePolicyIsLostAtTheDestinationVethWithTheReason) {
  FakeNodes nodes;
  nodes.outcome = "timeout";
  nodes.seen["node1"] = R"({"flows":[],"nftrace":[
      {"packet":1,"family":"inet","table":"podnet-probe-ab","chain":"trace","type":"rule","verdict":"continue",
       "iif":"pnv1234","reply":false,"src":"10.244.0.5:PORT","dst":"10.244.1.5:80"},
      {"packet":1,"family":"ip","table":"podnet","chain":"forward","type":"policy","verdict":"accept",
       "iif":"pnv1234","oif":"pnvx0","reply":false}],"drops":[]})";
  nodes.seen["node2"] = R"({"flows":[],"nftrace":[
      {"packet":7,"family":"inet","table":"podnet-probe-cd","chain":"trace","type":"rule","verdict":"continue",
       "iif":"pnvx0","reply":false,"src":"10.244.0.5:PORT","dst":"10.244.1.5:80"},
      {"packet":7,"family":"inet","table":"podnet-policy","chain":"forward","type":"rule","handle":12,
       "verdict":"drop","iif":"pnvx0","oif":"pnv9","reply":false,"rule":{"comment":"lv/deny ingress"}}],
      "drops":[{"reason":"NETFILTER_DROP","function":"nf_hook_slow+0x9a","dev":"pnvx0","reply":false,
                "src":"10.244.0.5:PORT","dst":"10.244.1.5:80"}]})";
  auto t = live_trace(nodes.get(), {"lv/a", "lv/c", "tcp", 80}, computed_across());
  ASSERT_TRUE(t) << t.error().message();
  EXPECT_EQ(t->at("result"), "lost") << json::serialize(*t);
  EXPECT_EQ(t->at("lost_at"), "pod veth");
  EXPECT_EQ(t->at("live").at("last_seen"), "masquerade");
  EXPECT_TRUE(t->at("hops").as_array()[3].at("live").at("seen").as_bool());  // the tunnel brought it
  std::string reason(t->at("reason").as_string());
  EXPECT_NE(reason.find("node2"), std::string::npos) << reason;
  EXPECT_NE(reason.find("podnet-policy"), std::string::npos) << reason;
  EXPECT_NE(reason.find("NETFILTER_DROP"), std::string::npos) << reason;
  EXPECT_EQ(t->at("computed").at("result"), "delivered");  // what the state said, kept
  std::string text = format_live_trace(*t);
  std::printf("%s", text.c_str());
  EXPECT_NE(text.find("NOT SEEN"), std::string::npos);
  EXPECT_NE(text.find("last seen at: masquerade"), std::string::npos) << text;
}

TEST(TraceLiveTest, NoReportAnywhereIsLostAtTheFirstHop) {
  FakeNodes nodes;
  nodes.outcome = "timeout";
  auto t = live_trace(nodes.get(), {"lv/a", "lv/c", "tcp", 80}, computed_across());
  ASSERT_TRUE(t);
  EXPECT_EQ(t->at("lost_at"), "pod eth0");
  EXPECT_TRUE(t->at("live").at("last_seen").is_null());
  EXPECT_NE(std::string(t->at("reason").as_string()).find("no drop seen"), std::string::npos);
}

TEST(TraceLiveTest, RefusedCallerSendsNothingAndNonPodSourcesAreRefused) {
  FakeNodes nodes;
  nodes.arm_status = 403;
  auto t = live_trace(nodes.get(), {"lv/a", "lv/c", "tcp", 80}, computed_across());
  ASSERT_FALSE(t);
  EXPECT_NE(t.error().message().find("pods/exec"), std::string::npos);
  for (const auto& c : nodes.calls) EXPECT_EQ(c.find("/probe/send"), std::string::npos) << c;

  json::value from_node = computed_across();
  from_node.as_object()["src"] =
      json::parse(R"({"kind":"node","name":"node1","ip":"192.168.5.11","node":"node1"})");
  FakeNodes n2;
  auto r = live_trace(n2.get(), {"node/node1", "lv/c", "tcp", 80}, from_node);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("pod as the source"), std::string::npos);
  auto no_port = live_trace(n2.get(), {"lv/a", "lv/c", "tcp", 0}, computed_across());
  ASSERT_FALSE(no_port);
  EXPECT_NE(no_port.error().message().find("--port"), std::string::npos);
  EXPECT_TRUE(n2.calls.empty());
}

}  // namespace
}  // namespace podnet::troubleshoot
