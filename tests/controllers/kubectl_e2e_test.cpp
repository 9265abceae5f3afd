// End to end: `podnet server` (the binary, controllers on) driven by the real kubectl. A node that
// reports Ready gets a pod range, pods are scheduled onto it, and once they report IPs and Ready the
// service's EndpointSlices list them; the LoadBalancer service gets an address from --lb-pool.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "support/server_process.h"

namespace podnet::controllers::testing {
namespace {

using namespace std::chrono_literals;

constexpr const char* kObjects = R"(apiVersion: v1
kind: Node
metadata:
  name: node1
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  type: LoadBalancer
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: http}]
---
apiVersion: v1
kind: Pod
metadata:
  name: web-1
  labels: {app: web}
spec:
  containers: [{name: c, image: nginx, ports: [{name: http, containerPort: 8080}]}]
---
apiVersion: v1
kind: Pod
metadata:
  name: web-2
  labels: {app: web}
spec:
  containers: [{name: c, image: nginx, ports: [{name: http, containerPort: 8080}]}]
)";

class ControllersKubectlTest : public podnet::testing::KubectlServerTest {
 protected:
  ControllersKubectlTest() : KubectlServerTest("pn-ctrl-kubectl", {"--lb-pool", "192.168.213.240/28"}) {}

  // Runs kubectl until its output is `want` (10 s).
  bool wait_output(const std::vector<std::string>& args, const std::string& want) {
    for (int i = 0; i < 100; ++i) {
      if (kubectl(args).out == want) return true;
      std::this_thread::sleep_for(100ms);
    }
    return false;
  }
};

TEST_F(ControllersKubectlTest, EndpointSlicesListReadyPodsOfAService) {
  auto created = kubectl({"create", "-f", write("objects.yaml", kObjects)});
  ASSERT_EQ(created.code, 0) << created.out;

  // Node IPAM gives the node a range whether or not it is Ready.
  EXPECT_TRUE(wait_output({"get", "node", "node1", "-o", "jsonpath={.spec.podCIDR}"}, "10.244.0.0/24"))
      << kubectl({"get", "node", "node1", "-o", "yaml"}).out;

  // No Ready node yet: the pods wait, with the scheduler's reason.
  EXPECT_TRUE(
      wait_output({"get", "pod", "web-1", "-o", "jsonpath={.status.conditions[0].reason}"}, "Unschedulable"));
  auto ready = kubectl({"patch", "node", "node1", "--subresource=status", "--type=merge", "-p",
                        R"({"status":{"conditions":[{"type":"Ready","status":"True"}]}})"});
  ASSERT_EQ(ready.code, 0) << ready.out;
  for (auto pod : {"web-1", "web-2"})
    ASSERT_TRUE(wait_output({"get", "pod", pod, "-o", "jsonpath={.spec.nodeName}"}, "node1")) << pod;

  // What the agent would report once the containers run.
  for (auto [pod, ip] : {std::pair{"web-1", "10.244.0.11"}, std::pair{"web-2", "10.244.0.12"}}) {
    std::string status = std::string(R"({"status":{"phase":"Running","podIP":")") + ip +
                         R"(","podIPs":[{"ip":")" + ip +
                         R"("}],"conditions":[{"type":"Ready","status":"True"}]}})";
    auto r = kubectl({"patch", "pod", pod, "--subresource=status", "--type=merge", "-p", status});
    ASSERT_EQ(r.code, 0) << r.out;
  }

  std::vector<std::string> get_slices = {"get",
                                         "endpointslices",
                                         "-l",
                                         "kubernetes.io/service-name=web",
                                         "-o",
                                         "jsonpath={range .items[*].endpoints[*]}{.addresses[0]} "
                                         "{.conditions.ready} {.nodeName} {.targetRef.name};{end}"};
  EXPECT_TRUE(wait_output(get_slices, "10.244.0.11 true node1 web-1;10.244.0.12 true node1 web-2;"))
      << kubectl(get_slices).out;

  auto table = kubectl({"get", "endpointslices", "-l", "kubernetes.io/service-name=web"});
  ASSERT_EQ(table.code, 0) << table.out;
  EXPECT_NE(table.out.find("IPv4"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("8080"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("10.244.0.11,10.244.0.12"), std::string::npos) << table.out;

  EXPECT_TRUE(wait_output({"get", "svc", "web", "-o", "jsonpath={.status.loadBalancer.ingress[0].ip}"},
                          "192.168.213.241"));

  // A deleted pod leaves the slice.
  auto del = kubectl({"delete", "pod", "web-1", "--grace-period=0", "--force"});
  ASSERT_EQ(del.code, 0) << del.out;
  EXPECT_TRUE(wait_output(get_slices, "10.244.0.12 true node1 web-2;")) << kubectl(get_slices).out;
}

}  // namespace
}  // namespace podnet::controllers::testing
