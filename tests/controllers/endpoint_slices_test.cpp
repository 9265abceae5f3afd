#include "controllers/endpoint_slices.h"

#include <map>
#include <set>

#include "controller_fixture.h"

namespace podnet::controllers::testing {
namespace {

class EndpointSliceTest : public ControllerTest {
 protected:
  void start() {
    run(std::make_unique<EndpointSliceController>(*service_cache_, *pod_cache_, *slice_cache_,
                                                  [this] { return now(); }));
  }

  static json::object service(const std::string& name, json::value target_port = 8080, bool selector = true) {
    json::object spec{{"ports", json::array{{{"name", "http"}, {"port", 80}, {"targetPort", target_port}}}}};
    if (selector) spec["selector"] = {{"app", name}};
    return json::object{{"metadata", {{"name", name}}}, {"spec", std::move(spec)}};
  }

  // A pod as the agent leaves it once started: bound, with IPs and a Ready condition.
  static json::object running_pod(const std::string& name, const std::string& app, json::array ips,
                                  bool ready, json::array container_ports = {}) {
    json::object p = pod(name, {{"app", app}}, std::move(container_ports));
    p["spec"].as_object()["nodeName"] = "n1";
    json::array pod_ips;
    for (const auto& ip : ips) pod_ips.push_back(json::object{{"ip", ip}});
    p["status"] = {{"phase", "Running"},
                   {"podIP", ips.empty() ? json::value("") : ips[0]},
                   {"podIPs", std::move(pod_ips)},
                   {"conditions", json::array{{{"type", "Ready"}, {"status", ready ? "True" : "False"}}}}};
    return p;
  }

  // The endpoints of a service's slices by address (each address must appear once).
  std::map<std::string, json::value> endpoints_of(const std::string& svc) {
    std::map<std::string, json::value> out;
    for (const auto& s : slices_of(svc))
      for (const auto& e : s.at("endpoints").as_array()) {
        std::string addr(e.at("addresses").at(0).as_string());
        EXPECT_FALSE(out.contains(addr)) << addr << " in two slices";
        out[addr] = e;
      }
    return out;
  }

  static std::string conditions(const json::value& endpoint) {
    const auto& c = endpoint.at("conditions");
    auto b = [&](const char* k) { return std::string(c.at(k).as_bool() ? "1" : "0"); };
    return "ready=" + b("ready") + " serving=" + b("serving") + " terminating=" + b("terminating");
  }
};

TEST_F(EndpointSliceTest, SlicesFollowPodsBecomingReadyTerminatingAndDeleted) {
  start();
  auto svc = must(services_->create("default", service("web")));
  must(pods_->create("default", pod("web-1", {{"app", "web"}})));
  must(pods_->create("default", pod("other", {{"app", "db"}})));

  // No pod with an IP yet: one empty slice, as kube keeps for a service without endpoints.
  ASSERT_TRUE(eventually([&] { return slices_of("web").size() == 1; }));
  auto placeholder = slices_of("web")[0];
  EXPECT_TRUE(placeholder.at("endpoints").as_array().empty());

  set_pod_status("web-1", "10.244.0.5", false);
  ASSERT_TRUE(eventually([&] { return endpoints_of("web").size() == 1; }));
  EXPECT_EQ(conditions(endpoints_of("web")["10.244.0.5"]), "ready=0 serving=0 terminating=0");

  set_pod_status("web-1", "10.244.0.5", true);
  ASSERT_TRUE(eventually([&] {
    auto e = endpoints_of("web");
    return e.size() == 1 && conditions(e["10.244.0.5"]) == "ready=1 serving=1 terminating=0";
  }));

  auto slices = slices_of("web");
  ASSERT_EQ(slices.size(), 1u);
  const auto& slice = slices[0];
  EXPECT_TRUE(name_of(slice).starts_with("web-")) << name_of(slice);
  EXPECT_EQ(name_of(slice).size(), 9u);  // generateName "web-" plus 5 characters
  EXPECT_EQ(string_at(slice, {"metadata", "labels", "endpointslice.kubernetes.io/managed-by"}),
            "endpointslice-controller.k8s.io");
  EXPECT_EQ(string_at(slice, {"addressType"}), "IPv4");
  const auto& owner = slice.at("metadata").at("ownerReferences").at(0);
  EXPECT_EQ(owner.at("kind").as_string(), "Service");
  EXPECT_EQ(owner.at("name").as_string(), "web");
  EXPECT_EQ(owner.at("uid"), svc.at("metadata").at("uid"));
  EXPECT_EQ(owner.at("controller").as_bool(), true);
  EXPECT_EQ(json::serialize(slice.at("ports")), R"([{"name":"http","protocol":"TCP","port":8080}])");
  const auto& ep = slice.at("endpoints").at(0);
  EXPECT_EQ(ep.at("nodeName").as_string(), "n1");
  EXPECT_EQ(ep.at("targetRef").at("kind").as_string(), "Pod");
  EXPECT_EQ(ep.at("targetRef").at("name").as_string(), "web-1");
  EXPECT_EQ(ep.at("targetRef").at("namespace").as_string(), "default");

  mark_terminating("web-1");
  ASSERT_TRUE(eventually([&] {
    auto e = endpoints_of("web");
    return e.size() == 1 && conditions(e["10.244.0.5"]) == "ready=0 serving=1 terminating=1";
  }));
  // The slice was updated in place, not replaced.
  EXPECT_EQ(name_of(slices_of("web").at(0)), name_of(slice));

  must(pods_->remove("default", "web-1"));
  // Back to one empty slice (its replacement is created before the old one goes).
  ASSERT_TRUE(eventually([&] { return endpoints_of("web").empty() && slices_of("web").size() == 1; }));

  must(services_->remove("default", "web"));
  ASSERT_TRUE(eventually([&] { return slices_of("web").empty(); }));
}

// kube's podToEndpoint: publishNotReadyAddresses makes every endpoint ready, while serving still
// says what the pod's readiness says (kube-proxy's fallback to terminating endpoints reads it).
TEST_F(EndpointSliceTest, PublishNotReadyAddressesSetsReadyButNotServing) {
  start();
  auto svc = service("web");
  svc["spec"].as_object()["publishNotReadyAddresses"] = true;
  must(services_->create("default", svc));
  must(pods_->create("default", running_pod("idle", "web", {"10.244.0.5"}, false)));
  must(pods_->create("default", running_pod("up", "web", {"10.244.0.6"}, true)));
  ASSERT_TRUE(eventually([&] { return endpoints_of("web").size() == 2; }));
  EXPECT_EQ(conditions(endpoints_of("web")["10.244.0.5"]), "ready=1 serving=0 terminating=0");
  EXPECT_EQ(conditions(endpoints_of("web")["10.244.0.6"]), "ready=1 serving=1 terminating=0");
  mark_terminating("up");
  ASSERT_TRUE(eventually(
      [&] { return conditions(endpoints_of("web")["10.244.0.6"]) == "ready=1 serving=1 terminating=1"; }));
  EXPECT_EQ(conditions(endpoints_of("web")["10.244.0.5"]), "ready=1 serving=0 terminating=0");
}

TEST_F(EndpointSliceTest, NamedTargetPortsResolvePerPod) {
  start();
  must(services_->create("default", service("web", "web")));
  must(pods_->create("default", running_pod("a", "web", {"10.244.0.2"}, true,
                                            {{{"name", "web"}, {"containerPort", 8080}}})));
  must(pods_->create("default", running_pod("b", "web", {"10.244.0.3"}, true,
                                            {{{"name", "web"}, {"containerPort", 9090}}})));
  must(pods_->create("default", running_pod("b2", "web", {"10.244.0.4"}, true,
                                            {{{"name", "web"}, {"containerPort", 9090}}})));
  must(pods_->create("default", running_pod("c", "web", {"10.244.0.5"}, true,
                                            {{{"name", "metrics"}, {"containerPort", 7000}}})));
  ASSERT_TRUE(eventually([&] { return endpoints_of("web").size() == 4; }));
  std::map<std::string, std::set<std::string>> by_ports;
  for (const auto& s : slices_of("web")) {
    std::set<std::string> addrs;
    for (const auto& e : s.at("endpoints").as_array())
      addrs.insert(std::string(e.at("addresses").at(0).as_string()));
    by_ports[json::serialize(s.at("ports"))] = addrs;
  }
  EXPECT_EQ(by_ports.size(), 3u);
  EXPECT_EQ(by_ports[R"([{"name":"http","protocol":"TCP","port":8080}])"],
            std::set<std::string>{"10.244.0.2"});
  EXPECT_EQ(by_ports[R"([{"name":"http","protocol":"TCP","port":9090}])"],
            (std::set<std::string>{"10.244.0.3", "10.244.0.4"}));
  EXPECT_EQ(by_ports["[]"], std::set<std::string>{"10.244.0.5"});  // no port named "web"
}

TEST_F(EndpointSliceTest, AtMostAHundredEndpointsPerSliceAndUnchangedSlicesAreNotRewritten) {
  for (int i = 0; i < 250; ++i) {
    std::string ip = "10.244." + std::to_string(i / 200) + "." + std::to_string(i % 200 + 2);
    must(pods_->create("default", running_pod("p" + std::to_string(i), "big", {json::value(ip)}, true)));
  }
  must(services_->create("default", service("big")));
  start();
  ASSERT_TRUE(eventually([&] { return endpoints_of("big").size() == 250; }));
  auto slices = slices_of("big");
  std::multiset<size_t> sizes;
  std::map<std::string, std::string> versions;  // slice -> resourceVersion
  std::string holder;                           // the slice holding p0's address
  for (const auto& s : slices) {
    sizes.insert(s.at("endpoints").as_array().size());
    versions[name_of(s)] = string_at(s, {"metadata", "resourceVersion"});
    for (const auto& e : s.at("endpoints").as_array())
      if (e.at("addresses").at(0).as_string() == "10.244.0.2") holder = name_of(s);
  }
  EXPECT_EQ(sizes, (std::multiset<size_t>{50, 100, 100}));

  // One pod turns unready: only its slice is written.
  auto p0 = must(pods_->get("default", "p0"));
  p0.as_object()["status"].as_object()["conditions"] = json::array{{{"type", "Ready"}, {"status", "False"}}};
  must(pods_->update_status("default", "p0", p0));
  ASSERT_TRUE(
      eventually([&] { return conditions(endpoints_of("big")["10.244.0.2"]).starts_with("ready=0"); }));
  std::this_thread::sleep_for(200ms);  // time for any further (wrong) writes
  for (const auto& s : slices_of("big")) {
    if (name_of(s) == holder)
      EXPECT_NE(string_at(s, {"metadata", "resourceVersion"}), versions[name_of(s)]);
    else
      EXPECT_EQ(string_at(s, {"metadata", "resourceVersion"}), versions[name_of(s)]) << name_of(s);
  }
}

TEST_F(EndpointSliceTest, AddressTypePerPodIpFamily) {
  start();
  json::object dual = service("dual");
  dual["spec"].as_object()["ipFamilyPolicy"] = "PreferDualStack";  // a Service of both families
  must(services_->create("default", dual));
  must(pods_->create("default", running_pod("d", "dual", {"10.244.0.9", "fd00:10:244::9"}, true)));
  ASSERT_TRUE(eventually([&] { return slices_of("dual").size() == 2 && endpoints_of("dual").size() == 2; }));
  std::set<std::string> types;
  for (const auto& s : slices_of("dual")) {
    types.insert(string_at(s, {"addressType"}));
    std::string addr(s.at("endpoints").at(0).at("addresses").at(0).as_string());
    EXPECT_EQ(string_at(s, {"addressType"}), addr.find(':') == std::string::npos ? "IPv4" : "IPv6");
  }
  EXPECT_EQ(types, (std::set<std::string>{"IPv4", "IPv6"}));
}

TEST_F(EndpointSliceTest, ServicesWithoutSelectorAreLeftAlone) {
  must(services_->create("default", service("manual", 80, false)));
  json::object own{
      {"metadata", {{"name", "manual-1"}, {"labels", {{"kubernetes.io/service-name", "manual"}}}}},
      {"addressType", "IPv4"},
      {"endpoints", json::array{{{"addresses", json::array{"192.0.2.1"}}}}},
      {"ports", json::array{{{"port", 80}}}}};
  must(slices_->create("default", own));
  must(pods_->create("default", running_pod("m", "manual", {"10.244.0.7"}, true)));
  start();
  must(services_->create("default", service("web")));  // a service the controller does handle
  ASSERT_TRUE(eventually([&] { return slices_of("web").size() == 1; }));
  auto manual = slices_of("manual");
  ASSERT_EQ(manual.size(), 1u);
  EXPECT_EQ(name_of(manual[0]), "manual-1");
  EXPECT_EQ(string_at(manual[0], {"metadata", "resourceVersion"}),
            string_at(must(slices_->get("default", "manual-1")), {"metadata", "resourceVersion"}));
  EXPECT_EQ(manual[0].at("endpoints").at(0).at("addresses").at(0).as_string(), "192.0.2.1");
}

TEST_F(EndpointSliceTest, SlicesOfAServiceDeletedWhileStoppedGoOnStart) {
  start();
  must(services_->create("default", service("gone")));
  must(pods_->create("default", running_pod("g", "gone", {"10.244.0.8"}, true)));
  ASSERT_TRUE(eventually([&] { return endpoints_of("gone").size() == 1; }));
  restart_store();
  must(services_->remove("default", "gone"));
  ASSERT_EQ(slices_of("gone").size(), 1u);
  start();
  ASSERT_TRUE(eventually([&] { return slices_of("gone").empty(); }));
}

TEST_F(EndpointSliceTest, ConflictsAreRetriedWithoutDuplicateSlices) {
  ConflictingClient flaky(*api_);
  slice_cache_ = std::make_unique<Cache>(flaky, kSlicesPath);
  start();
  must(services_->create("default", service("web")));
  ASSERT_TRUE(eventually([&] { return slices_of("web").size() == 1; }));
  flaky.conflicts = 2;
  must(pods_->create("default", running_pod("w", "web", {"10.244.0.6"}, true)));
  ASSERT_TRUE(eventually([&] { return endpoints_of("web").size() == 1; }));
  EXPECT_EQ(flaky.writes_refused, 2);
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(slices_of("web").size(), 1u);
}

TEST_F(EndpointSliceTest, ASliceDeletedByHandIsPutBack) {
  start();
  must(services_->create("default", service("web")));
  must(pods_->create("default", running_pod("w", "web", {"10.244.0.6"}, true)));
  ASSERT_TRUE(eventually([&] { return endpoints_of("web").size() == 1; }));
  must(slices_->remove("default", name_of(slices_of("web").at(0))));
  ASSERT_TRUE(eventually([&] { return endpoints_of("web").size() == 1; }));
}

}  // namespace
}  // namespace podnet::controllers::testing
