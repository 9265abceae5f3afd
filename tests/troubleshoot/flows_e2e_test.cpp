// `podnet flows` on a 2-node vxlan `podnet up` cluster (fast path and NetworkPolicy on, the
// defaults) through the real binary: a client pod connects every 0.3 s to a server pod on its node
// and one on the other node (carried by the fast path: reported in its ring buffer, on both nodes
// for the far one), to a pod a deny-all policy isolates (dropped in the policy table, logged), and
// to the server's Service by its ClusterIP (through the stack: DNAT, a conntrack event). The flows
// must name both pods, the Service in front of the server, the verdicts, the dropping policy, the
// NAT (ClusterIP and chosen endpoint), and the filters must narrow them.
#include <boost/json.hpp>
#include <chrono>
#include <thread>

#include "common/files.h"
#include "support/kubectl.h"
#include "support/temp_dir.h"
#include "support/up_cluster.h"

namespace podnet::testing {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

std::string trim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  return s;
}

json::object pod(const std::string& name, json::object labels, const std::string& script, bool serve,
                 const std::string& node = "node1") {
  json::object c{{"name", "main"}, {"image", "unused"}, {"command", json::array{"sh", "-c", script}}};
  if (serve) c["readinessProbe"] = {{"tcpSocket", {{"port", 80}}}, {"periodSeconds", 1}};
  return {{"apiVersion", "v1"},
          {"kind", "Pod"},
          {"metadata", {{"name", name}, {"namespace", "f"}, {"labels", std::move(labels)}}},
          {"spec",
           {{"nodeName", node},
            {"terminationGracePeriodSeconds", 1},
            {"containers", json::array{std::move(c)}}}}};
}

class FlowsE2E : public ::testing::Test {
 protected:
  void apply(const json::array& items) {
    TempDir dir("pn-flows");
    json::object list{{"apiVersion", "v1"}, {"kind", "List"}, {"items", items}};
    ASSERT_TRUE(write_file_atomic(dir.path() + "/objs.json", json::serialize(list)));
    auto r = c_.kubectl("apply -f " + dir.path() + "/objs.json");
    ASSERT_EQ(r.rc, 0) << r.out;
  }
  std::string ip_of(const std::string& name) {
    return trim(c_.kubectl("get pod -n f " + name + " -o jsonpath={.status.podIP}").out);
  }
  CommandResult flows(const std::string& args) {
    return shell(podnet_bin() + " flows --kubeconfig " + c_.kubeconfig() + " " + args + " 2>&1");
  }
  // via_service: the flow to the Service's ClusterIP (DNATed to dst_pod), else one to the pod's own IP.
  static const json::object* find(const json::value& doc, const std::string& dst_pod,
                                  const std::string& verdict, const std::string& node = "node1",
                                  bool via_service = false) {
    if (!doc.is_object() || !doc.as_object().contains("flows")) return nullptr;
    for (const auto& f : doc.at("flows").as_array()) {
      const auto& o = f.as_object();
      if (o.contains("endpoint") != via_service) continue;
      // A pod-to-pod connection the stack carried (one that began before the fast path was attached
      // to the client's veth) is not the one looked for.
      if (!via_service && o.at("path") == "stack") continue;
      if (o.at("node") == json::string_view(node) && o.contains("src_pod") && o.at("src_pod") == "f/cli" &&
          o.contains("dst_pod") && o.at("dst_pod") == json::string_view(dst_pod) &&
          o.at("verdict") == json::string_view(verdict))
        return &o;
    }
    return nullptr;
  }
  UpCluster c_;
};

TEST_F(FlowsE2E, ForwardedAndPolicyDroppedConnectionsNamedWithVerdicts) {
  if (!have_agent()) GTEST_SKIP() << "podnet agent is not in this build";
  if (std::string why = kubectl_missing(); !why.empty()) GTEST_SKIP() << why;
  auto up = c_.up(2, "--overlay vxlan --timeout 120");
  ASSERT_EQ(up.rc, 0) << up.out;
  const std::string serve = "socat TCP-LISTEN:80,fork,reuseaddr EXEC:true";
  json::object svc{{"apiVersion", "v1"},
                   {"kind", "Service"},
                   {"metadata", {{"name", "web"}, {"namespace", "f"}}},
                   {"spec", {{"selector", {{"role", "srv"}}}, {"ports", json::array{{{"port", 80}}}}}}};
  ASSERT_NO_FATAL_FAILURE(apply(json::array{
      json::object{{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", "f"}}}},
      pod("srv", {{"role", "srv"}}, serve, true), pod("locked", {{"role", "locked"}}, serve, true),
      pod("far", {{"role", "far"}}, serve, true, "node2"), svc}));
  auto w = c_.kubectl("wait -n f --for=condition=Ready --timeout=60s pod/srv pod/locked pod/far");
  ASSERT_EQ(w.rc, 0) << w.out;
  std::string srv_ip = ip_of("srv"), locked_ip = ip_of("locked"), far_ip = ip_of("far");
  ASSERT_FALSE(srv_ip.empty());
  ASSERT_FALSE(locked_ip.empty());
  json::object deny{
      {"apiVersion", "networking.k8s.io/v1"},
      {"kind", "NetworkPolicy"},
      {"metadata", {{"name", "deny"}, {"namespace", "f"}}},
      {"spec",
       {{"podSelector", {{"matchLabels", {{"role", "locked"}}}}}, {"policyTypes", json::array{"Ingress"}}}}};
  ASSERT_NO_FATAL_FAILURE(apply(json::array{deny}));
  std::string cluster_ip = trim(c_.kubectl("get svc -n f web -o jsonpath={.spec.clusterIP}").out);
  ASSERT_FALSE(cluster_ip.empty());
  ASSERT_NO_FATAL_FAILURE(apply(json::array{
      pod("cli", {{"app", "cli"}},
          "while :; do socat -u /dev/null TCP:" + srv_ip + ":80,connect-timeout=1; socat -u /dev/null TCP:" +
              locked_ip + ":80,connect-timeout=0.2; socat -u /dev/null TCP:" + far_ip +
              ":80,connect-timeout=1; socat -u /dev/null TCP:" + cluster_ip +
              ":80,connect-timeout=1; sleep 0.3; done",
          false)}));
  w = c_.kubectl("wait -n f --for=condition=Ready --timeout=60s pod/cli");
  ASSERT_EQ(w.rc, 0) << w.out;

  json::value doc;
  const json::object *fwd = nullptr, *dropped = nullptr, *far_out = nullptr, *far_in = nullptr,
                     *via_svc = nullptr;
  CommandResult r;
  for (auto deadline = std::chrono::steady_clock::now() + 20s; std::chrono::steady_clock::now() < deadline;) {
    r = flows("-n f --since 1m -o json");
    ASSERT_EQ(r.rc, 0) << r.out;
    json::error_code ec;
    doc = json::parse(r.out, ec);
    ASSERT_FALSE(ec) << r.out;
    fwd = find(doc, "f/srv", "forwarded");
    dropped = find(doc, "f/locked", "dropped");
    far_out = find(doc, "f/far", "forwarded");          // node1 carries the client's packets out
    far_in = find(doc, "f/far", "forwarded", "node2");  // node2 carries only the server's replies
    via_svc = find(doc, "f/srv", "forwarded", "node1", true);
    if (fwd && dropped && far_out && far_in && via_svc) break;
    std::this_thread::sleep_for(500ms);
  }
  ASSERT_NE(fwd, nullptr) << r.out;
  ASSERT_NE(dropped, nullptr) << r.out;
  ASSERT_NE(far_out, nullptr) << r.out;
  ASSERT_NE(far_in, nullptr) << r.out;
  ASSERT_NE(via_svc, nullptr) << r.out;
  // To the ClusterIP: through the stack, DNATed to the server; conntrack's tuples show both.
  EXPECT_EQ(via_svc->at("path"), "stack") << r.out;
  EXPECT_EQ(via_svc->at("nat"), "dnat") << r.out;
  EXPECT_EQ(via_svc->at("dst"), json::string_view(cluster_ip)) << r.out;
  EXPECT_EQ(via_svc->at("dport"), 80) << r.out;
  EXPECT_EQ(via_svc->at("dst_service"), "f/web") << r.out;
  EXPECT_EQ(via_svc->at("endpoint_pod"), "f/srv") << r.out;
  EXPECT_EQ(via_svc->at("endpoint"), json::string_view(srv_ip + ":80")) << r.out;
  EXPECT_EQ(via_svc->at("reply").at("src"), json::string_view(srv_ip)) << r.out;
  EXPECT_EQ(via_svc->at("reply").at("dst"), json::string_view(ip_of("cli"))) << r.out;  // no SNAT
  EXPECT_EQ(via_svc->at("proto"), "tcp") << r.out;
  EXPECT_EQ(far_out->at("path"), "fastpath-vxlan") << r.out;  // encapsulated by the program
  EXPECT_EQ(far_in->at("path"), "fastpath-vxlan") << r.out;
  EXPECT_GE(far_out->at("packets").to_number<int64_t>(), 1);
  // On node2 the first report is the server's SYN+ACK: the client is still named as the opener.
  EXPECT_EQ(far_in->at("dport"), 80) << r.out;
  EXPECT_GE(far_in->at("reply_packets").to_number<int64_t>(), 1);
  EXPECT_EQ(far_in->at("packets"), 0) << r.out;
  EXPECT_EQ(fwd->at("node"), "node1");
  EXPECT_EQ(fwd->at("proto"), "tcp");
  EXPECT_EQ(fwd->at("dport"), 80);
  EXPECT_EQ(fwd->at("path"), "fastpath-local");  // one node: redirected into the server's namespace
  EXPECT_EQ(fwd->at("dst_service"), "f/web");
  EXPECT_GE(fwd->at("packets").to_number<int64_t>(), 1);
  EXPECT_GE(fwd->at("reply_packets").to_number<int64_t>(), 1);  // the server's replies: one flow
  EXPECT_EQ(dropped->at("path"), "policy");
  EXPECT_EQ(dropped->at("direction"), "ingress");
  EXPECT_EQ(dropped->at("policies"), "f/deny");
  EXPECT_EQ(dropped->at("dport"), 80);
  ASSERT_EQ(doc.at("nodes").as_array().size(), 2u) << r.out;
  for (const auto& node : doc.at("nodes").as_array()) {
    EXPECT_EQ(node.at("fastpath"), true) << r.out;
    EXPECT_EQ(node.at("lost"), 0) << r.out;
    EXPECT_EQ(node.at("conntrack"), true) << r.out;
    EXPECT_EQ(node.at("conntrack_acct"), true) << r.out;
    EXPECT_EQ(node.at("conntrack_overruns"), 0) << r.out;
  }

  // Filters: the verdict, the pod, the Service; and the table a person reads.
  r = flows("--verdict dropped -n f -o json");
  ASSERT_EQ(r.rc, 0) << r.out;
  doc = json::parse(r.out);
  EXPECT_FALSE(doc.at("flows").as_array().empty()) << r.out;
  for (const auto& f : doc.at("flows").as_array()) EXPECT_EQ(f.at("verdict"), "dropped") << r.out;
  r = flows("--service web -n f -o json");
  doc = json::parse(r.out);
  EXPECT_FALSE(doc.at("flows").as_array().empty()) << r.out;
  for (const auto& f : doc.at("flows").as_array()) EXPECT_EQ(f.at("dst_pod"), "f/srv") << r.out;
  r = flows("--pod locked -n f -o json");
  doc = json::parse(r.out);
  EXPECT_FALSE(doc.at("flows").as_array().empty()) << r.out;
  for (const auto& f : doc.at("flows").as_array()) EXPECT_EQ(f.at("dst_pod"), "f/locked") << r.out;
  r = flows("--node node2 -n f -o json");
  doc = json::parse(r.out);
  EXPECT_FALSE(doc.at("flows").as_array().empty()) << r.out;
  for (const auto& f : doc.at("flows").as_array()) EXPECT_EQ(f.at("node"), "node2") << r.out;
  r = flows("-n f");
  EXPECT_EQ(r.rc, 0) << r.out;
  std::printf("podnet flows -n f:\n%s", r.out.c_str());
  EXPECT_NE(r.out.find("f/cli:"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("f/srv:80 (svc f/web)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(cluster_ip + ":80 (svc f/web) -> f/srv:80"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("stack dnat"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("dropped"), std::string::npos) << r.out;
  r = flows("--since 2d");
  EXPECT_EQ(r.rc, 2) << r.out;

  // The node API refuses a bad window with a reason (through the API server, as kubectl sees it).
  auto raw = c_.kubectl("get --raw '/api/v1/nodes/node1/proxy/podnet/v1/flows?since=abc'");
  EXPECT_NE(raw.rc, 0) << raw.out;
  EXPECT_NE(raw.out.find("since"), std::string::npos) << raw.out;
}

}  // namespace
}  // namespace podnet::testing
