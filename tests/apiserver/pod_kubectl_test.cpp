// Pods a node could not act on, refused as kubectl and Debian's python3-kubernetes client see the
// refusal from the `podnet server` binary: kube's "is invalid" text for field errors and kube's
// decoder error for a value of the wrong type, and nothing stored.
#include <gtest/gtest.h>
#include <unistd.h>

#include "support/server_process.h"

namespace podnet::apiserver::testing {
namespace {

using podnet::testing::spawn_logged;
using podnet::testing::wait_exit_code;

class PodKubectlTest : public podnet::testing::KubectlServerTest {
 protected:
  PodKubectlTest() : KubectlServerTest("podnet-pod-kubectl") {}
};

constexpr const char* kBadProbePort = R"(apiVersion: v1
kind: Pod
metadata: {name: bad-probe}
spec:
  containers:
  - name: app
    image: nginx
    readinessProbe:
      tcpSocket: {port: "99999999999"}
)";

constexpr const char* kOverflowingPort = R"(apiVersion: v1
kind: Pod
metadata: {name: big-port}
spec:
  containers:
  - name: app
    image: nginx
    ports: [{containerPort: 99999999999}]
)";

TEST_F(PodKubectlTest, InvalidPodsAreRefusedAsKubeRefusesThem) {
  for (const char* verb : {"create", "apply"}) {
    auto r = kubectl({verb, "-f", write("bad-probe.yaml", kBadProbePort)});
    EXPECT_NE(r.code, 0) << verb;
    EXPECT_NE(
        r.out.find("The Pod \"bad-probe\" is invalid: spec.containers[0].readinessProbe.tcpSocket.port: "
                   "Invalid value: \"99999999999\": must contain at least one letter (a-z)"),
        std::string::npos)
        << verb << ": " << r.out;
  }
  auto big = kubectl({"create", "-f", write("big-port.yaml", kOverflowingPort)});
  EXPECT_NE(big.code, 0);
  EXPECT_NE(big.out.find("Error from server (BadRequest)"), std::string::npos) << big.out;
  EXPECT_NE(big.out.find(
                "Pod in version \"v1\" cannot be handled as a Pod: json: cannot unmarshal number "
                "99999999999 into Go struct field ContainerPort.spec.containers.ports.containerPort of type "
                "int32"),
            std::string::npos)
      << big.out;
  auto pods = kubectl({"get", "pods", "-o", "name"});
  EXPECT_EQ(pods.code, 0) << pods.out;
  EXPECT_EQ(pods.out, "") << "nothing stored";

  // A good pod with the same probe, written as kube wants it, goes through.
  std::string good = kBadProbePort;
  good.replace(good.find("\"99999999999\""), 13, "8080");
  auto ok = kubectl({"create", "-f", write("good.yaml", good)});
  EXPECT_EQ(ok.code, 0) << ok.out;
}

// Debian's python3-kubernetes (22.6) raises ApiException with the server's status and body.
TEST_F(PodKubectlTest, PythonClientSeesTheSameRefusal) {
  const char* python = "/usr/bin/python3";
  if (::access(python, X_OK) != 0 ||
      wait_exit_code(spawn_logged({python, "-c", "import kubernetes"}, dir_.path() + "/import.log")) != 0)
    GTEST_SKIP() << "no python3-kubernetes";
  std::string script = write("create.py", R"(import json, sys
from kubernetes import client, config
config.load_kube_config(sys.argv[1])
pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "bad-probe"},
       "spec": {"containers": [{"name": "app", "image": "nginx",
                                "readinessProbe": {"tcpSocket": {"port": "99999999999"}}}]}}
try:
    client.CoreV1Api().create_namespaced_pod("default", pod)
    print("created")
except client.exceptions.ApiException as e:
    body = json.loads(e.body)
    print(e.status, body["reason"], body["details"]["causes"][0]["field"])
    print(body["message"])
)");
  std::string out_path = dir_.path() + "/python.out";
  int code = wait_exit_code(spawn_logged({python, script, server_.kubeconfig()}, out_path));
  std::string out = log("python.out");
  EXPECT_EQ(code, 0) << out;
  EXPECT_NE(out.find("422 Invalid spec.containers[0].readinessProbe.tcpSocket.port\n"), std::string::npos)
      << out;
  EXPECT_NE(
      out.find("Pod \"bad-probe\" is invalid: spec.containers[0].readinessProbe.tcpSocket.port: Invalid "
               "value: \"99999999999\": must contain at least one letter (a-z)"),
      std::string::npos)
      << out;
}

}  // namespace
}  // namespace podnet::apiserver::testing
