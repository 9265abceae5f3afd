// /metrics after real requests (admin only), and pods/<name>/log relayed to a fake node agent
// found through the pod's node: InternalIP 127.0.0.1 and its kubelet port.
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
    json::value node =
        json::object{{"apiVersion", "v1"},
                     {"kind", "Node"},
                     {"metadata", {{"name", "node1"}}},
                     {"status",
                      {{"addresses", json::array{{{"type", "InternalIP"}, {"address", "127.0.0.1"}}}},
                       {"daemonEndpoints", {{"kubeletEndpoint", {{"Port", agent_.port()}}}}}}}};
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

  FakeAgent agent_;
};

TEST_F(PodLogTest, LogsComeFromTheNodeAgent) {
  auto r = admin().get("/api/v1/namespaces/default/pods/web/log?tailLines=5&timestamps=true");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body, "line 1 of /containerLogs/default/web/c\nline 2\n");
  auto targets = agent_.targets();
  ASSERT_EQ(targets.size(), 1u);
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

}  // namespace
}  // namespace podnet::apiserver::testing
