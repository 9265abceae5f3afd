// KubernetesServiceController in-process: default/kubernetes and its EndpointSlice are made as
// kube-apiserver makes them and put back after a delete or a change (the HTTPS end to end test
// with the server binary is tests/apiserver/kubernetes_service_e2e_test.cpp).
#include "controllers/kubernetes_service.h"

#include "controller_fixture.h"

namespace podnet::controllers::testing {
namespace {

TEST(KubernetesService, FirstServiceIpIsTheRangesFirstAddress) {
  EXPECT_EQ(first_service_ip("10.96.0.0/12").value_or("?"), "10.96.0.1");
  EXPECT_EQ(first_service_ip("10.100.5.7/16").value_or("?"), "10.100.0.1");
  EXPECT_EQ(first_service_ip("fd00:10:96::/108,10.96.0.0/12").value_or("?"), "fd00:10:96::1");
  EXPECT_FALSE(first_service_ip("10.0.0.7/32"));
  EXPECT_FALSE(first_service_ip("nope"));
}

TEST(KubernetesService, SliceAddressTypeFollowsTheAdvertisedAddress) {
  KubernetesServiceConfig v6{"fd00::1", 6443, {"fd00:1::5"}};
  EXPECT_EQ(desired_kubernetes_slice(v6).at("addressType"), "IPv6");
  KubernetesServiceConfig none{"10.96.0.1", 6443, {}};
  EXPECT_EQ(desired_kubernetes_slice(none).at("addressType"), "IPv4");
  EXPECT_TRUE(desired_kubernetes_slice(none).at("endpoints").as_array().empty());
}

class KubernetesServiceControllerTest : public ControllerTest {
 protected:
  void start() {
    run(std::make_unique<KubernetesServiceController>(
        *service_cache_, *slice_cache_, KubernetesServiceConfig{"10.96.0.1", 6443, {"192.0.2.1"}},
        [this] { return now(); }));
  }
  bool service_ok() {
    auto s = services_->get("default", "kubernetes");
    return s && string_at(*s, {"spec", "clusterIP"}) == "10.96.0.1" &&
           s->at("spec").at("ports") ==
               desired_kubernetes_service({"10.96.0.1", 6443, {}}).at("spec").at("ports") &&
           !object_at(*s, {"spec", "selector"});
  }
  bool slice_ok() {
    auto s = slices_->get("default", "kubernetes");
    return s && string_at(*s, {"metadata", "labels", "kubernetes.io/service-name"}) == "kubernetes" &&
           s->at("endpoints").at(0).at("addresses").at(0) == "192.0.2.1" &&
           s->at("ports").at(0).at("port") == 6443;
  }
};

TEST_F(KubernetesServiceControllerTest, CreatesAndRepairs) {
  start();
  ASSERT_TRUE(eventually([&] { return service_ok() && slice_ok(); }));
  must(services_->remove("default", "kubernetes"));
  EXPECT_TRUE(eventually([&] { return service_ok(); }));
  must(slices_->remove("default", "kubernetes"));
  EXPECT_TRUE(eventually([&] { return slice_ok(); }));

  auto svc = must(services_->get("default", "kubernetes"));
  svc.as_object()["spec"].as_object()["selector"] = json::object{{"app", "x"}};
  must(services_->update("default", "kubernetes", svc));
  EXPECT_TRUE(eventually([&] { return service_ok(); }));
  auto slice = must(slices_->get("default", "kubernetes"));
  slice.as_object()["endpoints"] = json::array{json::object{{"addresses", json::array{"192.0.2.99"}}}};
  must(slices_->update("default", "kubernetes", slice));
  EXPECT_TRUE(eventually([&] { return slice_ok(); }));
}

TEST_F(KubernetesServiceControllerTest, KeepsWhatIsAlreadyRight) {
  start();
  ASSERT_TRUE(eventually([&] { return service_ok() && slice_ok(); }));
  auto before = must(slices_->get("default", "kubernetes"));
  restart_store();
  start();
  std::this_thread::sleep_for(200ms);
  auto after = must(slices_->get("default", "kubernetes"));
  EXPECT_EQ(after.at("metadata").at("resourceVersion"), before.at("metadata").at("resourceVersion"))
      << "an unchanged slice is not written";
}

}  // namespace
}  // namespace podnet::controllers::testing
