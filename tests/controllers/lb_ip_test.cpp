#include "controllers/lb_ip.h"

#include "controller_fixture.h"

namespace podnet::controllers::testing {
namespace {

class LoadBalancerIpTest : public ControllerTest {
 protected:
  void start(const std::string& pool = "192.168.213.240/29") {
    auto c = LoadBalancerIpController::make(*service_cache_, *recorder_, pool, [this] { return now(); });
    ASSERT_TRUE(c) << c.error().message();
    run(std::move(*c));
  }
  static json::object service(const std::string& name, const std::string& type = "LoadBalancer",
                              const std::string& requested = "") {
    json::object spec{{"type", type}, {"selector", {{"app", name}}}, {"ports", json::array{{{"port", 80}}}}};
    if (!requested.empty()) spec["loadBalancerIP"] = requested;
    return json::object{{"metadata", {{"name", name}}}, {"spec", std::move(spec)}};
  }
  std::string ip_of(const std::string& svc) {
    auto s = services_->get("default", svc);
    if (!s) return "<gone>";
    const auto* lb = object_at(*s, {"status", "loadBalancer"});
    const auto* ingress = lb ? lb->if_contains("ingress") : nullptr;
    if (!ingress || !ingress->is_array() || ingress->as_array().empty()) return "";
    return string_at(ingress->as_array()[0], {"ip"});
  }
  bool warned(const std::string& svc, const std::string& reason) {
    auto events = events_->list();
    if (!events) return false;
    for (const auto& e : events->items)
      if (string_at(*e, {"reason"}) == reason && string_at(*e, {"involvedObject", "name"}) == svc)
        return true;
    return false;
  }
};

TEST_F(LoadBalancerIpTest, AddressesAreAssignedAndReleased) {
  start();
  must(services_->create("default", service("a")));
  ASSERT_TRUE(eventually([&] { return ip_of("a") == "192.168.213.241"; }));  // .240 is the network
  must(services_->create("default", service("b")));
  ASSERT_TRUE(eventually([&] { return ip_of("b") == "192.168.213.242"; }));
  must(services_->create("default", service("c", "LoadBalancer", "192.168.213.245")));
  ASSERT_TRUE(eventually([&] { return ip_of("c") == "192.168.213.245"; }));
  must(services_->create("default", service("d", "ClusterIP")));

  // b stops being a LoadBalancer: its status is cleared and its address is free again.
  auto b = must(services_->get("default", "b"));
  b.as_object()["spec"].as_object()["type"] = "ClusterIP";
  must(services_->update("default", "b", b));
  ASSERT_TRUE(eventually([&] { return ip_of("b").empty(); }));
  must(services_->remove("default", "a"));
  must(services_->create("default", service("e")));
  ASSERT_TRUE(eventually([&] { return ip_of("e") == "192.168.213.241"; }));
  must(services_->create("default", service("f")));
  ASSERT_TRUE(eventually([&] { return ip_of("f") == "192.168.213.242"; }));
  EXPECT_EQ(ip_of("d"), "");
  auto f = must(services_->get("default", "f"));
  EXPECT_EQ(json::serialize(f.at("status").at("loadBalancer")),
            R"({"ingress":[{"ip":"192.168.213.242","ipMode":"VIP"}]})");
}

TEST_F(LoadBalancerIpTest, ExhaustedPoolIsAnEventUntilAnAddressIsFree) {
  start("10.0.0.0/30");  // .1 and .2
  must(services_->create("default", service("a")));
  must(services_->create("default", service("b")));
  ASSERT_TRUE(eventually([&] { return !ip_of("a").empty() && !ip_of("b").empty(); }));
  must(services_->create("default", service("c")));
  ASSERT_TRUE(eventually([&] { return warned("c", "AllocationFailed"); }));
  EXPECT_EQ(ip_of("c"), "");
  std::string freed = ip_of("a");
  must(services_->remove("default", "a"));
  ASSERT_TRUE(eventually([&] { return ip_of("c") == freed; }));
}

TEST_F(LoadBalancerIpTest, RequestedAddressOutsideThePoolOrTakenIsRefused) {
  start();
  must(services_->create("default", service("a", "LoadBalancer", "10.1.2.3")));
  ASSERT_TRUE(eventually([&] { return warned("a", "AllocationFailed"); }));
  must(services_->create("default", service("b")));
  ASSERT_TRUE(eventually([&] { return ip_of("b") == "192.168.213.241"; }));
  must(services_->create("default", service("c", "LoadBalancer", "192.168.213.241")));
  ASSERT_TRUE(eventually([&] { return warned("c", "AllocationFailed"); }));
  EXPECT_EQ(ip_of("a"), "");
  EXPECT_EQ(ip_of("c"), "");
}

TEST_F(LoadBalancerIpTest, AddressesAreRebuiltFromServicesAfterARestart) {
  start();
  must(services_->create("default", service("a")));
  ASSERT_TRUE(eventually([&] { return ip_of("a") == "192.168.213.241"; }));
  must(services_->create("default", service("b")));
  ASSERT_TRUE(eventually([&] { return ip_of("b") == "192.168.213.242"; }));
  restart_store();
  must(services_->remove("default", "a"));
  start();
  must(services_->create("default", service("c")));
  ASSERT_TRUE(eventually([&] { return ip_of("c") == "192.168.213.241"; }));
  must(services_->create("default", service("d")));
  ASSERT_TRUE(eventually([&] { return ip_of("d") == "192.168.213.243"; }));
  EXPECT_EQ(ip_of("b"), "192.168.213.242");
}

}  // namespace
}  // namespace podnet::controllers::testing
