// No window at pod start (issue 15): on a `podnet up` node, a pod under a default-deny + allow
// policy whose container's very first action is a connect() to an allowed peer gets through at
// the first SYN, a connect() to a denied peer does not, and its first cluster DNS lookup is
// answered at once (not after glibc's 5 s retry). Ten such pods at once, fast path on and off.
// The connects use a 0.5 s timeout, less than the kernel's 1 s SYN retransmission: a pod whose
// first packets meet the "pending pod" drop (its address not yet in the agent's table) fails.
#include <boost/json.hpp>
#include <chrono>
#include <map>
#include <sstream>
#include <thread>

#include "common/files.h"
#include "support/kubectl.h"
#include "support/temp_dir.h"
#include "support/up_cluster.h"

namespace podnet::testing {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

constexpr int kConnectFirst = 10, kClients = kConnectFirst + 3;

std::string trim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  return s;
}

json::object pod(const std::string& name, json::object labels, const std::string& script, bool serve) {
  json::object c{{"name", "main"}, {"image", "unused"}, {"command", json::array{"sh", "-c", script}}};
  if (serve) c["readinessProbe"] = {{"tcpSocket", {{"port", 80}}}, {"periodSeconds", 1}};
  return {{"apiVersion", "v1"},
          {"kind", "Pod"},
          {"metadata", {{"name", name}, {"namespace", "s"}, {"labels", std::move(labels)}}},
          {"spec",
           {{"nodeName", "node1"},
            {"restartPolicy", serve ? "Always" : "Never"},
            {"terminationGracePeriodSeconds", 1},
            {"containers", json::array{std::move(c)}}}}};
}

class NetpolStart : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    if (!have_agent()) GTEST_SKIP() << "podnet agent is not in this build";
    if (std::string why = kubectl_missing(); !why.empty()) GTEST_SKIP() << why;
    auto r = c_.up(1, std::string("--timeout 120") + (GetParam() ? "" : " --no-fast-path"));
    ASSERT_EQ(r.rc, 0) << r.out;
  }
  void apply(const json::array& items) {
    TempDir dir("pn-np-start");
    json::object list{{"apiVersion", "v1"}, {"kind", "List"}, {"items", items}};
    ASSERT_TRUE(write_file_atomic(dir.path() + "/objs.json", json::serialize(list)));
    auto r = c_.kubectl("apply -f " + dir.path() + "/objs.json");
    ASSERT_EQ(r.rc, 0) << r.out;
  }
  std::string ip_of(const std::string& name) {
    return trim(c_.kubectl("get pod -n s " + name + " -o jsonpath={.status.podIP}").out);
  }
  UpCluster c_;
};

TEST_P(NetpolStart, FirstConnectOfANewPodMeetsItsPolicy) {
  const std::string serve = "socat TCP-LISTEN:80,fork,reuseaddr EXEC:true";
  ASSERT_NO_FATAL_FAILURE(apply(json::array{
      json::object{{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", "s"}}}},
      pod("ok", {{"role", "ok"}}, serve, true),
      pod("no", {{"role", "no"}}, serve, true),
  }));
  auto w = c_.kubectl("wait -n s --for=condition=Ready --timeout=60s pod/ok pod/no");
  ASSERT_EQ(w.rc, 0) << w.out;
  std::string ok_ip = ip_of("ok"), no_ip = ip_of("no");
  ASSERT_FALSE(ok_ip.empty());
  ASSERT_FALSE(no_ip.empty());
  // Default deny both ways for app=client, egress only to role=ok on TCP 80 and to the cluster DNS.
  json::object dns_peer{
      {"namespaceSelector", {{"matchLabels", {{"kubernetes.io/metadata.name", "kube-system"}}}}},
      {"podSelector", {{"matchLabels", {{"k8s-app", "kube-dns"}}}}}};
  json::object policy{
      {"apiVersion", "networking.k8s.io/v1"},
      {"kind", "NetworkPolicy"},
      {"metadata", {{"name", "client"}, {"namespace", "s"}}},
      {"spec",
       {{"podSelector", {{"matchLabels", {{"app", "client"}}}}},
        {"policyTypes", json::array{"Ingress", "Egress"}},
        {"egress", json::array{
                       {{"to", json::array{{{"podSelector", {{"matchLabels", {{"role", "ok"}}}}}}}},
                        {"ports", json::array{{{"protocol", "TCP"}, {"port", 80}}}}},
                       {{"to", json::array{dns_peer}},
                        {"ports", json::array{{{"protocol", "UDP"}, {"port", 53}},
                                              {{"protocol", "TCP"}, {"port", 53}}}}},
                   }}}}};
  ASSERT_NO_FATAL_FAILURE(apply(json::array{policy}));
  // The denied peer is denied before the clients exist (a policy edit is eventually applied; what
  // this test is about is the clients' own start).
  std::this_thread::sleep_for(1s);

  // The very first action is the connect; then the denied one; then a timed DNS lookup.
  const std::string script =
      "if socat -u /dev/null TCP:" + ok_ip + ":80,connect-timeout=0.5; then a=ok; else a=FAIL; fi; " +
      "if socat -u /dev/null TCP:" + no_ip + ":80,connect-timeout=0.5; then d=OPEN; else d=closed; fi; " +
      "t0=$(date +%s%N); if getent hosts kubernetes.default.svc.cluster.local >/dev/null; then r=ok; "
      "else r=FAIL; fi; t1=$(date +%s%N); "
      "echo \"allowed=$a denied=$d dns=$r dns_ms=$(( (t1 - t0) / 1000000 ))\"; "
      "[ $a = ok ] && [ $d = closed ] && [ $r = ok ]";
  // Three more whose very first action is the DNS lookup (the "first lookup takes 5 s" finding:
  // glibc resends a lost query after 5 s).
  const std::string dns_first =
      "t0=$(date +%s%N); if getent hosts kubernetes.default.svc.cluster.local >/dev/null; then r=ok; "
      "else r=FAIL; fi; t1=$(date +%s%N); echo \"allowed=ok denied=closed dns=$r dns_ms=$(( (t1 - t0) / "
      "1000000 ))\"; "
      "[ $r = ok ]";
  json::array clients;
  for (int i = 0; i < kClients; ++i)
    clients.push_back(pod("client-" + std::to_string(i), {{"app", "client"}},
                          i < kConnectFirst ? script : dns_first, false));
  // One that stays (a finished pod's classes leave the table, and their counters with them).
  clients.push_back(
      pod("client-live", {{"app", "client"}},
          "while :; do socat -u /dev/null TCP:" + ok_ip + ":80,connect-timeout=1; sleep 0.3; done", false));
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_NO_FATAL_FAILURE(apply(clients));

  std::map<std::string, std::string> phase;
  auto deadline = t0 + 60s;
  for (;;) {
    auto r = c_.kubectl(
        "get pods -n s -l app=client -o jsonpath='{range .items[*]}{.metadata.name} "
        "{.status.phase}{\"\\n\"}{end}'");
    phase.clear();
    std::istringstream in(r.out);
    for (std::string name, ph; in >> name >> ph;) phase[name] = ph;
    int done = 0;
    for (const auto& [_, ph] : phase) done += ph == "Succeeded" || ph == "Failed";
    if (done == kClients || std::chrono::steady_clock::now() > deadline) break;
    std::this_thread::sleep_for(200ms);
  }
  double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  int succeeded = 0;
  for (int i = 0; i < kClients; ++i) {
    std::string name = "client-" + std::to_string(i);
    std::string log = trim(c_.kubectl("logs -n s " + name).out);
    EXPECT_EQ(phase[name], "Succeeded") << name << ": " << log;
    EXPECT_NE(log.find("allowed=ok denied=closed dns=ok"), std::string::npos) << name << ": " << log;
    // The DNS lookup answered at once: a first query dropped would take glibc's 5 s retry.
    if (auto at = log.find("dns_ms="); at != std::string::npos) {
      EXPECT_LT(std::stoi(log.substr(at + 7)), 2000) << name << ": " << log;
    }
    succeeded += phase[name] == "Succeeded";
  }
  std::printf("netpol start (fast path %s): %d of %d pods right, create -> all done %.1f s\n",
              GetParam() ? "on" : "off", succeeded, kClients, took);

  // The denied connects were logged (NFLOG, read by the agent) with pod, peer, port and policy.
  std::string want = "network policy: denied egress tcp ";
  std::string tail = " -> " + no_ip + ":80: pod s/client-";
  std::string log;
  for (auto until = std::chrono::steady_clock::now() + 5s; std::chrono::steady_clock::now() < until;
       std::this_thread::sleep_for(200ms)) {
    log = read_file(c_.layout().log_path("agent-node1")).value_or("");
    if (log.find(tail) != std::string::npos) break;
  }
  size_t at = log.find(tail);
  ASSERT_NE(at, std::string::npos) << "no denial logged in the agent's log";
  size_t line_start = log.rfind('\n', at) + 1;
  std::string line = log.substr(line_start, log.find('\n', at) - line_start);
  std::printf("logged: %s\n", line.c_str());
  EXPECT_NE(line.find(want), std::string::npos) << line;
  EXPECT_NE(line.find("(selected by s/client) to pod s/no"), std::string::npos) << line;
  EXPECT_EQ(log.find(" -> " + ok_ip + ":80: pod s/client-"), std::string::npos)
      << "an allowed connect was logged";
  // The agent's /metrics: denied packets, logged denials and the pods' admission waits.
  std::string metrics = c_.in_node(1, "curl -sS http://127.0.0.1:10249/metrics").out;
  auto value = [&](const std::string& name) {
    size_t i = metrics.find("\n" + name + " ");
    return i == std::string::npos ? -1.0 : std::stod(metrics.substr(i + name.size() + 2));
  };
  EXPECT_GE(value("podnet_network_policy_denied_packets_total{direction=\"egress\"}"), kConnectFirst)
      << metrics;
  EXPECT_GE(value("podnet_network_policy_denials_logged_total"), 1) << metrics;
  EXPECT_GE(value("podnet_network_policy_pod_admission_duration_seconds_count"), kClients) << metrics;
  EXPECT_EQ(value("podnet_network_policy_pod_admission_timeouts_total"), 0) << metrics;
  // Per-rule counters: egress rule 0 (TCP 80 to role=ok) allowed each connect-first client's SYN.
  EXPECT_GE(value("podnet_network_policy_rule_allowed_packets_total{namespace=\"s\",policy=\"client\","
                  "direction=\"egress\",rule=\"0\"}"),
            kConnectFirst)
      << metrics;
  double n = value("podnet_network_policy_pod_admission_duration_seconds_count");
  // Batched: the pods share syncs (how many depends on how their starts spread out in time).
  double syncs = value("podnet_network_policy_pod_admission_syncs_total");
  EXPECT_GE(syncs, 1) << metrics;
  EXPECT_LE(syncs, n) << metrics;
  EXPECT_EQ(value("podnet_network_policy_pod_admission_duration_seconds_bucket{le=\"+Inf\"}"), n) << metrics;
  std::printf("pod admission wait: mean %.1f ms, max %.1f ms over %.0f pods in %.0f syncs\n",
              1000 * value("podnet_network_policy_pod_admission_duration_seconds_sum") / std::max(n, 1.0),
              1000 * value("podnet_network_policy_pod_admission_max_seconds"), n, syncs);
}

INSTANTIATE_TEST_SUITE_P(FastPath, NetpolStart, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "On" : "Off"; });

}  // namespace
}  // namespace podnet::testing
