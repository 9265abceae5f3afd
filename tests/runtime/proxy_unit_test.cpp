// pods/proxy and services/proxy without a cluster: where the API server sends a request (kube's
// ResourceLocation rules and podnet's refusals of node, loopback and link-local addresses), and the
// agent's parser and address check for /podProxy/.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <map>

#include "apiserver/endpoints/proxy_target.h"
#include "common/ip_scope.h"
#include "runtime/pod_proxy_session.h"

namespace podnet {
namespace {

namespace json = boost::json;
using apiserver::ProxyName;
using apiserver::split_scheme_name_port;

json::value pod(const std::string& name, json::value ips, json::array containers = {},
                std::string node = "n1") {
  return json::value{{"metadata", {{"name", name}, {"namespace", "default"}}},
                     {"spec", {{"nodeName", node}, {"containers", std::move(containers)}}},
                     {"status", {{"podIPs", std::move(ips)}}}};
}

TEST(ProxyName, KubesSplitSchemeNamePort) {
  auto n = split_scheme_name_port("web");
  ASSERT_TRUE(n);
  EXPECT_EQ(n->name, "web");
  EXPECT_EQ(n->port, "");
  n = split_scheme_name_port("web:8080");
  ASSERT_TRUE(n);
  EXPECT_EQ(n->port, "8080");
  n = split_scheme_name_port("http:web:http");
  ASSERT_TRUE(n);
  EXPECT_EQ(n->scheme, "http");
  EXPECT_EQ(n->port, "http");
  for (const char* bad : {"", ":80", "ftp:web:80", "a:b:c:d", "http::80"})
    EXPECT_FALSE(split_scheme_name_port(bad)) << bad;
}

TEST(ProxyTarget, PodFirstIpAndFirstContainerPort) {
  json::array containers{json::object{{"name", "a"}},
                         json::object{{"name", "b"}, {"ports", json::array{{{"containerPort", 8080}}}}}};
  auto p = pod("web", json::array{{{"ip", "10.244.1.5"}}, {{"ip", "fd00::5"}}}, containers);
  auto t = apiserver::pod_proxy_target(p, *split_scheme_name_port("web"));
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_EQ(t->ip, "10.244.1.5");
  EXPECT_EQ(t->port, 8080);
  EXPECT_EQ(t->node, "n1");
  EXPECT_EQ(t->pod, "web");
  t = apiserver::pod_proxy_target(p, *split_scheme_name_port("web:9000"));
  ASSERT_TRUE(t);
  EXPECT_EQ(t->port, 9000);
  // No port anywhere: http's.
  t = apiserver::pod_proxy_target(pod("web", json::array{{{"ip", "10.244.1.5"}}}),
                                  *split_scheme_name_port("web"));
  ASSERT_TRUE(t);
  EXPECT_EQ(t->port, 80);
}

TEST(ProxyTarget, PodRefusals) {
  struct Case {
    json::value ips;
    std::string id, code, message;
  } cases[] = {
      {json::array{}, "web:80", "400", "address not allowed"},  // not running yet: no IP
      {json::array{{{"ip", "127.0.0.1"}}}, "web:80", "400", "address not allowed"},
      {json::array{{{"ip", "169.254.169.254"}}}, "web:80", "400", "address not allowed"},
      {json::array{{{"ip", "fe80::1"}}}, "web:80", "400", "address not allowed"},
      {json::array{{{"ip", "::ffff:127.0.0.1"}}}, "web:80", "400", "address not allowed"},
      {json::array{{{"ip", "0.0.0.0"}}}, "web:80", "400", "address not allowed"},
      {json::array{{{"ip", "224.0.0.1"}}}, "web:80", "400", "address not allowed"},
      {json::array{{{"ip", "10.244.1.5"}}}, "web:x", "400", "invalid port \"x\" in pod request"},
      {json::array{{{"ip", "10.244.1.5"}}}, "web:0", "400", "invalid port \"0\" in pod request"},
      {json::array{{{"ip", "10.244.1.5"}}}, "https:web:443", "400",
       "podnet's proxy speaks plain http to pods; \"https:web:443\" is not served"},
  };
  for (const auto& c : cases) {
    auto t = apiserver::pod_proxy_target(pod("web", c.ips), *split_scheme_name_port(c.id));
    ASSERT_FALSE(t) << json::serialize(c.ips) << " " << c.id;
    EXPECT_EQ(std::to_string(t.error().code), c.code);
    EXPECT_EQ(t.error().message, c.message);
  }
}

TEST(ProxyTarget, NodeAddressesAreNotAllowed) {
  json::value node{{"status",
                    {{"addresses", json::array{{{"type", "InternalIP"}, {"address", "10.0.0.3"}},
                                               {{"type", "Hostname"}, {"address", "node1"}}}}}}};
  std::vector<json::value> nodes{node};
  EXPECT_TRUE(apiserver::check_proxy_address("10.244.0.7", nodes));
  auto r = apiserver::check_proxy_address("10.0.0.3", nodes);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, 400);
  EXPECT_EQ(r.error().message, "address not allowed");
  EXPECT_FALSE(apiserver::check_proxy_address("127.0.0.53", nodes));
  EXPECT_FALSE(apiserver::check_proxy_address("not-an-ip", nodes));
}

json::value slice(json::array endpoints, json::array ports) {
  return json::value{
      {"addressType", "IPv4"}, {"endpoints", std::move(endpoints)}, {"ports", std::move(ports)}};
}
json::object endpoint(const std::string& ip, const std::string& pod, bool ready = true) {
  return {{"addresses", json::array{json::value(ip)}},
          {"conditions", {{"ready", ready}}},
          {"targetRef", {{"kind", "Pod"}, {"namespace", "default"}, {"name", pod}}}};
}

TEST(ProxyTarget, ServiceReadyEndpointOfTheNamedPortWhoseAddressIsItsPods) {
  json::value svc{
      {"metadata", {{"name", "web"}, {"namespace", "default"}}},
      {"spec",
       {{"ports", json::array{{{"name", "http"}, {"port", 80}}, {{"name", "admin"}, {"port", 81}}}}}}};
  std::map<std::string, json::value> pods{
      {"a", pod("a", json::array{{{"ip", "10.244.0.5"}}}, {}, "n1")},
      {"b", pod("b", json::array{{{"ip", "10.244.1.6"}}}, {}, "n2")},
      // An endpoint that claims another address than its pod's (kube's isValidAddress refuses it).
      {"liar", pod("liar", json::array{{{"ip", "10.244.1.9"}}}, {}, "n2")},
  };
  apiserver::PodGetter get = [&](const std::string& n) -> std::optional<json::value> {
    auto it = pods.find(n);
    if (it == pods.end()) return std::nullopt;
    return it->second;
  };
  std::vector<json::value> slices{
      slice(json::array{endpoint("10.0.0.3", "liar"), endpoint("10.244.0.5", "a", false),
                        endpoint("10.244.1.6", "b")},
            json::array{{{"name", "http"}, {"port", 8080}}, {{"name", "admin"}, {"port", 9090}}})};
  for (size_t start = 0; start < 3; ++start) {
    auto t = apiserver::service_proxy_target(svc, slices, get, *split_scheme_name_port("web:80"),
                                             [&](size_t) { return start; });
    ASSERT_TRUE(t) << t.error().message;
    EXPECT_EQ(t->ip, "10.244.1.6");  // a is not ready; liar's address is not its pod's
    EXPECT_EQ(t->port, 8080);
    EXPECT_EQ(t->node, "n2");
    EXPECT_EQ(t->pod, "b");
  }
  // By port name, and by the number of another Service port.
  auto t = apiserver::service_proxy_target(svc, slices, get, *split_scheme_name_port("web:admin"),
                                           [](size_t) { return 0; });
  ASSERT_TRUE(t);
  EXPECT_EQ(t->port, 9090);
  t = apiserver::service_proxy_target(svc, slices, get, *split_scheme_name_port("web:81"),
                                      [](size_t) { return 0; });
  ASSERT_TRUE(t);
  EXPECT_EQ(t->port, 9090);

  auto none = apiserver::service_proxy_target(svc, slices, get, *split_scheme_name_port("web:82"),
                                              [](size_t) { return 0; });
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code, 503);
  EXPECT_EQ(none.error().message, "no service port 82 found for service \"web\"");
  // No port given: the unnamed port, which this Service does not have.
  none = apiserver::service_proxy_target(svc, slices, get, *split_scheme_name_port("web"),
                                         [](size_t) { return 0; });
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code, 503);
  EXPECT_EQ(none.error().message, "no endpoints available for service \"web\"");
  none = apiserver::service_proxy_target(svc, {}, get, *split_scheme_name_port("web:http"),
                                         [](size_t) { return 0; });
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().message, "no endpoints available for service \"web\"");
}

TEST(ProxyTarget, LocationRewrittenUnderTheProxyPath) {
  const std::string prefix = "/api/v1/namespaces/default/pods/web:8080/proxy";
  EXPECT_EQ(apiserver::rewrite_location("/login?x=1", prefix), prefix + "/login?x=1");
  EXPECT_EQ(apiserver::rewrite_location("http://example.com/", prefix), "http://example.com/");
  EXPECT_EQ(apiserver::rewrite_location("//evil.example/", prefix), "//evil.example/");
  EXPECT_EQ(apiserver::rewrite_location("next", prefix), "next");
}

TEST(IpGlobalUnicast, AsGosIsGlobalUnicast) {
  for (const char* yes :
       {"10.244.0.5", "192.168.1.1", "8.8.8.8", "fd00::5", "2001:db8::1", "::ffff:10.0.0.1"})
    EXPECT_TRUE(ip_global_unicast(*parse_ip(yes))) << yes;
  for (const char* no : {"127.0.0.1", "127.1.2.3", "169.254.0.1", "0.0.0.0", "255.255.255.255", "224.0.0.251",
                         "::1", "::", "fe80::1", "ff02::1", "::ffff:127.0.0.1", "::ffff:169.254.1.1"})
    EXPECT_FALSE(ip_global_unicast(*parse_ip(no))) << no;
}

TEST(PodProxyRequest, ParsesAndRefuses) {
  auto r = runtime::parse_pod_proxy_request("/podProxy/default/web/10.244.0.5/8080");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->ns, "default");
  EXPECT_EQ(r->pod, "web");
  EXPECT_EQ(r->ip, "10.244.0.5");
  EXPECT_EQ(r->port, 8080);
  r = runtime::parse_pod_proxy_request("/podProxy/default/web/fd00%3A%3A5/80");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->ip, "fd00::5");
  struct Case {
    const char* target;
    int status;
  } cases[] = {
      {"/podProxy/default/web/10.244.0.5", 404},
      {"/podProxy/default/web/10.244.0.5/80/x", 404},
      {"/portForward/default/web", 404},
      {"/podProxy/default/web/10.244.0.5/0", 400},
      {"/podProxy/default/web/10.244.0.5/65536", 400},
      {"/podProxy/default/web/example.com/80", 400},
      {"/podProxy/default/../10.244.0.5/80", 400},
      {"/podProxy/Default/web/10.244.0.5/80", 400},
      {"/podProxy/default/web/10.244.0.5/80?x=1", 400},
      {"/podProxy/default/web/10.244.0.5/8%0", 400},
  };
  for (const auto& c : cases) {
    auto bad = runtime::parse_pod_proxy_request(c.target);
    ASSERT_FALSE(bad) << c.target;
    EXPECT_EQ(bad.error().status, c.status) << c.target;
  }
}

TEST(PodProxyRequest, OnlyThePodsOwnGlobalAddresses) {
  auto req = [](const char* ip) { return runtime::PodProxyRequest{"default", "web", ip, 80}; };
  std::vector<std::string> ips{"10.244.0.5", "fd00::5"};
  EXPECT_TRUE(runtime::check_pod_proxy_address(req("10.244.0.5"), ips));
  EXPECT_TRUE(runtime::check_pod_proxy_address(req("fd00:0::5"), ips));
  auto other = runtime::check_pod_proxy_address(req("10.244.0.6"), ips);
  ASSERT_FALSE(other);
  EXPECT_EQ(other.error().status, 403);
  // Even a pod that has one (a misconfigured node) is not reached on a loopback address.
  auto loop = runtime::check_pod_proxy_address(req("127.0.0.1"), {"127.0.0.1"});
  ASSERT_FALSE(loop);
  EXPECT_EQ(loop.error().status, 400);
  EXPECT_EQ(loop.error().message, "address not allowed");
}

}  // namespace
}  // namespace podnet
