// The article's four problems end to end with the real kubectl on a `podnet up` cluster (issue 5):
// container-to-container, pod-to-pod (same node, across nodes, both overlays, no NAT),
// pod-to-service (spread, survives a pod delete), internet-to-service (NodePort on every node,
// LoadBalancer IP, externalTrafficPolicy Local keeps the client IP, egress seen as the node IP);
// plus agent kill -9 and restart under an open connection, node removal, and `podnet down`
// leaving nothing (checked after every test by UpCluster). Pods are processes from this machine's
// file system (socat, sh). Each test brings up its own cluster: ctest runs them as processes.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <boost/json.hpp>
#include <chrono>
#include <map>
#include <set>
#include <thread>

#include "common/fd.h"
#include "common/files.h"
#include "fastpath/fastpath.h"
#include "netlink/netns.h"
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

// A container answering every TCP connection on `port` with "<name> <client address>".
json::object echo_name_container(const std::string& name, int port) {
  return {{"name", "srv"},
          {"image", "unused"},
          {"command", json::array{"socat", "TCP-LISTEN:" + std::to_string(port) + ",fork,reuseaddr",
                                  "SYSTEM:echo " + name + " $SOCAT_PEERADDR"}},
          {"readinessProbe", {{"tcpSocket", {{"port", port}}}, {"periodSeconds", 1}}}};
}

json::object pod(const std::string& name, const std::string& node, json::object labels,
                 json::array containers) {
  json::object spec{{"containers", std::move(containers)}, {"terminationGracePeriodSeconds", 2}};
  if (!node.empty()) spec["nodeName"] = node;
  return {{"apiVersion", "v1"},
          {"kind", "Pod"},
          {"metadata", {{"name", name}, {"namespace", "default"}, {"labels", std::move(labels)}}},
          {"spec", std::move(spec)}};
}

json::object sleeper(const std::string& name, const std::string& node) {
  return pod(name, node, {{"role", "client"}},
             json::array{json::object{
                 {"name", "c"}, {"image", "unused"}, {"command", json::array{"sleep", "3600"}}}});
}

json::object service(const std::string& name, const std::string& app, const std::string& type, int port,
                     int target, const std::string& etp = "") {
  json::object spec{
      {"selector", {{"app", app}}},
      {"type", type},
      {"ports", json::array{json::object{{"port", port}, {"targetPort", target}, {"protocol", "TCP"}}}}};
  if (!etp.empty()) spec["externalTrafficPolicy"] = etp;
  return {{"apiVersion", "v1"},
          {"kind", "Service"},
          {"metadata", {{"name", name}, {"namespace", "default"}}},
          {"spec", std::move(spec)}};
}

// bring_up() may skip (no agent in this build) or fail; either way the test body stops there.
#define PODNET_BRING_UP(args)               \
  do {                                      \
    ASSERT_NO_FATAL_FAILURE(bring_up args); \
    if (IsSkipped()) return;                \
  } while (0)

class E2E : public ::testing::Test {
 protected:
  void bring_up(int nodes, const std::string& overlay) {
    if (!have_agent()) GTEST_SKIP() << "podnet agent is not in this build";
    if (std::string why = kubectl_missing(); !why.empty()) GTEST_SKIP() << why;
    auto r = c_.up(nodes, "--overlay " + overlay + " --timeout 120");
    ASSERT_EQ(r.rc, 0) << r.out;
  }

  void apply(const json::object& obj) {
    TempDir dir("pn-e2e");
    ASSERT_TRUE(write_file_atomic(dir.path() + "/obj.json", json::serialize(obj)));
    auto r = c_.kubectl("apply -f " + dir.path() + "/obj.json");
    ASSERT_EQ(r.rc, 0) << r.out;
  }
  void wait_ready(const std::vector<std::string>& pods) {
    std::string names;
    for (const auto& p : pods) names += " pod/" + p;
    auto r = c_.kubectl("wait --for=condition=Ready --timeout=60s" + names);
    ASSERT_EQ(r.rc, 0) << r.out << c_.kubectl("get pods -o wide").out << c_.status().out;
  }
  std::string get(const std::string& what, const std::string& jsonpath) {
    return trim(c_.kubectl("get " + what + " -o jsonpath='" + jsonpath + "'").out);
  }
  std::string pod_ip(const std::string& p) { return get("pod/" + p, "{.status.podIP}"); }

  // The pod's network namespace, named by the agent after the first 8 hex digits of its uid. Kept
  // while it exists: looking it up costs a kubectl call, which on a loaded machine made each
  // connection of a test take about a second.
  std::string pod_netns(const std::string& p) {
    if (auto it = netns_of_.find(p);
        it != netns_of_.end() && std::filesystem::exists("/run/netns/" + it->second))
      return it->second;
    std::string uid = get("pod/" + p, "{.metadata.uid}");
    std::string h;
    for (char ch : uid)
      if (ch != '-' && h.size() < 8) h += ch;
    for (const auto& e : std::filesystem::directory_iterator("/run/netns")) {
      std::string n = e.path().filename().string();
      if (n.starts_with("pn-") && n.ends_with("-" + h)) return netns_of_[p] = n;
    }
    ADD_FAILURE() << "no netns for pod " << p << " (uid " << uid << ")";
    return "none";
  }
  CommandResult in_pod(const std::string& p, const std::string& cmd) {
    return shell("ip netns exec " + pod_netns(p) + " sh -c '" + cmd + "'");
  }
  // One TCP connection: what the server answered ("" on failure).
  static std::string connect_cmd(const std::string& ip, int port) {
    return "socat -T3 - TCP:" + ip + ":" + std::to_string(port) + ",connect-timeout=3 </dev/null";
  }
  std::string from_pod(const std::string& p, const std::string& ip, int port) {
    return trim(in_pod(p, connect_cmd(ip, port)).out);
  }
  std::string from_root(const std::string& ip, int port) { return trim(shell(connect_cmd(ip, port)).out); }
  std::string from_node(int i, const std::string& ip, int port) {
    return trim(c_.in_node(i, connect_cmd(ip, port)).out);
  }

  // Retries `fn` until it returns true or `limit` passes (rules take a moment to be programmed).
  template <class F>
  static bool eventually(F fn, std::chrono::seconds limit = 20s) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (!fn()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(300ms);
    }
    return true;
  }

  // web-1..N on node1..N behind `app=web`.
  void start_web(int n, int port = 8080) {
    std::vector<std::string> names;
    for (int i = 1; i <= n; ++i) {
      std::string name = "web-" + std::to_string(i);
      apply(pod(name, "node" + std::to_string(i), {{"app", "web"}},
                json::array{echo_name_container(name, port)}));
      names.push_back(name);
    }
    wait_ready(names);
  }

  // The eBPF fast path's packet counters of node i (pinned by its agent in <node dir>/bpf).
  fastpath::Stats fast_stats(int i) {
    auto s = fastpath::read_stats(c_.state_dir() + "/nodes/node" + std::to_string(i) + "/bpf");
    EXPECT_TRUE(s) << s.error().message();
    return s ? *s : fastpath::Stats{};
  }

  UpCluster c_;
  std::map<std::string, std::string> netns_of_;  // pod name -> its netns (pod_netns)
};

TEST_F(E2E, ContainerToContainerOverLocalhost) {
  PODNET_BRING_UP((1, "vxlan"));
  json::array containers{
      json::object{{"name", "server"},
                   {"image", "unused"},
                   {"command", json::array{"socat", "TCP-LISTEN:9000,bind=127.0.0.1,fork,reuseaddr",
                                           "SYSTEM:echo from-server $SOCAT_PEERADDR"}}},
      json::object{
          {"name", "client"},
          {"image", "unused"},
          {"command", json::array{"sh", "-c",
                                  "until socat -T2 - TCP:127.0.0.1:9000 </dev/null; do sleep 0.2; done; "
                                  "exec sleep 3600"}}}};
  ASSERT_NO_FATAL_FAILURE(apply(pod("duo", "node1", {{"app", "duo"}}, containers)));
  ASSERT_NO_FATAL_FAILURE(wait_ready({"duo"}));
  std::string logs;
  EXPECT_TRUE(eventually([&] {
    logs = c_.kubectl("logs duo -c client").out;
    return logs.find("from-server 127.0.0.1") != std::string::npos;
  })) << logs;
}

class PodToPod : public E2E, public ::testing::WithParamInterface<std::string> {};

TEST_P(PodToPod, SameNodeAndAcrossNodesWithThePodsOwnIp) {
  PODNET_BRING_UP((2, GetParam()));
  ASSERT_NO_FATAL_FAILURE(
      apply(pod("srv-1", "node1", {{"app", "srv"}}, json::array{echo_name_container("srv-1", 8080)})));
  ASSERT_NO_FATAL_FAILURE(
      apply(pod("srv-2", "node2", {{"app", "srv"}}, json::array{echo_name_container("srv-2", 8080)})));
  ASSERT_NO_FATAL_FAILURE(apply(sleeper("client", "node1")));
  ASSERT_NO_FATAL_FAILURE(wait_ready({"srv-1", "srv-2", "client"}));
  const std::string client_ip = pod_ip("client");
  ASSERT_FALSE(client_ip.empty());
  // The server sees the client pod's own address: no NAT on the same node nor across nodes.
  EXPECT_EQ(from_pod("client", pod_ip("srv-1"), 8080), "srv-1 " + client_ip);
  std::string across;
  EXPECT_TRUE(eventually([&] {
    return (across = from_pod("client", pod_ip("srv-2"), 8080)) == "srv-2 " + client_ip;
  })) << across;
  // Both went by the eBPF fast path once the agents had attached the pods' veths (within ~100 ms
  // of ADD; a connection that started on the normal path stays there, so new ones are made).
  const bool vxlan = GetParam() == "vxlan";
  auto before1 = fast_stats(1), before2 = fast_stats(2);
  EXPECT_TRUE(eventually([&] {
    EXPECT_EQ(from_pod("client", pod_ip("srv-1"), 8080), "srv-1 " + client_ip);
    EXPECT_EQ(from_pod("client", pod_ip("srv-2"), 8080), "srv-2 " + client_ip);
    auto n1 = fast_stats(1), n2 = fast_stats(2);
    bool same_node = n1.to_local_pod > before1.to_local_pod;
    bool out = vxlan ? n1.encap > before1.encap : n1.to_remote_node > before1.to_remote_node;
    bool in = vxlan ? n2.decap > before2.decap : n2.to_local_pod > before2.to_local_pod;
    return same_node && out && in;
  })) << "fast path counters did not move";
  // A node reaches pods, its own and others', and is seen at one of its own addresses.
  auto node1_addrs = c_.in_node(1, "ip -4 -o addr show").out;
  for (const std::string p : {"srv-1", "srv-2"}) {
    std::string got = from_node(1, pod_ip(p), 8080);
    ASSERT_TRUE(got.starts_with(p + " ")) << got;
    std::string seen = got.substr(p.size() + 1);
    EXPECT_NE(node1_addrs.find(" " + seen + "/"), std::string::npos)
        << seen << " is not node1's: " << node1_addrs;
  }
}

INSTANTIATE_TEST_SUITE_P(Overlays, PodToPod, ::testing::Values("vxlan", "host-gw"),
                         [](const auto& info) { return info.param == "vxlan" ? "Vxlan" : "HostGw"; });

TEST_F(E2E, PodToServiceSpreadsAndSurvivesAPodDelete) {
  PODNET_BRING_UP((3, "vxlan"));
  ASSERT_NO_FATAL_FAILURE(start_web(3));
  ASSERT_NO_FATAL_FAILURE(apply(sleeper("client", "node1")));
  ASSERT_NO_FATAL_FAILURE(wait_ready({"client"}));
  ASSERT_NO_FATAL_FAILURE(apply(service("web", "web", "ClusterIP", 80, 8080)));
  const std::string vip = get("service/web", "{.spec.clusterIP}");
  ASSERT_FALSE(vip.empty());
  std::map<std::string, int> seen;
  ASSERT_TRUE(eventually([&] { return !from_pod("client", vip, 80).empty(); })) << "service never answered";
  for (int i = 0; i < 40; ++i) {
    std::string got = from_pod("client", vip, 80);
    EXPECT_NE(got, "") << "connection " << i << " failed";
    seen[got.substr(0, got.find(' '))]++;
  }
  EXPECT_EQ(seen.size(), 3u) << ::testing::PrintToString(seen);
  // The backends' replies to the client's own IP could have taken the fast path; the conntrack
  // entry of the DNAT on node1 sent them through the stack, which turned their source back into
  // the service IP (or the client would not have had its answers).
  EXPECT_GT(fast_stats(1).conntrack, 0u);

  auto del = c_.kubectl("delete pod web-2 --wait=true --timeout=60s");
  ASSERT_EQ(del.rc, 0) << del.out;
  int ok_in_a_row = 0;
  EXPECT_TRUE(eventually([&] {
    std::string got = from_pod("client", vip, 80);
    ok_in_a_row = (!got.empty() && !got.starts_with("web-2")) ? ok_in_a_row + 1 : 0;
    return ok_in_a_row >= 20;
  }));
}

// KEP-1669 end to end: a Service whose only pod is terminating (its container ignores SIGTERM and
// keeps serving through a long grace period) still takes new connections on its ClusterIP, because
// the agent keeps probing the pod's readiness (Ready, so the slice says serving + terminating) and
// the proxy falls back to serving-terminating endpoints. A ready pod beside it takes everything;
// once the terminating pod's readiness fails, it is used no more.
TEST_F(E2E, PodToServiceUsesTerminatingPodsWhileTheyServe) {
  PODNET_BRING_UP((1, "vxlan"));
  TempDir flags("pn-e2e-drain");
  const std::string flag = flags.path() + "/ready";
  ASSERT_TRUE(write_file_atomic(flag, "1"));
  auto draining = json::object{
      {"name", "srv"},
      {"image", "unused"},
      // socat ends on SIGTERM; the shell, ignoring it, starts it again at once.
      {"command",
       json::array{"sh", "-c",
                   "trap '' TERM; while :; do socat TCP-LISTEN:8080,fork,reuseaddr 'SYSTEM:echo old'; "
                   "sleep 0.05; done"}},
      {"readinessProbe",
       {{"exec", {{"command", json::array{"test", "-f", flag}}}},
        {"periodSeconds", 1},
        {"failureThreshold", 1}}}};
  auto old = pod("old", "node1", {{"app", "drain"}}, json::array{draining});
  old["spec"].as_object()["terminationGracePeriodSeconds"] = 300;
  ASSERT_NO_FATAL_FAILURE(apply(old));
  ASSERT_NO_FATAL_FAILURE(apply(sleeper("client", "node1")));
  ASSERT_NO_FATAL_FAILURE(wait_ready({"old", "client"}));
  ASSERT_NO_FATAL_FAILURE(apply(service("drain", "drain", "ClusterIP", 80, 8080)));
  const std::string vip = get("service/drain", "{.spec.clusterIP}");
  ASSERT_FALSE(vip.empty());
  ASSERT_TRUE(eventually([&] { return from_pod("client", vip, 80) == "old"; })) << "service never answered";
  auto conditions = [&] {
    return get("endpointslices -l kubernetes.io/service-name=drain", "{.items[*].endpoints[*].conditions}");
  };

  auto del = c_.kubectl("delete pod old --wait=false");
  ASSERT_EQ(del.rc, 0) << del.out;
  std::string seen;
  ASSERT_TRUE(eventually([&] {
    return (seen = conditions()) == R"({"ready":false,"serving":true,"terminating":true})";
  })) << seen;
  EXPECT_EQ(get("pod/old", "{.status.conditions[?(@.type==\"Ready\")].status}"), "True");
  // Its only pod is terminating, yet every new connection is served (SIGTERM was sent long ago).
  for (int i = 0; i < 10; ++i) EXPECT_EQ(from_pod("client", vip, 80), "old") << "connection " << i;

  // A ready pod next to it takes all new connections.
  auto fresh =
      json::object{{"name", "srv"},
                   {"image", "unused"},
                   {"command", json::array{"socat", "TCP-LISTEN:8080,fork,reuseaddr", "SYSTEM:echo new"}},
                   {"readinessProbe", {{"tcpSocket", {{"port", 8080}}}, {"periodSeconds", 1}}}};
  ASSERT_NO_FATAL_FAILURE(apply(pod("new", "node1", {{"app", "drain"}}, json::array{fresh})));
  ASSERT_NO_FATAL_FAILURE(wait_ready({"new"}));
  int in_a_row = 0;
  EXPECT_TRUE(eventually([&] {
    in_a_row = from_pod("client", vip, 80) == "new" ? in_a_row + 1 : 0;
    return in_a_row >= 10;
  })) << "the ready pod did not take over";
  for (int i = 0; i < 10; ++i) EXPECT_EQ(from_pod("client", vip, 80), "new") << "connection " << i;
  del = c_.kubectl("delete pod new --wait=true --timeout=60s");
  ASSERT_EQ(del.rc, 0) << del.out;
  EXPECT_TRUE(eventually([&] { return from_pod("client", vip, 80) == "old"; }))
      << "back to the terminating pod";

  // Its readiness fails: not Ready, not serving, not used (the service has no endpoint left).
  std::filesystem::remove(flag);
  EXPECT_TRUE(eventually([&] {
    return (seen = conditions()) == R"({"ready":false,"serving":false,"terminating":true})";
  })) << seen;
  EXPECT_EQ(get("pod/old", "{.status.conditions[?(@.type==\"Ready\")].status}"), "False");
  CommandResult refused;
  EXPECT_TRUE(eventually([&] { return (refused = in_pod("client", connect_cmd(vip, 80))).rc != 0; }))
      << "still used: " << refused.out;
  EXPECT_NE(refused.out.find("Connection refused"), std::string::npos) << refused.out;
  // (The pattern's brackets keep pgrep from finding the shell that runs it.)
  const std::string still_running = "pgrep -f \"SYSTEM:echo ol[d]\" >/dev/null";
  EXPECT_EQ(c_.in_node(1, still_running).rc, 0) << "the pod itself still runs";

  // Force deletion ends it at once rather than after 300 s.
  del = c_.kubectl("delete pod old --grace-period=0 --force");
  EXPECT_EQ(del.rc, 0) << del.out;
  EXPECT_TRUE(eventually([&] { return c_.in_node(1, still_running).rc != 0; }))
      << "the container outlived its forced deletion";
}

TEST_F(E2E, InternetToServiceNodePortLoadBalancerLocalPolicyAndEgress) {
  PODNET_BRING_UP((3, "vxlan"));
  ASSERT_NO_FATAL_FAILURE(start_web(3));
  ASSERT_NO_FATAL_FAILURE(apply(service("web", "web", "LoadBalancer", 80, 8080)));
  std::string node_port = get("service/web", "{.spec.ports[0].nodePort}");
  ASSERT_FALSE(node_port.empty());
  // From the root namespace (the outside world): the NodePort on every node, then the LB IP.
  for (int i = 1; i <= 3; ++i) {
    std::string got;
    EXPECT_TRUE(eventually([&] {
      return (got = from_root(c_.node_ip(i), std::stoi(node_port))).starts_with("web-");
    })) << "node"
        << i << ":" << node_port << " answered \"" << got << "\"";
  }
  std::string lb;
  ASSERT_TRUE(
      eventually([&] { return !(lb = get("service/web", "{.status.loadBalancer.ingress[0].ip}")).empty(); }));
  EXPECT_TRUE(c_.layout().lb_pool().contains(parse_ip(lb).value())) << lb;
  std::string got;
  EXPECT_TRUE(eventually([&] { return (got = from_root(lb, 80)).starts_with("web-"); })) << lb << ": " << got;

  // externalTrafficPolicy Local: the pod sees the outside client's own address.
  ASSERT_NO_FATAL_FAILURE(
      apply(pod("local-1", "node2", {{"app", "local"}}, json::array{echo_name_container("local-1", 8080)})));
  ASSERT_NO_FATAL_FAILURE(wait_ready({"local-1"}));
  ASSERT_NO_FATAL_FAILURE(apply(service("local", "local", "NodePort", 80, 8080, "Local")));
  std::string local_port = get("service/local", "{.spec.ports[0].nodePort}");
  ASSERT_FALSE(local_port.empty());
  EXPECT_TRUE(eventually([&] {
    return (got = from_root(c_.node_ip(2), std::stoi(local_port))) == "local-1 " + c_.gateway();
  })) << got;

  // Egress: a pod reaching the outside is seen there with its node's IP.
  ASSERT_NO_FATAL_FAILURE(apply(sleeper("client", "node3")));
  ASSERT_NO_FATAL_FAILURE(wait_ready({"client"}));
  auto listener =
      shell("socat TCP-LISTEN:18080,bind=" + c_.gateway() +
            ",fork,reuseaddr 'SYSTEM:echo outside $SOCAT_PEERADDR' </dev/null >/dev/null 2>&1 & echo $!");
  pid_t lpid = std::stoi(trim(listener.out));
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(from_pod("client", c_.gateway(), 18080), "outside " + c_.node_ip(3));
  ::kill(lpid, SIGTERM);
}

TEST_F(E2E, AgentKill9AndRestartKeepsAnOpenConnectionThroughAService) {
  PODNET_BRING_UP((2, "vxlan"));
  json::array echo{
      json::object{{"name", "echo"},
                   {"image", "unused"},
                   {"command", json::array{"socat", "TCP-LISTEN:8081,fork,reuseaddr", "EXEC:cat"}},
                   {"readinessProbe", {{"tcpSocket", {{"port", 8081}}}, {"periodSeconds", 1}}}}};
  ASSERT_NO_FATAL_FAILURE(apply(pod("echo-1", "node2", {{"app", "echo"}}, echo)));
  ASSERT_NO_FATAL_FAILURE(apply(sleeper("client", "node1")));
  ASSERT_NO_FATAL_FAILURE(wait_ready({"echo-1", "client"}));
  ASSERT_NO_FATAL_FAILURE(apply(service("echo", "echo", "ClusterIP", 7000, 8081)));
  const std::string vip = get("service/echo", "{.spec.clusterIP}");
  ASSERT_TRUE(eventually(
      [&] { return in_pod("client", "echo hi | socat -T2 - TCP:" + vip + ":7000").out == "hi\n"; }));

  // The test's own socket, made inside the client pod's namespace: it keeps that namespace.
  auto ns = netlink::NetNs::open("/run/netns/" + pod_netns("client"));
  ASSERT_TRUE(ns);
  auto sock = ns->run([&]() -> Result<int> {
    int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(7000);
    ::inet_pton(AF_INET, vip.c_str(), &a.sin_addr);
    if (::connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return fail("connect");
    return s;
  });
  ASSERT_TRUE(sock) << sock.error().message();
  UniqueFd fd(*sock);
  timeval tv{5, 0};
  ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  auto roundtrip = [&](const std::string& msg) {
    if (::write(fd.get(), msg.data(), msg.size()) != static_cast<ssize_t>(msg.size()))
      return std::string("write failed");
    char buf[64];
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string("read failed");
  };
  ASSERT_EQ(roundtrip("before\n"), "before\n");

  // kill -9 both agents (the client's and the server's node); their supervisors start them again.
  for (int i = 1; i <= 2; ++i) {
    std::string daemon = "agent-node" + std::to_string(i);
    pid_t pid = c_.daemon_pid(daemon);
    ASSERT_GT(pid, 0);
    ASSERT_EQ(::kill(pid, SIGKILL), 0);
    while (cluster::probe(pid) == cluster::ProcState::kRunning) std::this_thread::sleep_for(10ms);
    EXPECT_EQ(roundtrip("during-" + std::to_string(i) + "\n"), "during-" + std::to_string(i) + "\n");
    ASSERT_TRUE(eventually([&] {
      pid_t again = c_.daemon_pid(daemon);
      return again > 0 && again != pid && cluster::probe(again) == cluster::ProcState::kRunning;
    })) << daemon
        << " was not restarted";
  }
  std::this_thread::sleep_for(5s);  // the restarted agents resync everything meanwhile
  EXPECT_EQ(roundtrip("after\n"), "after\n");
  auto nodes = c_.kubectl("wait --for=condition=Ready node/node1 node/node2 --timeout=30s");
  EXPECT_EQ(nodes.rc, 0) << nodes.out;
  EXPECT_EQ(roundtrip("later\n"), "later\n");
}

TEST_F(E2E, ARemovedNodesRoutesAndEndpointsGoAway) {
  PODNET_BRING_UP((3, "vxlan"));
  // Routes first: they need only the agents, not pods.
  const std::string cidr3 = get("node/node3", "{.spec.podCIDR}");
  ASSERT_FALSE(cidr3.empty());
  std::string routes;
  ASSERT_TRUE(eventually([&] {
    return (routes = c_.in_node(1, "ip route").out).find(cidr3) != std::string::npos;
  })) << routes;
  ASSERT_NO_FATAL_FAILURE(start_web(3));
  ASSERT_NO_FATAL_FAILURE(apply(service("web", "web", "ClusterIP", 80, 8080)));
  const std::string ip3 = pod_ip("web-3");
  auto slice_ips = [&] {
    return c_
        .kubectl(
            "get endpointslices -l kubernetes.io/service-name=web -o "
            "jsonpath='{.items[*].endpoints[*].addresses[*]}'")
        .out;
  };
  ASSERT_TRUE(eventually([&] { return slice_ips().find(ip3) != std::string::npos; })) << slice_ips();

  // Gone for good: a supervised agent would register its node again.
  c_.kill_unsupervised("agent-node3");
  auto del = c_.kubectl("delete node node3 --wait=true --timeout=30s");
  ASSERT_EQ(del.rc, 0) << del.out;
  EXPECT_TRUE(eventually([&] {
    return (routes = c_.in_node(1, "ip route").out).find(cidr3) == std::string::npos;
  })) << routes;
  EXPECT_TRUE(eventually([&] { return c_.in_node(2, "ip route").out.find(cidr3) == std::string::npos; }));
  std::string ips;
  EXPECT_TRUE(eventually([&] { return (ips = slice_ips()).find(ip3) == std::string::npos; }, 60s)) << ips;
}

// `podnet up` gives the server its underlay as --node-network: a node's own credential cannot point
// the API server (which fetches pod logs from the address a node reports) at the server itself or
// off the underlay, nor take a pod range, while its agent's own writes keep the node Ready.
TEST_F(E2E, ANodesCredentialCannotRedirectTheServer) {
  PODNET_BRING_UP((1, "vxlan"));
  const std::string as_node =
      "kubectl --kubeconfig " + c_.state_dir() + "/nodes/node1/kubeconfig --request-timeout=20s ";
  auto report_address = [&](const std::string& ip) {
    return shell(as_node + "patch node node1 --subresource=status --type=merge -p " +
                 "'{\"status\":{\"addresses\":[{\"type\":\"InternalIP\",\"address\":\"" + ip + "\"}]}}'");
  };
  auto own = report_address(c_.gateway());
  EXPECT_NE(own.rc, 0);
  EXPECT_NE(own.out.find("\"" + c_.gateway() + "\": may not be the API server's own address"),
            std::string::npos)
      << own.out;
  auto off = report_address("10.9.9.9");
  EXPECT_NE(off.rc, 0);
  EXPECT_NE(off.out.find("must be in the node network " + c_.underlay()), std::string::npos) << off.out;
  auto range =
      shell(as_node + "patch node node1 --type=merge -p '{\"spec\":{\"podCIDRs\":[\"0.0.0.0/1\"]}}'");
  EXPECT_NE(range.rc, 0);
  EXPECT_NE(range.out.find("is not allowed to set or change spec.podCIDR"), std::string::npos) << range.out;
  EXPECT_EQ(get("node/node1", "{.status.addresses[?(@.type==\"InternalIP\")].address}"), c_.node_ip(1));
  auto ready = c_.kubectl("wait --for=condition=Ready node/node1 --timeout=30s");
  EXPECT_EQ(ready.rc, 0) << ready.out;
}

// `kubectl logs` goes API server -> node over TLS verified both ways (the node's serving certificate
// from `podnet up`, the API server's kubelet client certificate); nothing else reads the node's
// :10250: not a pod on the node (no certificate), not the node's own credential (403). Malformed
// requests get 400 and the agent keeps serving.
TEST_F(E2E, OnlyTheApiServerReadsLogsFromTheNode) {
  PODNET_BRING_UP((1, "vxlan"));
  ASSERT_NO_FATAL_FAILURE(apply(
      pod("talker", "node1", {{"app", "talker"}},
          json::array{json::object{{"name", "c"},
                                   {"image", "unused"},
                                   {"command", json::array{"sh", "-c", "echo hello; exec sleep 3600"}}}})));
  ASSERT_NO_FATAL_FAILURE(wait_ready({"talker"}));
  std::string logs;
  EXPECT_TRUE(eventually([&] { return (logs = c_.kubectl("logs talker").out) == "hello\n"; })) << logs;

  TempDir dir("podnet-e2e-logs");
  const std::string node_kubeconfig = c_.state_dir() + "/nodes/node1/kubeconfig";
  for (const auto& [field, file] : std::vector<std::pair<std::string, std::string>>{
           {"client-certificate-data", "node.crt"}, {"client-key-data", "node.key"}})
    ASSERT_EQ(
        shell("kubectl --kubeconfig " + node_kubeconfig + " config view --raw -o jsonpath='{.users[0].user." +
              field + "}' | base64 -d > " + dir.path() + "/" + file)
            .rc,
        0);
  const std::string pki = c_.state_dir() + "/server/pki";
  const std::string url = "https://" + c_.node_ip(1) + ":10250/containerLogs/default/talker/c";
  const std::string curl = "curl -sS --max-time 10 --cacert " + pki + "/ca.crt -w \" %{http_code}\" ";

  auto from_the_pod = in_pod("talker", curl + url);
  EXPECT_NE(from_the_pod.rc, 0) << "no client certificate, no handshake: " << from_the_pod.out;
  EXPECT_EQ(from_the_pod.out.find("hello"), std::string::npos) << from_the_pod.out;

  auto as_node =
      c_.in_node(1, curl + "--cert " + dir.path() + "/node.crt --key " + dir.path() + "/node.key " + url);
  EXPECT_NE(
      as_node.out.find("Forbidden (user=system:node:node1, verb=get, resource=nodes, subresource=proxy)"),
      std::string::npos)
      << as_node.out;
  EXPECT_TRUE(trim(as_node.out).ends_with(" 403")) << as_node.out;

  const std::string as_admin = curl + "--cert " + pki + "/admin.crt --key " + pki + "/admin.key ";
  EXPECT_TRUE(trim(shell(as_admin + url).out).ends_with(" 200")) << "system:masters may read";
  for (const char* query : {"?tailLines=%zz", "?tailLines=99999999999999999999", "?sinceSeconds=-1"}) {
    auto bad = shell(as_admin + "'" + url + query + "'");
    EXPECT_TRUE(trim(bad.out).ends_with(" 400")) << query << ": " << bad.out;
  }
  auto again = c_.kubectl("logs talker");
  EXPECT_EQ(again.out, "hello\n") << "the agent still serves";
}

}  // namespace
}  // namespace podnet::testing

namespace podnet::testing {
namespace {

// Issue 13: the events of a pod's life as kubectl shows them on a real cluster: the scheduler's
// Scheduled, the node's Created and Started, Unhealthy when its readiness probe fails, Killing when
// it is deleted; `kubectl describe pod` lists them.
TEST_F(E2E, KubectlShowsTheEventsOfAPodsLife) {
  PODNET_BRING_UP((1, "vxlan"));
  TempDir flags("pn-e2e-events");
  const std::string flag = flags.path() + "/ready";
  ASSERT_TRUE(write_file_atomic(flag, "1"));
  json::object srv{{"name", "srv"},
                   {"image", "unused"},
                   {"command", json::array{"sleep", "3600"}},
                   {"readinessProbe",
                    {{"exec", {{"command", json::array{"test", "-f", flag}}}},
                     {"periodSeconds", 1},
                     {"failureThreshold", 1}}}};
  ASSERT_NO_FATAL_FAILURE(apply(pod("life", "", {{"app", "life"}}, json::array{srv})));  // scheduled
  ASSERT_NO_FATAL_FAILURE(wait_ready({"life"}));
  auto events = [&] {
    return c_.kubectl("get events --field-selector involvedObject.name=life,involvedObject.kind=Pod").out;
  };
  std::string seen;
  auto has = [&](const std::string& what) {
    return eventually([&] { return (seen = events()).find(what) != std::string::npos; });
  };
  EXPECT_TRUE(has("Successfully assigned default/life to node1")) << seen;
  EXPECT_TRUE(has("Created container: srv")) << seen;
  EXPECT_TRUE(has("Started container srv")) << seen;
  EXPECT_NE(seen.find("LAST SEEN"), std::string::npos) << seen;

  std::filesystem::remove(flag);
  EXPECT_TRUE(has("Readiness probe failed: command exited with 1")) << seen;
  auto described = c_.kubectl("describe pod life").out;
  auto at = described.find("Events:");
  ASSERT_NE(at, std::string::npos) << described;
  for (const char* line : {"Scheduled", "default-scheduler", "Started", "Unhealthy", "kubelet"})
    EXPECT_NE(described.find(line, at), std::string::npos) << line << "\n" << described;

  auto del = c_.kubectl("delete pod life --wait=true --timeout=60s");
  ASSERT_EQ(del.rc, 0) << del.out;
  EXPECT_TRUE(has("Stopping container srv")) << seen;
  EXPECT_NE(seen.find("Killing"), std::string::npos) << seen;
}

}  // namespace
}  // namespace podnet::testing
