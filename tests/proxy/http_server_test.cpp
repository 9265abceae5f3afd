// The proxy's HTTP face through real sockets: /metrics scraped and parsed, /healthz turning 503
// when changes wait too long, and healthCheckNodePort listeners (root: in a namespace of their
// own) opened, answering kube-proxy's JSON, and closed as services change.
#include "proxy/http_server.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/asio/connect.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <thread>

#include "common/time.h"
#include "proxy/builders.h"
#include "proxy/proxier.h"
#include "support/scoped_netns.h"

namespace podnet::proxy {
namespace {

using namespace testing;
using std::chrono::milliseconds;
namespace asio = boost::asio;
namespace http = boost::beast::http;

class NullKernel : public ProxyKernel {
 public:
  Status apply(const Transaction&) override { return {}; }
  Result<ExistingChains> list_chains() override { return {}; }
};

struct Got {
  int status = 0;  // 0: could not connect
  std::string body;
  std::map<std::string, std::string> headers;
};

// One GET over a fresh connection, from the calling thread's network namespace.
Got get(const std::string& host, uint16_t port, const std::string& target) {
  Got out;
  try {
    asio::io_context io;
    asio::ip::tcp::socket socket(io);
    socket.connect({asio::ip::make_address(host), port});
    http::request<http::empty_body> req{http::verb::get, target, 11};
    req.set(http::field::host, host);
    http::write(socket, req);
    boost::beast::flat_buffer buffer;
    http::response<http::string_body> res;
    http::read(socket, buffer, res);
    out.status = static_cast<int>(res.result_int());
    out.body = res.body();
    for (const auto& f : res) out.headers[std::string(f.name_string())] = std::string(f.value());
  } catch (const std::exception&) {
  }
  return out;
}

// The value of a sample line "name{labels} value" in Prometheus text, or -1.
double sample(const std::string& text, const std::string& series) {
  auto at = text.find("\n" + series + " ");
  if (at == std::string::npos) return -1;
  return std::stod(text.substr(at + series.size() + 2));
}

std::string rfc3339_ago(std::chrono::seconds ago) {
  return rfc3339(std::chrono::system_clock::now() - ago);
}

ProxyHttpOptions loopback_options() {
  ProxyHttpOptions o;
  o.healthz = asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0);
  o.metrics = asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0);
  o.health_checks = false;
  return o;
}

TEST(ProxyHttp, MetricsScrapedAfterFullAndPartialSyncs) {
  auto server = ProxyHttpServer::start(loopback_options());
  ASSERT_TRUE(server) << server.error().message();
  NullKernel kernel;
  Proxier proxier(kernel, ProxierOptions{{"node-a", {}}, RulesetConfig{}, milliseconds(0)});
  proxier.set_observer(server->get());
  proxier.upsert_service(cluster_ip_service("web", "10.96.0.1", {tcp_port("http", 80, 8080)}));
  proxier.upsert_service(cluster_ip_service("db", "10.96.0.2", {tcp_port("pg", 5432, 5432)}));
  proxier.upsert_slice(slice("web", {{"10.1.0.1"}, {"10.1.0.2"}}, {slice_port("http", 8080)}));
  ASSERT_EQ(proxier.sync(Proxier::Clock::now()), true);
  // A change the EndpointSlice controller stamped 5 s ago: programming latency counts from then.
  auto changed = slice("web", {{"10.1.0.1"}}, {slice_port("http", 8080)});
  changed.last_change_trigger_time = rfc3339_ago(std::chrono::seconds(5));
  proxier.upsert_slice(changed);
  ASSERT_EQ(proxier.sync(Proxier::Clock::now()), true);

  Got m = get("127.0.0.1", (*server)->metrics_port(), "/metrics");
  ASSERT_EQ(m.status, 200);
  EXPECT_EQ(m.headers["Content-Type"], "text/plain; version=0.0.4; charset=utf-8");
  const auto& t = m.body;
  EXPECT_EQ(sample(t, "kubeproxy_sync_proxy_rules_duration_seconds_count{sync=\"full\"}"), 1);
  EXPECT_EQ(sample(t, "kubeproxy_sync_proxy_rules_duration_seconds_count{sync=\"partial\"}"), 1);
  EXPECT_EQ(sample(t, "kubeproxy_sync_proxy_rules_duration_seconds_bucket{sync=\"partial\",le=\"+Inf\"}"), 1);
  EXPECT_EQ(sample(t, "kubeproxy_network_programming_duration_seconds_count"), 2);
  const double sum = sample(t, "kubeproxy_network_programming_duration_seconds_sum");
  EXPECT_GE(sum, 4.0) << "the annotated change counts from its trigger time";
  EXPECT_LT(sum, 60.0);
  EXPECT_EQ(sample(t, "kubeproxy_network_programming_duration_seconds_bucket{le=\"4\"}"), 1)
      << "the first slice (no annotation) took well under 4 s";
  const double now =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  EXPECT_NEAR(sample(t, "kubeproxy_sync_proxy_rules_last_timestamp_seconds"), now, 10);
  EXPECT_EQ(sample(t, "podnet_proxy_services"), 2);
  EXPECT_EQ(sample(t, "podnet_proxy_endpoints"), 1);
  // web: service-ips, 1 endpoint, its hairpin entry (it runs on this node); db: no-endpoints.
  EXPECT_EQ(sample(t, "podnet_proxy_nftables_elements"), 4);
  EXPECT_EQ(sample(t, "podnet_proxy_syncs_total{result=\"partial\"}"), 1);
  EXPECT_EQ(get("127.0.0.1", (*server)->metrics_port(), "/other").status, 404);
}

TEST(ProxyHttp, HealthzTurnsUnhealthyWhenChangesWaitTooLong) {
  auto opts = loopback_options();
  opts.health_timeout = milliseconds(200);
  auto server = ProxyHttpServer::start(opts);
  ASSERT_TRUE(server) << server.error().message();
  NullKernel kernel;
  Proxier proxier(kernel, ProxierOptions{{"node-a", {}}, RulesetConfig{}, milliseconds(0)});
  proxier.set_observer(server->get());
  const uint16_t port = (*server)->healthz_port();
  Got h = get("127.0.0.1", port, "/healthz");
  EXPECT_EQ(h.status, 200) << h.body;
  EXPECT_EQ(h.headers["Content-Type"], "application/json");
  EXPECT_NE(h.body.find("\"nodeEligible\": true"), std::string::npos) << h.body;

  proxier.upsert_service(cluster_ip_service("web", "10.96.0.1", {tcp_port("http", 80, 8080)}));
  EXPECT_EQ(get("127.0.0.1", port, "/healthz").status, 200) << "queued, not late yet";
  std::this_thread::sleep_for(milliseconds(300));
  EXPECT_EQ(get("127.0.0.1", port, "/healthz").status, 503);
  ASSERT_EQ(proxier.sync(Proxier::Clock::now()), true);
  h = get("127.0.0.1", port, "/healthz");
  EXPECT_EQ(h.status, 200);
  EXPECT_EQ(h.body.find("\"lastUpdated\": \"\""), std::string::npos) << "a sync happened: " << h.body;
  EXPECT_EQ(get("127.0.0.1", port, "/livez").status, 200);
}

k8s::Service lb_local(uint16_t health_port) {
  auto svc = cluster_ip_service("web", "10.96.0.1", {tcp_port("http", 80, 8080, 30080)});
  svc.meta.namespace_ = "shop";
  svc.type = k8s::ServiceType::kLoadBalancer;
  svc.external_traffic_policy = k8s::TrafficPolicy::kLocal;
  svc.health_check_node_port = health_port;
  return svc;
}

k8s::EndpointSlice shop_slice(std::initializer_list<Ep> eps) {
  auto s = slice("web", eps, {slice_port("http", 8080)});
  s.meta.namespace_ = "shop";
  return s;
}

TEST(ProxyHttp, HealthCheckNodePortReportsLocalEndpoints) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root (listens on all addresses of a namespace of its own)";
  podnet::testing::ScopedNetns node;
  ProxyHttpOptions opts;  // health checks only
  std::unique_ptr<ProxyHttpServer> server;
  NullKernel kernel;
  Proxier proxier(kernel, ProxierOptions{{"node-a", {}}, RulesetConfig{}, milliseconds(0)});
  auto in_node = [&](auto fn) { return node.netns().run([&]() -> Result<decltype(fn())> { return fn(); }); };
  auto sync = [&] {
    ASSERT_TRUE(*in_node([&] { return proxier.sync(Proxier::Clock::now()).value_or(false); }));
  };
  auto ask = [&](const std::string& host, uint16_t port) {
    return *in_node([&] { return get(host, port, "/"); });
  };
  ASSERT_TRUE(in_node([&] {
                auto s = ProxyHttpServer::start(opts);
                if (s) server = std::move(*s);
                return bool(s);
              }).value_or(false));
  proxier.set_observer(server.get());

  const uint16_t hc = 32123;
  proxier.upsert_service(lb_local(hc));
  proxier.upsert_slice(shop_slice({{"10.1.0.1", true, true, false, "node-a"},
                                   {"10.1.0.2", true, true, false, "node-a"},
                                   {"10.1.0.3", false, true, false, "node-a"},  // not ready
                                   {"10.1.0.4", true, true, false, "node-b"}}));
  sync();
  ASSERT_TRUE(server->health_check_open(hc));
  for (const char* host : {"127.0.0.1", "::1"}) {
    Got g = ask(host, hc);
    EXPECT_EQ(g.status, 200) << host;
    EXPECT_EQ(g.body,
              "{\n\t\"service\": {\n\t\t\"namespace\": \"shop\",\n\t\t\"name\": \"web\"\n\t},\n\t"
              "\"localEndpoints\": 2,\n\t\"serviceProxyHealthy\": true\n}");
    EXPECT_EQ(g.headers["X-Load-Balancing-Endpoint-Weight"], "2");
    EXPECT_EQ(g.headers["Content-Type"], "application/json");
  }

  // Only another node's endpoints left: the load balancer must stop sending here.
  proxier.upsert_slice(shop_slice({{"10.1.0.4", true, true, false, "node-b"}}));
  sync();
  Got g = ask("127.0.0.1", hc);
  EXPECT_EQ(g.status, 503);
  EXPECT_NE(g.body.find("\"localEndpoints\": 0,"), std::string::npos) << g.body;

  // Policy Cluster: no health check port.
  auto cluster = lb_local(hc);
  cluster.external_traffic_policy = k8s::TrafficPolicy::kCluster;
  proxier.upsert_service(cluster);
  sync();
  EXPECT_FALSE(server->health_check_open(hc));
  EXPECT_EQ(ask("127.0.0.1", hc).status, 0) << "nothing listens any more";

  // Back, then the service is deleted.
  proxier.upsert_service(lb_local(hc));
  sync();
  EXPECT_EQ(ask("127.0.0.1", hc).status, 503);
  proxier.delete_service("shop", "web");
  sync();
  EXPECT_EQ(ask("127.0.0.1", hc).status, 0);
  in_node([&] {
    server.reset();
    return true;
  });
}

}  // namespace
}  // namespace podnet::proxy
