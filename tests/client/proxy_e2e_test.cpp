// `podnet proxy` end to end, as root: FakeApiServer (listening inside the node namespace) serves a
// Service 10.96.0.10:80 and its EndpointSlice; the proxy binary runs in the node namespace; a
// client there reaches the backend, then a watched EndpointSlice change moves it to another one.
//
//   node: 10.101.<i>.1 --- backend<i> 10.101.<i>.2 (socat :8080 answering "backend<i>")
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <chrono>
#include <fstream>
#include <thread>

#include "client/fake_apiserver.h"
#include "support/kubectl.h"
#include "support/scoped_netns.h"
#include "support/temp_dir.h"

namespace podnet {
namespace {

namespace json = boost::json;
using testing::FakeApiServer;
using testing::ScopedNetns;
using testing::TestPki;
using testing::unique_ifname;

constexpr const char* kServices = "/api/v1/services";
constexpr const char* kSlices = "/apis/discovery.k8s.io/v1/endpointslices";

// A process this test started, stopped by its PID (SIGTERM) unless the test already reaped it.
class Process {
 public:
  Process(std::vector<std::string> argv, const std::string& log = "/dev/null") {
    pid_ = ::fork();
    if (pid_ == 0) {
      int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (fd >= 0) {
        ::dup2(fd, 1);
        ::dup2(fd, 2);
      }
      std::vector<char*> args;
      for (auto& a : argv) args.push_back(a.data());
      args.push_back(nullptr);
      ::execvp(args[0], args.data());
      ::_exit(127);
    }
  }
  ~Process() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    ::waitpid(pid_, nullptr, 0);
  }
  // SIGTERM, then the exit status (-1 if it did not exit within `timeout`; then it is killed).
  int terminate(std::chrono::seconds timeout) {
    ::kill(pid_, SIGTERM);
    auto deadline = std::chrono::steady_clock::now() + timeout;
    int status = 0;
    while (std::chrono::steady_clock::now() < deadline) {
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ::kill(pid_, SIGKILL);
    return -1;
  }

 private:
  pid_t pid_ = -1;
};

json::object service() {
  return json::parse(R"({"apiVersion":"v1","kind":"Service",
    "metadata":{"name":"web","namespace":"default"},
    "spec":{"type":"ClusterIP","clusterIP":"10.96.0.10","clusterIPs":["10.96.0.10"],
            "ports":[{"name":"http","protocol":"TCP","port":80,"targetPort":8080}]}})")
      .as_object();
}

json::object slice(const std::string& address) {
  json::object s = json::parse(R"({"apiVersion":"discovery.k8s.io/v1","kind":"EndpointSlice",
    "metadata":{"name":"web-1","namespace":"default","labels":{"kubernetes.io/service-name":"web"}},
    "addressType":"IPv4","ports":[{"name":"http","protocol":"TCP","port":8080}]})")
                       .as_object();
  s["endpoints"] = json::array{json::object{{"addresses", json::array{json::string(address)}},
                                            {"conditions", {{"ready", true}}},
                                            {"nodeName", "node-b"}}};
  return s;
}

class ProxyEndToEnd : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root";
    node_ = std::make_unique<ScopedNetns>();
    for (int i = 0; i < 2; ++i) {
      backends_.push_back(std::make_unique<ScopedNetns>());
      std::string p = "10.101." + std::to_string(i);
      std::string inner = unique_ifname("e" + std::to_string(i)),
                  outer = unique_ifname("ne" + std::to_string(i));
      ASSERT_EQ(backends_[i]->sh("ip link add " + inner + " type veth peer name " + outer + " netns " +
                                 node_->name() + " && ip addr add " + p + ".2/24 dev " + inner +
                                 " && ip link set " + inner + " up && ip route add default via " + p + ".1"),
                0);
      ASSERT_EQ(node_->sh("ip addr add " + p + ".1/24 dev " + outer + " && ip link set " + outer + " up"), 0);
      servers_.push_back(std::make_unique<Process>(std::vector<std::string>{
          "ip", "netns", "exec", backends_[i]->name(), "socat", "TCP-LISTEN:8080,fork,reuseaddr",
          "SYSTEM:echo backend" + std::to_string(i)}));
    }
    // The node's own connections are routed before the output hook translates them, so the
    // service range needs a route (a default route gives it on a real node).
    std::string sink = unique_ifname("es"), peer = unique_ifname("esp");
    ASSERT_EQ(node_->sh("ip link add " + sink + " type veth peer name " + peer + " && ip link set " + sink +
                        " up && ip link set " + peer + " up && ip route add 10.96.0.0/12 dev " + sink),
              0);
  }

  std::string ask() const {
    std::string out = node_->output("timeout 5 socat -t2 - TCP:10.96.0.10:80,connect-timeout=1 </dev/null");
    while (!out.empty() && out.back() == '\n') out.pop_back();
    return out;
  }
  bool eventually_answers(const std::string& want, std::string& last) const {
    for (int i = 0; i < 100; ++i) {
      last = ask();
      if (last == want) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  }
  std::string tables() const { return node_->output("nft list tables"); }

  std::unique_ptr<ScopedNetns> node_;
  std::vector<std::unique_ptr<ScopedNetns>> backends_;
  std::vector<std::unique_ptr<Process>> servers_;
};

TEST_F(ProxyEndToEnd, ServesWatchesAndCleansUp) {
  podnet::testing::TempDir dir("pn-proxy-e2e");
  TestPki pki = TestPki::make();
  // Listening inside the node namespace: 127.0.0.1 there is where `podnet proxy` will connect.
  auto server = node_->netns().run([&]() -> Result<std::unique_ptr<FakeApiServer>> {
    return std::make_unique<FakeApiServer>(pki, testing::FakeApiServerOptions{.require_client_cert = true});
  });
  ASSERT_TRUE(server);
  (*server)->upsert(kServices, service());
  (*server)->upsert(kSlices, slice("10.101.0.2"));

  std::ofstream(dir.path() + "/ca.crt") << pki.ca.cert_pem;
  std::ofstream(dir.path() + "/client.crt") << pki.client.cert_pem;
  std::ofstream(dir.path() + "/client.key") << pki.client.key_pem;
  std::ofstream(dir.path() + "/kubeconfig")
      << "apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    certificate-authority: ca.crt\n"
         "    server: "
      << (*server)->url()
      << "\n  name: fake\ncontexts:\n- context:\n    cluster: fake\n"
         "    user: proxy\n  name: fake\ncurrent-context: fake\nusers:\n- name: proxy\n  user:\n"
         "    client-certificate: client.crt\n    client-key: client.key\n";

  const std::string podnet = std::string(PODNET_BINARY_DIR) + "/podnet";
  const std::string log = dir.path() + "/proxy.log";
  auto proxy = std::make_unique<Process>(
      std::vector<std::string>{"ip", "netns", "exec", node_->name(), podnet, "proxy", "--kubeconfig",
                               dir.path() + "/kubeconfig", "--hostname", "node-a", "--min-sync-interval",
                               "100ms"},
      log);
  auto proxy_log = [&] { return node_->output("cat " + log); };

  std::string last;
  ASSERT_TRUE(eventually_answers("backend0", last)) << "got: " << last << "\n" << proxy_log();

  // The EndpointSlice moves to backend 1: a watch event, then a partial sync.
  (*server)->upsert(kSlices, slice("10.101.1.2"));
  ASSERT_TRUE(eventually_answers("backend1", last)) << "got: " << last << "\n" << proxy_log();

  // kube-proxy's default metrics and healthz addresses, inside the node namespace.
  std::string metrics = node_->output("curl -sS http://127.0.0.1:10249/metrics");
  EXPECT_NE(metrics.find("\npodnet_proxy_services 1\n"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("\nkubeproxy_sync_proxy_rules_duration_seconds_count{sync=\"partial\"} "),
            std::string::npos)
      << metrics;
  EXPECT_EQ(node_->output("curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:10256/healthz"), "200");

  // The Service goes: the ClusterIP stops answering.
  (*server)->remove(kServices, "default/web");
  bool gone = false;
  for (int i = 0; i < 100 && !gone; ++i) {
    gone = ask().find("backend") == std::string::npos;
    if (!gone) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(gone) << proxy_log();

  EXPECT_EQ(proxy->terminate(std::chrono::seconds(5)), 0) << proxy_log();
  EXPECT_NE(tables().find("podnet-proxy"), std::string::npos);  // stopping keeps the rules
  EXPECT_EQ(node_->sh(podnet + " proxy --cleanup"), 0);
  EXPECT_EQ(tables().find("podnet-proxy"), std::string::npos) << tables();
  EXPECT_EQ(node_->sh(podnet + " proxy --cleanup"), 0);  // nothing to remove is fine too
}

// `podnet proxy`'s informers keep no objects: a slice deleted while the proxy's watch was away (the
// server compacted its history) comes back from the relist as its namespace and name alone, and
// the proxy still finds the Service it belonged to and withdraws the endpoint.
TEST_F(ProxyEndToEnd, SliceGoneWhileAwayIsWithdrawnByTheRelist) {
  podnet::testing::TempDir dir("pn-proxy-e2e");
  TestPki pki = TestPki::make();
  auto server = node_->netns().run([&]() -> Result<std::unique_ptr<FakeApiServer>> {
    return std::make_unique<FakeApiServer>(pki, testing::FakeApiServerOptions{.require_client_cert = true});
  });
  ASSERT_TRUE(server);
  (*server)->upsert(kServices, service());
  (*server)->upsert(kSlices, slice("10.101.0.2"));
  std::ofstream(dir.path() + "/ca.crt") << pki.ca.cert_pem;
  std::ofstream(dir.path() + "/client.crt") << pki.client.cert_pem;
  std::ofstream(dir.path() + "/client.key") << pki.client.key_pem;
  std::ofstream(dir.path() + "/kubeconfig")
      << "apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    certificate-authority: ca.crt\n"
         "    server: "
      << (*server)->url()
      << "\n  name: fake\ncontexts:\n- context:\n    cluster: fake\n"
         "    user: proxy\n  name: fake\ncurrent-context: fake\nusers:\n- name: proxy\n  user:\n"
         "    client-certificate: client.crt\n    client-key: client.key\n";
  const std::string podnet = std::string(PODNET_BINARY_DIR) + "/podnet";
  const std::string log = dir.path() + "/proxy.log";
  auto proxy = std::make_unique<Process>(
      std::vector<std::string>{"ip", "netns", "exec", node_->name(), podnet, "proxy", "--kubeconfig",
                               dir.path() + "/kubeconfig", "--hostname", "node-a", "--min-sync-interval",
                               "100ms"},
      log);
  auto proxy_log = [&] { return node_->output("cat " + log); };
  std::string last;
  ASSERT_TRUE(eventually_answers("backend0", last)) << "got: " << last << "\n" << proxy_log();

  (*server)->hold_watches(true);
  (*server)->drop_watches();
  (*server)->remove(kSlices, "default/web-1");
  (*server)->compact();
  (*server)->hold_watches(false);
  bool gone = false;
  for (int i = 0; i < 100 && !gone; ++i) {
    gone = ask().find("backend") == std::string::npos;
    if (!gone) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(gone) << proxy_log();
  EXPECT_EQ(proxy->terminate(std::chrono::seconds(5)), 0) << proxy_log();
  EXPECT_EQ(node_->sh(podnet + " proxy --cleanup"), 0);
}

// The same path with podnet's own API server, driven by the real kubectl: server, proxy and client
// all in the node namespace, objects created and changed with `kubectl apply` / `delete`.
TEST_F(ProxyEndToEnd, AgainstPodnetServerDrivenByKubectl) {
  if (std::string why = podnet::testing::kubectl_missing(); !why.empty()) GTEST_SKIP() << why;
  podnet::testing::TempDir dir("pn-proxy-srv");
  const std::string podnet = std::string(PODNET_BINARY_DIR) + "/podnet";
  // The port is the node namespace's own: nothing else listens there.
  Process server(
      {"ip", "netns", "exec", node_->name(), podnet, "server", "--data-dir", dir.path(), "--port", "16443"},
      dir.path() + "/server.log");
  const std::string kubectl = "kubectl --kubeconfig " + dir.path() + "/admin.kubeconfig ";
  bool up = false;
  for (int i = 0; i < 100 && !up; ++i) {
    up = node_->sh(kubectl + "get --raw /readyz") == 0;
    if (!up) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_TRUE(up) << node_->output("cat " + dir.path() + "/server.log");

  auto apply = [&](const json::object& obj) {
    std::ofstream(dir.path() + "/obj.json") << json::serialize(obj);
    return node_->output(kubectl + "apply -f " + dir.path() + "/obj.json");
  };
  ASSERT_NE(apply(service()).find("service/web"), std::string::npos);
  ASSERT_NE(apply(slice("10.101.0.2")).find("web-1"), std::string::npos);

  const std::string log = dir.path() + "/proxy.log";
  Process proxy({"ip", "netns", "exec", node_->name(), podnet, "proxy", "--kubeconfig",
                 dir.path() + "/admin.kubeconfig", "--hostname", "node-a", "--min-sync-interval", "100ms"},
                log);
  auto proxy_log = [&] { return node_->output("cat " + log); };
  std::string last;
  ASSERT_TRUE(eventually_answers("backend0", last)) << "got: " << last << "\n" << proxy_log();

  ASSERT_NE(apply(slice("10.101.1.2")).find("configured"), std::string::npos);
  ASSERT_TRUE(eventually_answers("backend1", last)) << "got: " << last << "\n" << proxy_log();

  EXPECT_EQ(node_->sh(kubectl + "delete service web"), 0);
  bool gone = false;
  for (int i = 0; i < 100 && !gone; ++i) {
    gone = ask().find("backend") == std::string::npos;
    if (!gone) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(gone) << proxy_log();
  EXPECT_EQ(proxy.terminate(std::chrono::seconds(5)), 0) << proxy_log();
  EXPECT_EQ(server.terminate(std::chrono::seconds(5)), 0);
  EXPECT_EQ(node_->sh(podnet + " proxy --cleanup"), 0);
}

}  // namespace
}  // namespace podnet
