// Decoding Service and EndpointSlice JSON as the API server sends it, and the errors for bad input.
#include "k8s/decode.h"

#include <gtest/gtest.h>

namespace podnet::k8s {
namespace {

constexpr const char* kFullService = R"({
  "apiVersion": "v1", "kind": "Service",
  "metadata": {"name": "web", "namespace": "shop", "resourceVersion": "42", "labels": {"app": "web"}},
  "spec": {
    "type": "LoadBalancer",
    "clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10", "fd00::10"],
    "ipFamilies": ["IPv4", "IPv6"],
    "ports": [
      {"name": "http", "protocol": "TCP", "port": 80, "targetPort": "http-alt", "nodePort": 30080},
      {"name": "dns", "protocol": "UDP", "port": 53, "targetPort": 5353},
      {"name": "sig", "protocol": "SCTP", "port": 9000}
    ],
    "sessionAffinity": "ClientIP",
    "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 60}},
    "externalIPs": ["192.0.2.7"],
    "externalTrafficPolicy": "Local",
    "internalTrafficPolicy": "Local",
    "healthCheckNodePort": 31000
  },
  "status": {"loadBalancer": {"ingress": [{"ip": "198.51.100.1"}, {"hostname": "lb.example"}]}}
})";

TEST(DecodeService, AllFieldsTheProxyReads) {
  auto svc = decode_service(std::string_view(kFullService));
  ASSERT_TRUE(svc) << svc.error().message();
  EXPECT_EQ(svc->meta.name, "web");
  EXPECT_EQ(svc->meta.namespace_, "shop");
  EXPECT_EQ(svc->meta.resource_version, "42");
  EXPECT_EQ(svc->meta.labels.at("app"), "web");
  EXPECT_EQ(svc->type, ServiceType::kLoadBalancer);
  ASSERT_EQ(svc->cluster_ips.size(), 2u);
  EXPECT_EQ(svc->cluster_ips[0].to_string(), "10.96.0.10");
  EXPECT_EQ(svc->cluster_ips[1].to_string(), "fd00::10");
  EXPECT_FALSE(svc->headless);
  ASSERT_EQ(svc->ports.size(), 3u);
  EXPECT_EQ(svc->ports[0].name, "http");
  EXPECT_EQ(std::get<std::string>(svc->ports[0].target_port), "http-alt");
  EXPECT_EQ(svc->ports[0].node_port, 30080);
  EXPECT_EQ(svc->ports[1].protocol, Protocol::kUdp);
  EXPECT_EQ(std::get<int32_t>(svc->ports[1].target_port), 5353);
  EXPECT_EQ(svc->ports[2].protocol, Protocol::kSctp);
  EXPECT_EQ(std::get<int32_t>(svc->ports[2].target_port), 9000) << "targetPort defaults to port";
  EXPECT_TRUE(svc->affinity_client_ip);
  EXPECT_EQ(svc->affinity_timeout_seconds, 60);
  ASSERT_EQ(svc->external_ips.size(), 1u);
  EXPECT_EQ(svc->external_ips[0].to_string(), "192.0.2.7");
  EXPECT_EQ(svc->external_traffic_policy, TrafficPolicy::kLocal);
  EXPECT_EQ(svc->internal_traffic_policy, TrafficPolicy::kLocal);
  EXPECT_EQ(svc->health_check_node_port, 31000);
  EXPECT_EQ(svc->ip_families, (std::vector<IpFamily>{IpFamily::kIPv4, IpFamily::kIPv6}));
  ASSERT_EQ(svc->load_balancer_ips.size(), 1u) << "hostname-only ingress carries no IP";
  EXPECT_EQ(svc->load_balancer_ips[0].to_string(), "198.51.100.1");
}

TEST(DecodeService, DefaultsOfAMinimalService) {
  auto svc = decode_service(std::string_view(
      R"({"kind":"Service","metadata":{"name":"a"},"spec":{"clusterIP":"10.0.0.1","ports":[{"port":443}]}})"));
  ASSERT_TRUE(svc) << svc.error().message();
  EXPECT_EQ(svc->meta.namespace_, "default");
  EXPECT_EQ(svc->type, ServiceType::kClusterIP);
  EXPECT_EQ(svc->ports[0].protocol, Protocol::kTcp);
  EXPECT_EQ(std::get<int32_t>(svc->ports[0].target_port), 443);
  EXPECT_FALSE(svc->affinity_client_ip);
  EXPECT_EQ(svc->affinity_timeout_seconds, 10800);
  EXPECT_EQ(svc->external_traffic_policy, TrafficPolicy::kCluster);
}

TEST(DecodeService, HeadlessHasNoVirtualIp) {
  auto svc = decode_service(std::string_view(R"({"metadata":{"name":"h"},"spec":{"clusterIP":"None"}})"));
  ASSERT_TRUE(svc) << svc.error().message();
  EXPECT_TRUE(svc->headless);
  EXPECT_TRUE(svc->cluster_ips.empty());
}

struct BadCase {
  const char* json;
  const char* expected_in_message;
};

class DecodeServiceErrors : public ::testing::TestWithParam<BadCase> {};

TEST_P(DecodeServiceErrors, NameTheObjectAndField) {
  auto svc = decode_service(std::string_view(GetParam().json));
  ASSERT_FALSE(svc);
  EXPECT_NE(svc.error().message().find(GetParam().expected_in_message), std::string::npos)
      << svc.error().message();
}

INSTANTIATE_TEST_SUITE_P(
    Cases, DecodeServiceErrors,
    ::testing::Values(
        BadCase{"{", "Service: invalid JSON"}, BadCase{"[1]", "expected a JSON object"},
        BadCase{R"({"kind":"Pod","metadata":{"name":"x"},"spec":{}})", "kind \"Pod\""},
        BadCase{R"({"spec":{}})", "metadata: required"},
        BadCase{R"({"metadata":{"name":"x","namespace":"n"}})", "Service n/x: spec: required"},
        BadCase{R"({"metadata":{"name":"x"},"spec":{"ports":[{"port":80,"protocol":"ICMP"}]}})",
                "spec.ports[0].protocol: unknown protocol \"ICMP\""},
        BadCase{R"({"metadata":{"name":"x"},"spec":{"ports":[{"port":70000}]}})",
                "spec.ports[0].port: port out of range"},
        BadCase{R"({"metadata":{"name":"x"},"spec":{"ports":[{"name":"a"}]}})",
                "spec.ports[0].port: required"},
        BadCase{R"({"metadata":{"name":"x"},"spec":{"ports":[{"port":"80"}]}})",
                "spec.ports[0].port: expected an integer"},
        BadCase{R"({"metadata":{"name":"x"},"spec":{"clusterIP":"10.0.0.300"}})",
                "spec.clusterIPs[0]: invalid IP"},
        BadCase{R"({"metadata":{"name":"x"},"spec":{"type":"Magic"}})", "unknown service type \"Magic\""},
        BadCase{R"({"metadata":{"name":"x"},"spec":{"externalIPs":["nope"]}})",
                "spec.externalIPs[0]: invalid IP"},
        BadCase{R"({"metadata":{"name":"x"},"spec":{"externalTrafficPolicy":"Nearest"}})",
                "spec.externalTrafficPolicy: unknown traffic policy"},
        BadCase{
            R"({"metadata":{"name":"x"},"spec":{"sessionAffinityConfig":{"clientIP":{"timeoutSeconds":0}}}})",
            "timeoutSeconds: must be in 1..86400"}));

TEST(DecodeEndpointSlice, EndpointsConditionsAndPorts) {
  auto slice = decode_endpoint_slice(std::string_view(R"({
    "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
    "metadata": {"name": "web-abc", "namespace": "shop", "labels": {"kubernetes.io/service-name": "web"},
                 "annotations": {"endpoints.kubernetes.io/last-change-trigger-time": "2024-05-01T10:00:00Z"}},
    "addressType": "IPv4",
    "endpoints": [
      {"addresses": ["10.1.0.5"], "conditions": {"ready": true, "serving": true, "terminating": false},
       "nodeName": "node-a", "zone": "z1"},
      {"addresses": ["10.1.0.6"], "conditions": {"ready": false, "serving": true, "terminating": true}},
      {"addresses": ["10.1.0.7"]}
    ],
    "ports": [{"name": "http", "protocol": "TCP", "port": 8080}, {"name": "dns", "protocol": "UDP", "port": 53}]
  })"));
  ASSERT_TRUE(slice) << slice.error().message();
  EXPECT_EQ(slice->service_name(), "web");
  EXPECT_EQ(slice->last_change_trigger_time, "2024-05-01T10:00:00Z");
  EXPECT_EQ(slice->address_type, AddressType::kIPv4);
  ASSERT_EQ(slice->endpoints.size(), 3u);
  EXPECT_EQ(slice->endpoints[0].node_name, "node-a");
  EXPECT_EQ(slice->endpoints[0].zone, "z1");
  EXPECT_TRUE(slice->endpoints[0].conditions.is_ready());
  EXPECT_FALSE(slice->endpoints[1].conditions.is_ready());
  EXPECT_TRUE(slice->endpoints[1].conditions.is_serving());
  EXPECT_TRUE(slice->endpoints[1].conditions.is_terminating());
  EXPECT_TRUE(slice->endpoints[2].conditions.is_ready()) << "unknown readiness counts as ready";
  EXPECT_FALSE(slice->endpoints[2].conditions.is_terminating());
  ASSERT_EQ(slice->ports.size(), 2u);
  EXPECT_EQ(slice->ports[1].name, "dns");
  EXPECT_EQ(slice->ports[1].protocol, Protocol::kUdp);
  EXPECT_EQ(slice->ports[1].port, 53);
}

TEST(DecodeEndpointSlice, Errors) {
  auto wrong_family = decode_endpoint_slice(std::string_view(
      R"({"metadata":{"name":"s"},"addressType":"IPv6","endpoints":[{"addresses":["10.0.0.1"]}]})"));
  ASSERT_FALSE(wrong_family);
  EXPECT_NE(wrong_family.error().message().find("EndpointSlice default/s: endpoints[0].addresses[0]"),
            std::string::npos)
      << wrong_family.error().message();
  auto no_type = decode_endpoint_slice(std::string_view(R"({"metadata":{"name":"s"}})"));
  ASSERT_FALSE(no_type);
  EXPECT_NE(no_type.error().message().find("addressType: required"), std::string::npos);
  auto bad_ready = decode_endpoint_slice(std::string_view(
      R"({"metadata":{"name":"s"},"addressType":"IPv4","endpoints":[{"addresses":["10.0.0.1"],"conditions":{"ready":"yes"}}]})"));
  ASSERT_FALSE(bad_ready);
  EXPECT_NE(bad_ready.error().message().find("endpoints[0].conditions.ready: expected a boolean"),
            std::string::npos);
}

}  // namespace
}  // namespace podnet::k8s
