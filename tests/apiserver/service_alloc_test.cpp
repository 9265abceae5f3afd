// Allocators, Service/Pod defaults and validation, and ServiceRest's write transactions, without a
// server: tables of inputs against kube-apiserver's exact messages.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <set>

#include "apiserver/registry/ip_allocator.h"
#include "apiserver/registry/port_allocator.h"
#include "apiserver/registry/service_rest.h"
#include "apiserver/validation/pod_validation.h"
#include "apiserver/validation/service_validation.h"

namespace podnet::apiserver {
namespace {
namespace json = boost::json;

TEST(RangeBitmap, DynamicPicksFillTheUpperBandFirst) {
  RangeBitmap bits(64, 16);
  std::mt19937_64 random(1);
  for (int i = 0; i < 48; ++i) {
    auto off = bits.allocate_next(random);
    ASSERT_TRUE(off);
    EXPECT_GE(*off, 16u) << "pick " << i << " should come from the dynamic band";
  }
  auto low = bits.allocate_next(random);
  ASSERT_TRUE(low);
  EXPECT_LT(*low, 16u);
  for (int i = 0; i < 15; ++i) ASSERT_TRUE(bits.allocate_next(random));
  EXPECT_FALSE(bits.allocate_next(random)) << "full";
  bits.release(3);
  EXPECT_EQ(bits.allocate_next(random), 3u);
  EXPECT_FALSE(bits.allocate(3));
}

TEST(IpAllocator, KubesMessagesAndReservedAddresses) {
  auto alloc = IpAllocator::create(*parse_prefix("10.96.0.0/28"));
  ASSERT_TRUE(alloc) << alloc.error().message();
  EXPECT_EQ(alloc->allocate(*parse_ip("10.96.0.0")).error(),
            "the provided IP (10.96.0.0) is not in the valid range. The range of valid IPs is 10.96.0.0/28");
  EXPECT_FALSE(alloc->allocate(*parse_ip("10.96.0.15"))) << "broadcast";
  EXPECT_FALSE(alloc->allocate(*parse_ip("10.97.0.1")));
  ASSERT_TRUE(alloc->allocate(*parse_ip("10.96.0.5")));
  EXPECT_EQ(alloc->allocate(*parse_ip("10.96.0.5")).error(), "provided IP is already allocated");
  std::mt19937_64 random(7);
  std::set<std::string> seen{"10.96.0.5"};
  for (int i = 0; i < 13; ++i) {
    auto ip = alloc->allocate_next(random);
    ASSERT_TRUE(ip) << i;
    EXPECT_TRUE(seen.insert(ip->to_string()).second) << ip->to_string();
  }
  EXPECT_EQ(alloc->allocate_next(random).error(), "range is full");
  alloc->release(*parse_ip("10.96.0.5"));
  EXPECT_EQ(alloc->allocate_next(random)->to_string(), "10.96.0.5");
}

TEST(IpAllocator, IPv6AndSizeLimits) {
  auto v6 = IpAllocator::create(*parse_prefix("fd00:10:96::/120"));
  ASSERT_TRUE(v6);
  EXPECT_STREQ(v6->family(), "IPv6");
  EXPECT_TRUE(v6->allocate(*parse_ip("fd00:10:96::ff"))) << "no broadcast in IPv6";
  EXPECT_FALSE(v6->allocate(*parse_ip("fd00:10:96::")));
  EXPECT_TRUE(IpAllocator::create(*parse_prefix("fd00::/108")));
  EXPECT_FALSE(IpAllocator::create(*parse_prefix("fd00::/64")));
  EXPECT_TRUE(IpAllocator::create(*parse_prefix("10.96.0.0/12")));
  EXPECT_FALSE(IpAllocator::create(*parse_prefix("10.0.0.0/8")));
}

TEST(PortAllocator, KubesMessages) {
  auto range = parse_port_range("30000-32767");
  ASSERT_TRUE(range);
  EXPECT_FALSE(parse_port_range("32767-30000"));
  EXPECT_FALSE(parse_port_range("0-10"));
  PortAllocator ports(*range);
  EXPECT_EQ(ports.allocate(80).error(),
            "provided port is not in the valid range. The range of valid ports is 30000-32767");
  ASSERT_TRUE(ports.allocate(30080));
  EXPECT_EQ(ports.allocate(30080).error(), "provided port is already allocated");
  PortAllocator tiny(PortRange{40000, 2});
  std::mt19937_64 random(1);
  ASSERT_TRUE(tiny.allocate_next(random));
  ASSERT_TRUE(tiny.allocate_next(random));
  EXPECT_EQ(tiny.allocate_next(random).error(), "range is full");
}

json::object service(const std::string& spec_json) {
  return json::object{{"apiVersion", "v1"},
                      {"kind", "Service"},
                      {"metadata", {{"name", "web"}, {"namespace", "default"}}},
                      {"spec", json::parse(spec_json)}};
}

TEST(ServiceDefaults, KubesDefaults) {
  auto svc = service(R"({"type":"LoadBalancer","sessionAffinity":"ClientIP","ports":[{"port":80}]})");
  default_service(svc);
  const auto& spec = svc["spec"].as_object();
  EXPECT_EQ(spec.at("sessionAffinityConfig"), json::parse(R"({"clientIP":{"timeoutSeconds":10800}})"));
  EXPECT_EQ(spec.at("externalTrafficPolicy"), "Cluster");
  EXPECT_EQ(spec.at("internalTrafficPolicy"), "Cluster");
  EXPECT_EQ(spec.at("allocateLoadBalancerNodePorts"), true);
  EXPECT_EQ(spec.at("ports").at(0).at("protocol"), "TCP");
  EXPECT_EQ(spec.at("ports").at(0).at("targetPort"), 80);

  auto plain = service(R"({"ports":[{"port":53,"protocol":"UDP","targetPort":"dns"}]})");
  default_service(plain);
  const auto& p = plain["spec"].as_object();
  EXPECT_EQ(p.at("type"), "ClusterIP");
  EXPECT_EQ(p.at("sessionAffinity"), "None");
  EXPECT_FALSE(p.contains("externalTrafficPolicy"));
  EXPECT_EQ(p.at("ports").at(0).at("targetPort"), "dns");
}

TEST(ServiceValidation, Table) {
  struct Case {
    const char* spec;
    const char* field;  // of the first cause; "" when valid
    const char* message;
  } cases[] = {
      {R"({"ports":[{"port":80}]})", "", ""},
      {R"({"clusterIP":"None","selector":{"a":"b"}})", "", ""},
      {R"({"type":"ExternalName","externalName":"db.example.com"})", "", ""},
      {R"({})", "spec.ports", "Required value"},
      {R"({"ports":[{"port":70000}]})", "spec.ports[0].port",
       "Invalid value: 70000: must be between 1 and 65535, inclusive"},
      {R"({"ports":[{"port":80,"name":"a"},{"port":80,"name":"b"}]})", "spec.ports[1]",
       "Duplicate value: core.ServicePort{Name:\"\", Protocol:\"TCP\", AppProtocol:(*string)(nil), Port:80, "
       "TargetPort:intstr.IntOrString{Type:0, IntVal:0, StrVal:\"\"}, NodePort:0}"},
      {R"({"ports":[{"port":80},{"port":81}]})", "spec.ports[0].name", "Required value"},
      {R"({"ports":[{"port":80,"name":"a"},{"port":81,"name":"a"}]})", "spec.ports[1].name",
       "Duplicate value: \"a\""},
      {R"({"ports":[{"port":80,"name":"Web"}]})", "spec.ports[0].name",
       "Invalid value: \"Web\": a lowercase RFC 1123 label must consist of lower case alphanumeric "
       "characters "
       "or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex "
       "used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"},
      {R"({"ports":[{"port":80,"protocol":"ICMP"}]})", "spec.ports[0].protocol",
       "Unsupported value: \"ICMP\": supported values: \"SCTP\", \"TCP\", \"UDP\""},
      {R"({"ports":[{"port":80,"targetPort":"http--x"}]})", "spec.ports[0].targetPort",
       "Invalid value: \"http--x\": must not contain consecutive hyphens"},
      {R"({"type":"Fancy","ports":[{"port":80}]})", "spec.type",
       "Unsupported value: \"Fancy\": supported values: \"ClusterIP\", \"ExternalName\", \"LoadBalancer\", "
       "\"NodePort\""},
      {R"({"sessionAffinity":"Sticky","ports":[{"port":80}]})", "spec.sessionAffinity",
       "Unsupported value: \"Sticky\": supported values: \"ClientIP\", \"None\""},
      {R"({"sessionAffinity":"ClientIP","sessionAffinityConfig":{"clientIP":{"timeoutSeconds":0}},"ports":[{"port":80}]})",
       "spec.sessionAffinityConfig.clientIP.timeoutSeconds",
       "Invalid value: 0: must be greater than 0 and less than 86400"},
      {R"({"ports":[{"port":80,"nodePort":30000}]})", "spec.ports[0].nodePort",
       "Forbidden: may not be used when `type` is 'ClusterIP'"},
      {R"({"type":"NodePort","clusterIP":"None","ports":[{"port":80}]})", "spec.clusterIPs[0]",
       "Invalid value: \"None\": may not be set to 'None' for NodePort services"},
      {R"({"clusterIP":"10.96.0.300","ports":[{"port":80}]})", "spec.clusterIPs[0]",
       "Invalid value: \"10.96.0.300\": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"},
      {R"({"externalTrafficPolicy":"Local","ports":[{"port":80}]})", "spec.externalTrafficPolicy",
       "Invalid value: \"Local\": may only be set for externally-accessible services"},
      {R"({"type":"NodePort","externalTrafficPolicy":"Nearby","ports":[{"port":80}]})",
       "spec.externalTrafficPolicy",
       "Unsupported value: \"Nearby\": supported values: \"Cluster\", \"Local\""},
      {R"({"type":"ExternalName"})", "spec.externalName", "Required value"},
      {R"({"externalIPs":["127.0.0.1"],"ports":[{"port":80}]})", "spec.externalIPs[0]",
       "Invalid value: \"127.0.0.1\": may not be in the loopback range (127.0.0.0/8, ::1/128)"},
      {R"({"type":"NodePort","ports":[{"port":80,"name":"a","nodePort":30001},{"port":81,"name":"b","nodePort":30001}]})",
       "spec.ports[1].nodePort", "Duplicate value: 30001"},
      {R"({"healthCheckNodePort":30001,"ports":[{"port":80}]})", "spec.healthCheckNodePort",
       "Invalid value: 30001: may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is "
       "'Local'"},
  };
  for (const auto& c : cases) {
    auto svc = service(c.spec);
    default_service(svc);
    normalize_cluster_ips(nullptr, svc);
    auto causes = validate_service(svc, nullptr);
    if (std::string(c.field).empty()) {
      EXPECT_TRUE(causes.empty()) << c.spec << ": " << (causes.empty() ? "" : causes[0].message);
      continue;
    }
    ASSERT_FALSE(causes.empty()) << c.spec;
    EXPECT_EQ(causes[0].field, c.field) << c.spec;
    EXPECT_EQ(causes[0].message, c.message) << c.spec;
  }
}

TEST(PodValidation, Table) {
  struct Case {
    const char* spec;
    const char* field;
    const char* message;
  } cases[] = {
      {R"({"containers":[{"name":"c","image":"nginx","ports":[{"containerPort":80,"name":"http"}]}]})", "",
       ""},
      {R"({})", "spec.containers", "Required value"},
      {R"({"containers":[{"image":"nginx"}]})", "spec.containers[0].name", "Required value"},
      {R"({"containers":[{"name":"c"}]})", "spec.containers[0].image", "Required value"},
      {R"({"containers":[{"name":"c","image":"x"},{"name":"c","image":"y"}]})", "spec.containers[1].name",
       "Duplicate value: \"c\""},
      {R"({"containers":[{"name":"c","image":"x","ports":[{"containerPort":70000}]}]})",
       "spec.containers[0].ports[0].containerPort",
       "Invalid value: 70000: must be between 1 and 65535, inclusive"},
      {R"({"containers":[{"name":"c","image":"x","ports":[{"containerPort":80,"protocol":"ICMP"}]}]})",
       "spec.containers[0].ports[0].protocol",
       "Unsupported value: \"ICMP\": supported values: \"SCTP\", \"TCP\", \"UDP\""},
      {R"({"containers":[{"name":"c","image":"x","ports":[{"containerPort":80,"name":"a"},{"containerPort":81,"name":"a"}]}]})",
       "spec.containers[0].ports[1].name", "Duplicate value: \"a\""},
  };
  for (const auto& c : cases) {
    json::object pod{{"metadata", {{"name", "p"}}}, {"spec", json::parse(c.spec)}};
    default_pod(pod);
    auto causes = validate_pod(pod);
    if (std::string(c.field).empty()) {
      EXPECT_TRUE(causes.empty()) << c.spec << ": " << (causes.empty() ? "" : causes[0].message);
      continue;
    }
    ASSERT_FALSE(causes.empty()) << c.spec;
    EXPECT_EQ(causes[0].field, c.field) << c.spec;
    EXPECT_EQ(causes[0].message, c.message) << c.spec;
  }
}

class ServiceRestTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto r = ServiceRest::create("10.96.0.0/24", "30000-30009", 1);
    ASSERT_TRUE(r) << r.error().message();
    rest_ = std::move(*r);
  }
  // A create that is stored (committed).
  json::object create(const std::string& spec) {
    auto svc = service(spec);
    auto txn = rest_->before_write(nullptr, svc);
    EXPECT_TRUE(txn) << (txn ? "" : txn.error().message);
    if (txn && *txn) (*txn)->commit();
    return svc;
  }
  std::string spec_str(const json::object& svc, const char* key) {
    const json::value* v = svc.at("spec").as_object().if_contains(key);
    return v ? (v->is_string() ? std::string(v->get_string()) : json::serialize(*v)) : "";
  }
  std::unique_ptr<ServiceRest> rest_;
};

TEST_F(ServiceRestTest, CreateAllocatesAndRefusesWithKubesMessages) {
  auto a = create(R"({"ports":[{"port":80}]})");
  auto b = create(R"({"ports":[{"port":80}]})");
  EXPECT_NE(spec_str(a, "clusterIP"), spec_str(b, "clusterIP"));
  EXPECT_EQ(spec_str(a, "ipFamilies"), R"(["IPv4"])");
  EXPECT_EQ(spec_str(a, "ipFamilyPolicy"), "SingleStack");

  create(R"({"clusterIP":"10.96.0.5","ports":[{"port":80}]})");
  auto dup = service(R"({"clusterIP":"10.96.0.5","ports":[{"port":80}]})");
  auto refused = rest_->before_write(nullptr, dup);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, 422);
  EXPECT_EQ(refused.error().message,
            "Service \"web\" is invalid: spec.clusterIPs: Invalid value: []string{\"10.96.0.5\"}: failed to "
            "allocate IP 10.96.0.5: provided IP is already allocated");

  auto np = create(R"({"type":"NodePort","ports":[{"port":80,"nodePort":30005}]})");
  auto taken = service(R"({"type":"NodePort","ports":[{"port":80,"nodePort":30005}]})");
  auto r = rest_->before_write(nullptr, taken);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().causes.at(0).field, "spec.ports[0].nodePort");
  EXPECT_EQ(r.error().causes.at(0).message, "Invalid value: 30005: provided port is already allocated");

  auto headless = create(R"({"clusterIP":"None","selector":{"app":"x"}})");
  EXPECT_EQ(spec_str(headless, "clusterIPs"), R"(["None"])");
  EXPECT_EQ(rest_->ips_used(), 4u) << "a, b, 10.96.0.5 and the NodePort one; none for headless";
}

TEST_F(ServiceRestTest, FailedWriteGivesBackItsAllocations) {
  {
    auto svc =
        service(R"({"clusterIP":"10.96.0.7","type":"NodePort","ports":[{"port":80,"nodePort":30001}]})");
    auto txn = rest_->before_write(nullptr, svc);
    ASSERT_TRUE(txn);
    EXPECT_TRUE(rest_->ip_allocated(*parse_ip("10.96.0.7")));
    EXPECT_TRUE(rest_->port_allocated(30001));
  }  // not committed: the store write failed
  EXPECT_FALSE(rest_->ip_allocated(*parse_ip("10.96.0.7")));
  EXPECT_FALSE(rest_->port_allocated(30001));
}

TEST_F(ServiceRestTest, TypeChangeReleasesOnCommitOnly) {
  auto lb = create(R"({"type":"LoadBalancer","externalTrafficPolicy":"Local","ports":[{"port":80}]})");
  int np = static_cast<int>(lb["spec"].at("ports").at(0).at("nodePort").as_int64());
  int hc = static_cast<int>(lb["spec"].at("healthCheckNodePort").as_int64());
  EXPECT_TRUE(rest_->port_allocated(np));
  EXPECT_TRUE(rest_->port_allocated(hc));

  json::object to_cluster_ip = lb;
  to_cluster_ip["spec"].as_object()["type"] = "ClusterIP";
  {
    auto txn = rest_->before_write(&lb, to_cluster_ip);
    ASSERT_TRUE(txn) << txn.error().message;
    EXPECT_FALSE(to_cluster_ip["spec"].at("ports").at(0).as_object().contains("nodePort"));
    EXPECT_FALSE(to_cluster_ip["spec"].as_object().contains("externalTrafficPolicy"));
    EXPECT_TRUE(rest_->port_allocated(np)) << "held until the update is stored";
  }
  EXPECT_TRUE(rest_->port_allocated(np)) << "a failed update releases nothing";
  auto txn = rest_->before_write(&lb, to_cluster_ip);
  ASSERT_TRUE(txn);
  (*txn)->commit();
  EXPECT_FALSE(rest_->port_allocated(np));
  EXPECT_FALSE(rest_->port_allocated(hc));
  EXPECT_EQ(spec_str(to_cluster_ip, "clusterIP"), spec_str(lb, "clusterIP")) << "the clusterIP stays";
}

TEST_F(ServiceRestTest, ClusterIPIsImmutableAndKeptWhenLeftOut) {
  auto svc = create(R"({"ports":[{"port":80}]})");
  json::object changed = svc;
  changed["spec"].as_object()["clusterIP"] = "10.96.0.9";
  changed["spec"].as_object()["clusterIPs"] = json::array{"10.96.0.9"};
  auto r = rest_->before_write(&svc, changed);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message,
            "Service \"web\" is invalid: spec.clusterIPs[0]: Invalid value: []string{\"10.96.0.9\"}: "
            "may not change once set");
  auto put = service(R"({"ports":[{"port":81}]})");  // a PUT without the allocated values
  auto ok = rest_->before_write(&svc, put);
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(spec_str(put, "clusterIP"), spec_str(svc, "clusterIP"));
}

TEST_F(ServiceRestTest, DeleteReleasesAndRangeFullIsInternalError) {
  std::vector<json::object> all;
  for (int i = 0; i < 10; ++i) all.push_back(create(R"({"type":"NodePort","ports":[{"port":80}]})"));
  auto extra = service(R"({"type":"NodePort","ports":[{"port":80}]})");
  auto full = rest_->before_write(nullptr, extra);
  ASSERT_FALSE(full);
  EXPECT_EQ(full.error().code, 500);
  EXPECT_EQ(full.error().message, "Internal error occurred: failed to allocate a nodePort: range is full");
  EXPECT_EQ(rest_->ips_used(), 10u) << "the clusterIP the failed create took is back";
  rest_->after_delete(all[3]);
  EXPECT_EQ(rest_->ports_used(), 9u);
  EXPECT_TRUE(create(R"({"type":"NodePort","ports":[{"port":80}]})").contains("spec"));
  EXPECT_EQ(rest_->ports_used(), 10u);
}

TEST(ServiceRestDualStack, FamiliesFromTheClusterRanges) {
  auto single = ServiceRest::create("10.96.0.0/24", "30000-30100", 1);
  ASSERT_TRUE(single);
  auto v6 = service(R"({"clusterIP":"fd00::5","ports":[{"port":80}]})");
  auto r = (*single)->before_write(nullptr, v6);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().causes.at(0).message,
            "Invalid value: []string{\"fd00::5\"}: IPv6 is not configured on this cluster");
  auto require = service(R"({"ipFamilyPolicy":"RequireDualStack","ports":[{"port":80}]})");
  r = (*single)->before_write(nullptr, require);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().causes.at(0).message,
            "Invalid value: \"RequireDualStack\": this cluster is not configured for dual-stack services");

  auto dual = ServiceRest::create("10.96.0.0/24,fd00:10:96::/112", "30000-30100", 1);
  ASSERT_TRUE(dual) << dual.error().message();
  auto both = service(R"({"ipFamilyPolicy":"PreferDualStack","ports":[{"port":80}]})");
  auto txn = (*dual)->before_write(nullptr, both);
  ASSERT_TRUE(txn) << txn.error().message;
  const auto& spec = both["spec"].as_object();
  EXPECT_EQ(json::serialize(spec.at("ipFamilies")), R"(["IPv4","IPv6"])");
  ASSERT_EQ(spec.at("clusterIPs").as_array().size(), 2u);
  EXPECT_TRUE(parse_ip(spec.at("clusterIPs").at(1).as_string())->is_v6());
}

}  // namespace
}  // namespace podnet::apiserver
