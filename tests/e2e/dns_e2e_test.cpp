// Issue 16 end to end on a `podnet up` cluster: the agent's node-local DNS answers on the kube-dns
// ClusterIP from a pod (through the proxy exception and the address on the node's lo), with the
// real resolver (getent, glibc) and dig; a forwarded name comes from an unbound the test runs.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "common/files.h"
#include "support/kubectl.h"
#include "support/temp_dir.h"
#include "support/up_cluster.h"

namespace podnet::testing {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;
using ::testing::HasSubstr;

std::string trim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  return s;
}

class DnsE2E : public ::testing::Test {
 protected:
  void apply(const std::string& yaml) {
    TempDir dir("pn-dns-e2e");
    ASSERT_TRUE(write_file_atomic(dir.path() + "/obj.yaml", yaml));
    auto r = c_.kubectl("apply -f " + dir.path() + "/obj.yaml");
    ASSERT_EQ(r.rc, 0) << r.out;
  }
  std::string get(const std::string& what, const std::string& jsonpath) {
    return trim(c_.kubectl("get " + what + " -o jsonpath='" + jsonpath + "'").out);
  }
  std::string pod_netns(const std::string& p) {
    std::string uid = get("-n shop pod/" + p, "{.metadata.uid}");
    std::string h;
    for (char ch : uid)
      if (ch != '-' && h.size() < 8) h += ch;
    for (const auto& e : std::filesystem::directory_iterator("/run/netns")) {
      std::string n = e.path().filename().string();
      if (n.starts_with("pn-") && n.ends_with("-" + h)) return n;
    }
    return "none";
  }
  template <class F>
  static bool eventually(F fn, std::chrono::milliseconds limit = 20s) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (!fn()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(100ms);
    }
    return true;
  }
  UpCluster c_;
};

TEST_F(DnsE2E, PodsResolveServicesThroughTheNodeLocalServer) {
  if (!have_agent()) GTEST_SKIP() << "podnet agent is not in this build";
  if (std::string why = kubectl_missing(); !why.empty()) GTEST_SKIP() << why;
  if (shell("command -v dig && command -v unshare").rc != 0) GTEST_SKIP() << "needs dig and unshare";
  auto r = c_.up(1, "--timeout 120");
  ASSERT_EQ(r.rc, 0) << r.out;
  // kube-dns is made by `podnet up` once the control-plane side lands; until then by the test.
  if (c_.kubectl("get -n kube-system service kube-dns").rc != 0)
    apply(R"(apiVersion: v1
kind: Namespace
metadata: {name: kube-system}
---
apiVersion: v1
kind: Service
metadata: {name: kube-dns, namespace: kube-system, labels: {k8s-app: kube-dns}}
spec:
  selector: {k8s-app: kube-dns}
  ports:
  - {name: dns, port: 53, protocol: UDP}
  - {name: dns-tcp, port: 53, protocol: TCP}
)");
  std::string dns_ip = get("-n kube-system service/kube-dns", "{.spec.clusterIP}");
  ASSERT_FALSE(dns_ip.empty());
  apply(R"(apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, protocol: TCP}]
---
apiVersion: v1
kind: Service
metadata: {name: ext, namespace: shop}
spec: {type: ExternalName, externalName: www.example.org}
---
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: shop}
spec:
  nodeName: node1
  terminationGracePeriodSeconds: 1
  containers: [{name: c, image: unused, command: [sleep, "3600"]}]
)");
  auto ready = c_.kubectl("wait -n shop --for=condition=Ready --timeout=60s pod/client");
  ASSERT_EQ(ready.rc, 0) << ready.out;
  std::string web_ip = get("-n shop service/web", "{.spec.clusterIP}");
  std::string ns = pod_netns("client");
  // Until pods get their resolv.conf (the pod-side half of the issue), the test gives the pod's
  // process one in a private mount namespace, as kubelet's ClusterFirst would.
  TempDir dir("pn-dns-e2e");
  ASSERT_TRUE(write_file_atomic(
      dir.path() + "/resolv.conf",
      "nameserver " + dns_ip +
          "\nsearch shop.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5\n"));
  auto in_pod = [&](const std::string& cmd) {
    return shell("ip netns exec " + ns + " unshare -m sh -c 'mount --bind " + dir.path() +
                 "/resolv.conf /etc/resolv.conf && " + cmd + "'");
  };
  auto dig = [&](const std::string& args) {
    return shell("ip netns exec " + ns + " dig @" + dns_ip + " +time=2 +tries=1 " + args);
  };
  // The server binds once the agent sees kube-dns (and the proxy stops DNATing it).
  ASSERT_TRUE(eventually([&] { return trim(dig("+short web.shop.svc.cluster.local").out) == web_ip; }))
      << dig("web.shop.svc.cluster.local").out << c_.status().out
      << shell("grep -i dns " + c_.state_dir() + "/logs/agent-node1.log").out;
  EXPECT_THAT(in_pod("getent hosts web.shop.svc.cluster.local").out, HasSubstr(web_ip));
  EXPECT_THAT(in_pod("getent hosts web").out, HasSubstr(web_ip));  // the search list
  EXPECT_EQ(trim(dig("+short +tcp web.shop.svc.cluster.local").out), web_ip);
  EXPECT_EQ(trim(dig("+short SRV _http._tcp.web.shop.svc.cluster.local").out),
            "0 100 80 web.shop.svc.cluster.local.");
  EXPECT_EQ(trim(dig("+short -x " + web_ip).out), "web.shop.svc.cluster.local.");
  EXPECT_EQ(trim(dig("+short ext.shop.svc.cluster.local").out), "www.example.org.");
  auto nx = dig("nope.shop.svc.cluster.local").out;
  EXPECT_THAT(nx, HasSubstr("status: NXDOMAIN"));
  EXPECT_THAT(nx, HasSubstr("AUTHORITY: 1"));
  EXPECT_THAT(dig("AAAA web.shop.svc.cluster.local").out, HasSubstr("ANSWER: 0, AUTHORITY: 1"));
  // Not an open resolver: nothing listens on the node's own address.
  std::string node_ip = get("node/node1", "{.status.addresses[0].address}");
  EXPECT_THAT(
      shell("dig @" + node_ip + " +time=1 +tries=1 web.shop.svc.cluster.local").out,
      ::testing::AnyOf(HasSubstr("connection refused"), HasSubstr("timed out"), HasSubstr("no servers")));
  // A name asked before its Service exists (answer cached as negative nowhere: ours is the
  // authority) resolves as soon as the Service is created.
  EXPECT_THAT(dig("late.shop.svc.cluster.local").out, HasSubstr("NXDOMAIN"));
  auto t0 = std::chrono::steady_clock::now();
  apply(
      "apiVersion: v1\nkind: Service\nmetadata: {name: late, namespace: shop}\nspec:\n  ports: [{port: "
      "80}]\n");
  EXPECT_TRUE(eventually([&] { return !trim(dig("+short late.shop.svc.cluster.local").out).empty(); }, 5s));
  std::printf("service create -> resolvable on the node: %lld ms (incl. kubectl apply)\n",
              static_cast<long long>(
                  std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
                      .count()));
  // The agent's /metrics on the node (CoreDNS's names).
  auto m = c_.in_node(1, "curl -s http://127.0.0.1:9153/metrics");
  EXPECT_THAT(m.out, HasSubstr("coredns_dns_requests_total{"));
  EXPECT_THAT(m.out, HasSubstr("rcode=\"NXDOMAIN\""));
}

}  // namespace
}  // namespace podnet::testing
