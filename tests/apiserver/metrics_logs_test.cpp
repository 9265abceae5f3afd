// /metrics after real requests (admin only), and pods/<name>/log relayed to a fake node agent
// found through the pod's node: InternalIP 127.0.0.1 and its kubelet port, over TLS that both ends
// verify (the node's serving certificate, the API server's kubelet client certificate).
#include "api_fixture.h"
#include "fake_agent.h"

namespace podnet::apiserver::testing {
namespace {

namespace json = boost::json;

bool has_line_starting(const std::string& text, const std::string& prefix) {
  size_t at = 0;
  while ((at = text.find(prefix, at)) != std::string::npos) {
    if (at == 0 || text[at - 1] == '\n') return true;
    ++at;
  }
  return false;
}

TEST_F(ApiServerTest, MetricsCountRequestsWatchesAndStorage) {
  create("/api/v1/namespaces/default/pods", pod("m1"));
  EXPECT_EQ(admin().get("/api/v1/namespaces/default/pods/m1").status, 200);
  EXPECT_EQ(admin().get("/api/v1/namespaces/default/pods/nope").status, 404);
  EXPECT_EQ(admin().get("/api/v1/namespaces/default/pods").status, 200);
  auto watch = admin().watch("/api/v1/pods?watch=true");
  ASSERT_TRUE(watch && watch->next()) << "the watch is open";

  auto r = admin().get("/metrics");
  ASSERT_EQ(r.status, 200);
  const std::string& m = r.body;
  const std::string pods = "group=\"\",resource=\"pods\",subresource=\"\",";
  EXPECT_TRUE(has_line_starting(
      m, "apiserver_request_total{code=\"201\"," + pods + "verb=\"POST\",version=\"v1\"} 1\n"))
      << m;
  EXPECT_TRUE(has_line_starting(
      m, "apiserver_request_total{code=\"200\"," + pods + "verb=\"GET\",version=\"v1\"} 1\n"));
  EXPECT_TRUE(has_line_starting(
      m, "apiserver_request_total{code=\"404\"," + pods + "verb=\"GET\",version=\"v1\"} 1\n"));
  EXPECT_TRUE(has_line_starting(
      m, "apiserver_request_total{code=\"200\"," + pods + "verb=\"LIST\",version=\"v1\"} 1\n"));
  EXPECT_TRUE(has_line_starting(
      m, "apiserver_request_duration_seconds_count{" + pods + "verb=\"GET\",version=\"v1\"} 2\n"));
  EXPECT_TRUE(has_line_starting(m, "apiserver_request_duration_seconds_bucket{" + pods +
                                       "verb=\"POST\",version=\"v1\",le=\"+Inf\"} 1\n"));
  EXPECT_TRUE(
      has_line_starting(m, "apiserver_registered_watchers{group=\"\",resource=\"pods\",version=\"v1\"} 1\n"));
  EXPECT_TRUE(has_line_starting(m,
                                "apiserver_storage_request_duration_seconds_count{operation=\"create\","
                                "resource=\"pods\"}"));
  EXPECT_NE(m.find("# TYPE apiserver_request_duration_seconds histogram"), std::string::npos);

  watch.reset();  // the client hangs up: the gauge goes back down
  bool closed = false;
  for (int i = 0; i < 100 && !closed; ++i) {
    closed =
        has_line_starting(admin().get("/metrics").body,
                          "apiserver_registered_watchers{group=\"\",resource=\"pods\",version=\"v1\"} 0\n");
    if (!closed) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE(closed);
  EXPECT_EQ(anonymous().get("/metrics").status, 401);
}

class PodLogTest : public ApiServerTest {
 protected:
  void SetUp() override {
    ApiServerTest::SetUp();
    agent_ = std::make_unique<FakeAgent>(server_->pki_dir());
    json::value node =
        json::object{{"apiVersion", "v1"},
                     {"kind", "Node"},
                     {"metadata", {{"name", "node1"}}},
                     {"status",
                      {{"addresses", json::array{{{"type", "InternalIP"}, {"address", "127.0.0.1"}}}},
                       {"daemonEndpoints", {{"kubeletEndpoint", {{"Port", agent_->port()}}}}}}}};
    create("/api/v1/nodes", node);
    // Status belongs to the /status subresource: set it there, as the agent does.
    json::value current = admin().get("/api/v1/nodes/node1").json();
    current.as_object()["status"] = node.at("status");
    auto r = admin().put("/api/v1/nodes/node1/status", current);
    ASSERT_EQ(r.status, 200) << r.body;
    json::value p = pod("web");
    p.at("spec").as_object()["nodeName"] = "node1";
    create("/api/v1/namespaces/default/pods", p);
  }

  void set_kubelet_port(uint16_t port) {
    json::value node = admin().get("/api/v1/nodes/node1").json();
    node.at("status").at("daemonEndpoints").at("kubeletEndpoint").as_object()["Port"] = port;
    ASSERT_EQ(admin().put("/api/v1/nodes/node1/status", node).status, 200);
  }

  std::unique_ptr<FakeAgent> agent_;
};

TEST_F(PodLogTest, LogsComeFromTheNodeAgent) {
  auto r = admin().get("/api/v1/namespaces/default/pods/web/log?tailLines=5&timestamps=true");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body, "line 1 of /containerLogs/default/web/c\nline 2\n");
  auto targets = agent_->targets();
  ASSERT_EQ(targets.size(), 1u);
  EXPECT_EQ(agent_->clients(), std::vector<std::string>{"kube-apiserver-kubelet-client"})
      << "the API server presents its kubelet client certificate";
  EXPECT_EQ(targets[0], "/containerLogs/default/web/c?tailLines=5&timestamps=true");

  auto follow = admin().get("/api/v1/namespaces/default/pods/web/log?container=c&follow=true");
  ASSERT_EQ(follow.status, 200);
  EXPECT_EQ(follow.body, "line 1 of /containerLogs/default/web/c\nline 2\n") << "streamed to the end";
}

TEST_F(PodLogTest, ContainerErrorsAndUnboundPods) {
  auto wrong = admin().get("/api/v1/namespaces/default/pods/web/log?container=zzz");
  EXPECT_EQ(wrong.status, 400);
  EXPECT_EQ(str(wrong.json(), {"message"}), "container zzz is not valid for pod web");

  json::value two = pod("two");
  two.at("spec").as_object()["containers"].as_array().push_back(
      json::object{{"name", "missing"}, {"image", "x"}});
  two.at("spec").as_object()["nodeName"] = "node1";
  create("/api/v1/namespaces/default/pods", two);
  auto ambiguous = admin().get("/api/v1/namespaces/default/pods/two/log");
  EXPECT_EQ(ambiguous.status, 400);
  EXPECT_EQ(str(ambiguous.json(), {"message"}),
            "a container name must be specified for pod two, choose one of: [c missing]");
  auto agent_404 = admin().get("/api/v1/namespaces/default/pods/two/log?container=missing");
  EXPECT_EQ(agent_404.status, 404) << agent_404.body;
  EXPECT_EQ(str(agent_404.json(), {"message"}), "container \"missing\" not found in pod");

  create("/api/v1/namespaces/default/pods", pod("unbound"));
  auto unbound = admin().get("/api/v1/namespaces/default/pods/unbound/log");
  EXPECT_EQ(unbound.status, 400);
  EXPECT_EQ(str(unbound.json(), {"message"}), "pod unbound does not have a host assigned");
  EXPECT_EQ(admin().get("/api/v1/namespaces/default/pods/nope/log").status, 404);
}

TEST_F(PodLogTest, UnreachableAgentIs503) {
  json::value node = admin().get("/api/v1/nodes/node1").json();
  // A port nothing listens on: the agent stopped.
  boost::asio::io_context ioc;
  boost::asio::ip::tcp::acceptor probe(ioc, {boost::asio::ip::make_address("127.0.0.1"), 0});
  uint16_t dead = probe.local_endpoint().port();
  probe.close();
  node.at("status").at("daemonEndpoints").at("kubeletEndpoint").as_object()["Port"] = dead;
  ASSERT_EQ(admin().put("/api/v1/nodes/node1/status", node).status, 200);
  auto r = admin().get("/api/v1/namespaces/default/pods/web/log");
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_EQ(str(r.json(), {"reason"}), "ServiceUnavailable");
}

// `openssl s_client` against the API server: TLS 1.2 with an AEAD suite works, CBC suites (SHA-1 or
// SHA-256 MACs) are refused, as with kube's secure defaults; TLS 1.3 works.
TEST_F(ApiServerTest, TlsOffersOnlyEcdheAeadSuites) {
  auto run = [](const std::string& cmd) {
    std::string out;
    if (FILE* p = ::popen((cmd + " 2>&1").c_str(), "r")) {
      char buf[4096];
      for (size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
      ::pclose(p);
    }
    return out;
  };
  std::string base = "openssl s_client -connect 127.0.0.1:" + std::to_string(server_->port()) + " -CAfile " +
                     server_->pki_dir() + "/ca.crt </dev/null";
  std::string aead = run(base + " -tls1_2 -cipher ECDHE-ECDSA-AES128-GCM-SHA256");
  EXPECT_NE(aead.find("Cipher is ECDHE-ECDSA-AES128-GCM-SHA256"), std::string::npos) << aead;
  EXPECT_NE(aead.find("Verify return code: 0 (ok)"), std::string::npos) << aead;
  for (const char* cbc : {"ECDHE-ECDSA-AES128-SHA", "ECDHE-ECDSA-AES256-SHA", "ECDHE-ECDSA-AES128-SHA256"}) {
    std::string out = run(base + " -tls1_2 -cipher " + std::string(cbc));
    EXPECT_NE(out.find("Cipher is (NONE)"), std::string::npos) << cbc << " must be refused: " << out;
  }
  std::string tls13 = run(base + " -tls1_3");
  EXPECT_NE(tls13.find("New, TLSv1.3"), std::string::npos) << tls13;
}

// The API server dials the Node's address and talks only to a node that proves it is that node.
TEST_F(PodLogTest, ANodeThatIsNotWhoItClaimsIs502) {
  struct Case {
    std::string pki_dir, cn;
    std::vector<std::string> ips;
    std::string message;
  };
  podnet::testing::TempDir other("podnet-otherca");
  auto other_ca = make_ca("other-ca");
  ASSERT_TRUE(write_file_atomic(other.path() + "/ca.crt", other_ca->cert_pem));
  ASSERT_TRUE(write_file_atomic(other.path() + "/ca.key", other_ca->key_pem));
  std::vector<Case> cases{
      {server_->pki_dir(),
       "system:node:node1",
       {"10.9.9.9"},
       "the node's serving certificate is not valid for 127.0.0.1 from the cluster CA: IP address mismatch"},
      {other.path(),
       "system:node:node1",
       {"127.0.0.1"},
       "the node's serving certificate is not valid for 127.0.0.1 from the cluster CA: "},
      {server_->pki_dir(),
       "system:node:node2",
       {"127.0.0.1"},
       "the serving certificate at 127.0.0.1 is for \"system:node:node2\", not \"system:node:node1\""},
  };
  for (const auto& c : cases) {
    FakeAgent impostor(c.pki_dir, c.cn, c.ips);
    set_kubelet_port(impostor.port());
    auto r = admin().get("/api/v1/namespaces/default/pods/web/log");
    EXPECT_EQ(r.status, 502) << r.body;
    std::string message = str(r.json(), {"message"});
    EXPECT_NE(message.find(c.message), std::string::npos) << message;
    EXPECT_TRUE(message.starts_with("Get \"https://127.0.0.1:" + std::to_string(impostor.port()) +
                                    "/containerLogs/default/web/c\": "))
        << message;
    EXPECT_TRUE(impostor.targets().empty()) << "no request reaches an unverified node";
  }
}

}  // namespace
}  // namespace podnet::apiserver::testing
