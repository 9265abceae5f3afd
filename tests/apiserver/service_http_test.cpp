// Service allocation over HTTPS against an in-process server: distinct clusterIPs, kube's Status for
// conflicts, release on delete, type change and namespace deletion, and rebuild after a restart.
#include <boost/json.hpp>
#include <set>

#include "api_fixture.h"
#include "common/ip.h"

namespace podnet::apiserver::testing {
namespace {
namespace json = boost::json;

constexpr const char* kServices = "/api/v1/namespaces/default/services";

json::value svc(const std::string& name, const std::string& spec) {
  return json::object{
      {"apiVersion", "v1"}, {"kind", "Service"}, {"metadata", {{"name", name}}}, {"spec", json::parse(spec)}};
}

class ServiceHttpTest : public ApiServerTest {
 protected:
  HttpResult merge_patch(const std::string& target, const std::string& patch) {
    return admin().request(http::verb::patch, target, patch, "application/merge-patch+json");
  }
};

TEST_F(ServiceHttpTest, ServicesGetDistinctClusterIPsFromTheRange) {
  std::set<std::string> ips;
  for (int i = 0; i < 20; ++i) {
    auto created = create(kServices, svc("s" + std::to_string(i), R"({"ports":[{"port":80}]})"));
    std::string ip = str(created, {"spec", "clusterIP"});
    EXPECT_TRUE(parse_prefix("10.96.0.0/12")->contains(*parse_ip(ip))) << ip;
    EXPECT_TRUE(ips.insert(ip).second) << "handed out twice: " << ip;
    EXPECT_EQ(str(created, {"spec", "clusterIPs"}), "[\"" + ip + "\"]");
  }
}

TEST_F(ServiceHttpTest, RequestedIPConflictIsInvalidWithKubesStatus) {
  create(kServices, svc("a", R"({"clusterIP":"10.96.0.5","ports":[{"port":80}]})"));
  auto r = admin().post(kServices, svc("b", R"({"clusterIP":"10.96.0.5","ports":[{"port":80}]})"));
  EXPECT_EQ(r.status, 422) << r.body;
  auto status = r.json();
  EXPECT_EQ(str(status, {"reason"}), "Invalid");
  EXPECT_EQ(
      str(status, {"message"}),
      "Service \"b\" is invalid: spec.clusterIPs: Invalid value: []string{\"10.96.0.5\"}: failed to allocate "
      "IP 10.96.0.5: provided IP is already allocated");
  EXPECT_EQ(str(status.at("details").at("causes").at(0), {"field"}), "spec.clusterIPs");
  EXPECT_EQ(admin().get(std::string(kServices) + "/b").status, 404) << "nothing stored";

  r = admin().post(kServices, svc("c", R"({"clusterIP":"192.168.1.1","ports":[{"port":80}]})"));
  EXPECT_EQ(r.status, 422);
  EXPECT_EQ(
      str(r.json(), {"message"}),
      "Service \"c\" is invalid: spec.clusterIPs: Invalid value: []string{\"192.168.1.1\"}: failed to "
      "allocate IP 192.168.1.1: the provided IP (192.168.1.1) is not in the valid range. The range of valid "
      "IPs is 10.96.0.0/12");
}

TEST_F(ServiceHttpTest, DeleteReleasesTheIP) {
  create(kServices, svc("a", R"({"clusterIP":"10.96.0.5","ports":[{"port":80}]})"));
  ASSERT_EQ(admin().del(std::string(kServices) + "/a").status, 200);
  auto again = create(kServices, svc("b", R"({"clusterIP":"10.96.0.5","ports":[{"port":80}]})"));
  EXPECT_EQ(str(again, {"spec", "clusterIP"}), "10.96.0.5");
}

TEST_F(ServiceHttpTest, NodePortMessagesAndReleaseOnTypeChange) {
  auto r = admin().post(kServices, svc("low", R"({"type":"NodePort","ports":[{"port":80,"nodePort":80}]})"));
  EXPECT_EQ(r.status, 422);
  EXPECT_EQ(
      str(r.json(), {"message"}),
      "Service \"low\" is invalid: spec.ports[0].nodePort: Invalid value: 80: provided port is not in the "
      "valid range. The range of valid ports is 30000-32767");
  auto a = create(kServices, svc("a", R"({"type":"NodePort","ports":[{"port":80,"nodePort":30080}]})"));
  EXPECT_EQ(str(a, {"spec", "externalTrafficPolicy"}), "Cluster");
  r = admin().post(kServices, svc("b", R"({"type":"NodePort","ports":[{"port":80,"nodePort":30080}]})"));
  EXPECT_EQ(r.status, 422);
  EXPECT_EQ(
      str(r.json(), {"message"}),
      "Service \"b\" is invalid: spec.ports[0].nodePort: Invalid value: 30080: provided port is already "
      "allocated");

  // NodePort -> ClusterIP: the node port goes away and is free again.
  auto patched = merge_patch(std::string(kServices) + "/a", R"({"spec":{"type":"ClusterIP"}})");
  ASSERT_EQ(patched.status, 200) << patched.body;
  EXPECT_EQ(str(patched.json(), {"spec", "ports"}).find("nodePort"), std::string::npos) << patched.body;
  EXPECT_EQ(str(patched.json(), {"spec", "clusterIP"}), str(a, {"spec", "clusterIP"}));
  create(kServices, svc("b", R"({"type":"NodePort","ports":[{"port":80,"nodePort":30080}]})"));
}

TEST_F(ServiceHttpTest, HealthCheckNodePortForLocalLoadBalancers) {
  auto lb =
      create(kServices,
             svc("lb", R"({"type":"LoadBalancer","externalTrafficPolicy":"Local","ports":[{"port":80}]})"));
  std::string hc = str(lb, {"spec", "healthCheckNodePort"});
  ASSERT_FALSE(hc.empty()) << json::serialize(lb);
  int port = std::stoi(hc);
  EXPECT_TRUE(port >= 30000 && port <= 32767);
  auto r = admin().post(
      kServices, svc("x", "{\"type\":\"NodePort\",\"ports\":[{\"port\":80,\"nodePort\":" + hc + "}]}"));
  EXPECT_EQ(r.status, 422) << "the health check port is taken";
  auto patched =
      merge_patch(std::string(kServices) + "/lb", R"({"spec":{"externalTrafficPolicy":"Cluster"}})");
  ASSERT_EQ(patched.status, 200) << patched.body;
  EXPECT_EQ(str(patched.json(), {"spec", "healthCheckNodePort"}), "");
  create(kServices, svc("x", "{\"type\":\"NodePort\",\"ports\":[{\"port\":80,\"nodePort\":" + hc + "}]}"));
}

TEST_F(ServiceHttpTest, HeadlessAndExternalNameGetNoIP) {
  auto headless = create(kServices, svc("h", R"({"clusterIP":"None","selector":{"app":"x"}})"));
  EXPECT_EQ(str(headless, {"spec", "clusterIPs"}), R"(["None"])");
  auto ext = create(kServices, svc("e", R"({"type":"ExternalName","externalName":"db.example.com"})"));
  EXPECT_EQ(str(ext, {"spec", "clusterIP"}), "");
  auto lb_headless = admin().post(
      kServices, svc("bad", R"({"type":"LoadBalancer","clusterIP":"None","ports":[{"port":80}]})"));
  EXPECT_EQ(lb_headless.status, 422);
  EXPECT_NE(lb_headless.body.find("may not be set to 'None' for LoadBalancer services"), std::string::npos);
}

TEST_F(ServiceHttpTest, NamespaceDeletionReleasesItsServices) {
  create("/api/v1/namespaces", json::object{{"metadata", {{"name", "shop"}}}});
  create("/api/v1/namespaces/shop/services",
         svc("web", R"({"clusterIP":"10.96.1.1","type":"NodePort","ports":[{"port":80,"nodePort":31000}]})"));
  ASSERT_EQ(admin().del("/api/v1/namespaces/shop").status, 200);
  create(kServices,
         svc("web", R"({"clusterIP":"10.96.1.1","type":"NodePort","ports":[{"port":80,"nodePort":31000}]})"));
}

TEST_F(ServiceHttpTest, InvalidServiceListsEveryCause) {
  auto r = admin().post(kServices, svc("bad", R"({"ports":[{"port":80},{"port":80}]})"));
  EXPECT_EQ(r.status, 422);
  auto causes = r.json().at("details").at("causes").as_array();
  ASSERT_EQ(causes.size(), 3u) << r.body;
  EXPECT_EQ(str(causes[0], {"field"}), "spec.ports[0].name");
  EXPECT_EQ(str(causes[1], {"field"}), "spec.ports[1].name");
  EXPECT_EQ(str(causes[2], {"field"}), "spec.ports[1]");
  EXPECT_EQ(str(causes[2], {"reason"}), "FieldValueDuplicate");
}

TEST_F(ServiceHttpTest, AllocationsSurviveARestart) {
  auto a = create(kServices, svc("a", R"({"type":"NodePort","ports":[{"port":80,"nodePort":30500}]})"));
  std::string ip = str(a, {"spec", "clusterIP"});
  server_.reset();
  ApiServerOptions options;
  options.data_dir = dir_.path() + "/data";
  options.port = 0;
  auto server = ApiServer::start(options);
  ASSERT_TRUE(server) << server.error().message();
  server_ = std::move(*server);
  auto r = admin().post(kServices, svc("b", "{\"clusterIP\":\"" + ip + "\",\"ports\":[{\"port\":80}]}"));
  EXPECT_EQ(r.status, 422) << "rebuilt from storage: " << r.body;
  r = admin().post(kServices, svc("c", R"({"type":"NodePort","ports":[{"port":80,"nodePort":30500}]})"));
  EXPECT_EQ(r.status, 422) << r.body;
}

TEST_F(ServiceHttpTest, PodValidation) {
  auto r = admin().post("/api/v1/namespaces/default/pods",
                        json::parse(R"({"metadata":{"name":"p"},"spec":{"containers":[]}})"));
  EXPECT_EQ(r.status, 422);
  EXPECT_EQ(str(r.json(), {"message"}), "Pod \"p\" is invalid: spec.containers: Required value");
  create("/api/v1/namespaces/default/pods", pod("ok"));
}

}  // namespace
}  // namespace podnet::apiserver::testing
