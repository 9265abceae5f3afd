// The `default/kubernetes` Service and its EndpointSlice against the `podnet server` binary over
// HTTPS: created at start as kube-apiserver creates them (ClusterIP the first address of the service
// range, https 443 -> the server's port, no selector; endpoints the advertised address), and put back
// after a delete or a change, within a second or two.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <chrono>
#include <functional>
#include <thread>

#include "support/server_process.h"
#include "tls_client.h"

namespace podnet::apiserver::testing {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

const std::string kService = "/api/v1/namespaces/default/services/kubernetes";
const std::string kSlice = "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices/kubernetes";

class KubernetesServiceTest : public ::testing::Test {
 protected:
  void start(std::vector<std::string> args) {
    server_ = std::make_unique<podnet::testing::ServerProcess>(dir_.path(), std::move(args));
    ASSERT_TRUE(server_->start()) << server_->log();
  }
  void TearDown() override {
    if (server_) {
      EXPECT_EQ(server_->stop(), 0) << server_->log();
    }
  }
  TlsClient admin() const {
    return TlsClient(server_->port(), server_->ca(), KeyPair{server_->admin_cert(), server_->admin_key()});
  }

  // Polls `path` until `ok` holds for its JSON (5 s); the last body seen otherwise.
  ::testing::AssertionResult eventually(const std::string& path,
                                        const std::function<bool(const json::value&)>& ok) {
    std::string last;
    for (auto deadline = std::chrono::steady_clock::now() + 5s;
         std::chrono::steady_clock::now() < deadline;) {
      auto r = admin().get(path);
      last = std::to_string(r.status) + " " + r.body;
      if (r.status == 200 && ok(r.json())) return ::testing::AssertionSuccess();
      std::this_thread::sleep_for(20ms);
    }
    return ::testing::AssertionFailure() << path << ": " << last << "\n" << server_->log();
  }

  static bool service_as_kube_makes_it(const json::value& svc, const std::string& cluster_ip, int port) {
    const auto& spec = svc.at("spec").as_object();
    const auto& p = spec.at("ports").at(0).as_object();
    return spec.at("clusterIP") == json::value(cluster_ip) && spec.at("type") == "ClusterIP" &&
           !spec.contains("selector") && spec.at("ports").as_array().size() == 1 && p.at("name") == "https" &&
           p.at("protocol") == "TCP" && p.at("port") == 443 && p.at("targetPort") == port &&
           svc.at("metadata").at("labels") ==
               json::object{{"component", "apiserver"}, {"provider", "kubernetes"}};
  }

  static bool slice_points_at(const json::value& slice, const std::string& address, int port) {
    const auto& s = slice.as_object();
    return s.at("metadata").at("labels").at("kubernetes.io/service-name") == "kubernetes" &&
           s.at("addressType") == "IPv4" &&
           s.at("endpoints") == json::array{json::object{{"addresses", json::array{json::value(address)}},
                                                         {"conditions", {{"ready", true}}}}} &&
           s.at("ports") == json::array{json::object{{"name", "https"}, {"protocol", "TCP"}, {"port", port}}};
  }

  podnet::testing::TempDir dir_{"pn-kubernetes-svc"};
  std::unique_ptr<podnet::testing::ServerProcess> server_;
};

TEST_F(KubernetesServiceTest, CreatedAtStartAndRepaired) {
  start({"--service-cidr", "10.100.0.0/16", "--advertise-address", "192.0.2.10"});
  const int port = server_->port();
  auto service_ok = [&](const json::value& s) { return service_as_kube_makes_it(s, "10.100.0.1", port); };
  auto slice_ok = [&](const json::value& s) { return slice_points_at(s, "192.0.2.10", port); };
  ASSERT_TRUE(eventually(kService, service_ok));
  ASSERT_TRUE(eventually(kSlice, slice_ok));

  // Deleted: back, with the same address.
  ASSERT_EQ(admin().del(kService).status, 200);
  EXPECT_TRUE(eventually(kService, service_ok));
  ASSERT_EQ(admin().del(kSlice).status, 200);
  EXPECT_TRUE(eventually(kSlice, slice_ok));

  // Changed: ports, a selector and the endpoints are put back.
  auto patched = admin().request(http::verb::patch, kService,
                                 R"({"spec":{"selector":{"app":"x"},"ports":[{"name":"web","port":80}]}})",
                                 "application/merge-patch+json");
  ASSERT_EQ(patched.status, 200) << patched.body;
  EXPECT_TRUE(eventually(kService, service_ok));
  patched = admin().request(http::verb::patch, kSlice, R"({"endpoints":[{"addresses":["192.0.2.99"]}]})",
                            "application/merge-patch+json");
  ASSERT_EQ(patched.status, 200) << patched.body;
  EXPECT_TRUE(eventually(kSlice, slice_ok));
  // Relabelled away from the Service, with other ports: put back.
  patched = admin().request(
      http::verb::patch, kSlice,
      R"({"metadata":{"labels":{"kubernetes.io/service-name":"other"}},"ports":[{"name":"https","port":1}]})",
      "application/merge-patch+json");
  ASSERT_EQ(patched.status, 200) << patched.body;
  EXPECT_TRUE(eventually(kSlice, slice_ok));

  // A restart on the same data keeps the one Service and its address.
  ASSERT_EQ(server_->stop(), 0);
  ASSERT_TRUE(server_->start()) << server_->log();
  const int port2 = server_->port();
  EXPECT_TRUE(eventually(
      kService, [&](const json::value& s) { return service_as_kube_makes_it(s, "10.100.0.1", port2); }));
  EXPECT_TRUE(
      eventually(kSlice, [&](const json::value& s) { return slice_points_at(s, "192.0.2.10", port2); }));
}

TEST_F(KubernetesServiceTest, AdvertisesTheBindAddressByDefault) {
  start({});
  const int port = server_->port();
  EXPECT_TRUE(eventually(
      kService, [&](const json::value& s) { return service_as_kube_makes_it(s, "10.96.0.1", port); }));
  EXPECT_TRUE(
      eventually(kSlice, [&](const json::value& s) { return slice_points_at(s, "127.0.0.1", port); }));
}

TEST(KubernetesServiceFlags, BadAdvertiseAddressIsRefused) {
  podnet::testing::TempDir dir("pn-kubernetes-svc");
  pid_t pid =
      podnet::testing::spawn_logged({podnet::testing::podnet_bin(), "server", "--data-dir",
                                     dir.path() + "/data", "--port", "0", "--advertise-address", "0.0.0.0"},
                                    dir.path() + "/server.log");
  EXPECT_EQ(podnet::testing::wait_exit_code(pid), 2);
  EXPECT_NE(read_file(dir.path() + "/server.log").value_or("").find("--advertise-address 0.0.0.0"),
            std::string::npos);
}

}  // namespace
}  // namespace podnet::apiserver::testing
