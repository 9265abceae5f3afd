// `kubectl get ... -o yaml > f; kubectl apply -f f` against the `podnet server` binary. kubectl
// validates a List on the client with the OpenAPI v2 schema, which it fetches from /openapi/v2 as
// gnostic protobuf (it cannot take JSON there): this proves the real kubectl decodes our encoding
// and finds each kind's schema by its x-kubernetes-group-version-kind.
#include <gtest/gtest.h>

#include <string>

#include "common/files.h"
#include "support/server_process.h"

namespace podnet::apiserver::testing {
namespace {

class KubectlApplyDumpTest : public podnet::testing::KubectlServerTest {
 protected:
  KubectlApplyDumpTest() : KubectlServerTest("pn-kubectl-dump") {}

  void SetUp() override {
    KubectlServerTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    auto created = kubectl({"create", "-f", write("objects.yaml", kObjects)});
    ASSERT_EQ(created.code, 0) << created.out;
  }

  static constexpr const char* kObjects = R"(apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {tier: fe}}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop, labels: {tier: fe}}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: 8080}, {name: https, port: 443, targetPort: 8443}]
---
apiVersion: v1
kind: Service
metadata: {name: edge, namespace: shop}
spec:
  type: NodePort
  selector: {app: web}
  ports: [{port: 8080}]
---
apiVersion: v1
kind: Pod
metadata: {name: web-1, namespace: shop, labels: {app: web, tier: fe}}
spec:
  containers:
  - name: c
    image: nginx
    ports: [{containerPort: 8080}]
    env: [{name: MODE, value: prod}]
    readinessProbe: {httpGet: {path: /, port: 8080}}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-in, namespace: shop}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress: [{ports: [{port: 8080}]}]
)";

  std::string dump(const std::string& name) {
    auto got = kubectl({"-n", "shop", "get", "ns,svc,pods,networkpolicies,endpointslices", "-o", "yaml"});
    EXPECT_EQ(got.code, 0) << got.out;
    EXPECT_NE(got.out.find("kind: List"), std::string::npos) << got.out;
    return write(name, got.out);
  }
};

TEST_F(KubectlApplyDumpTest, GetDumpAppliesBack) {
  auto applied = kubectl({"apply", "-f", dump("dump.yaml")});
  ASSERT_EQ(applied.code, 0) << applied.out << server_.log();
  for (const char* line : {"namespace/shop", "namespace/default", "service/web", "service/edge", "pod/web-1",
                           "networkpolicy.networking.k8s.io/web-in"})
    EXPECT_NE(applied.out.find(line), std::string::npos) << line << " missing in:\n" << applied.out;

  // A change made in a fresh dump is applied: labels of a pod and a service, a service's port.
  std::string text = read_file(dump("dump2.yaml")).value_or("");
  for (size_t at; (at = text.find("tier: fe")) != std::string::npos;) text.replace(at, 8, "tier: be");
  size_t port = text.find("targetPort: 8443");
  ASSERT_NE(port, std::string::npos) << text;
  text.replace(port, 16, "targetPort: 9443");
  auto changed = kubectl({"apply", "-f", write("changed.yaml", text)});
  ASSERT_EQ(changed.code, 0) << changed.out;
  EXPECT_EQ(kubectl({"-n", "shop", "get", "pod", "web-1", "-o", "jsonpath={.metadata.labels.tier}"}).out,
            "be");
  EXPECT_EQ(kubectl({"get", "ns", "shop", "-o", "jsonpath={.metadata.labels.tier}"}).out, "be");
  EXPECT_EQ(kubectl({"-n", "shop", "get", "svc", "web", "-o", "jsonpath={.spec.ports[*].targetPort}"}).out,
            "8080 9443");
  // The NodePort the server allocated survives both applies.
  auto node_port = kubectl({"-n", "shop", "get", "svc", "edge", "-o", "jsonpath={.spec.ports[0].nodePort}"});
  EXPECT_FALSE(node_port.out.empty()) << node_port.out;
}

// The same for one object: what `kubectl get pod -o yaml` writes applies back.
TEST_F(KubectlApplyDumpTest, SingleObjectDumpAppliesBack) {
  auto got = kubectl({"-n", "shop", "get", "svc", "web", "-o", "yaml"});
  ASSERT_EQ(got.code, 0) << got.out;
  auto applied = kubectl({"apply", "-f", write("svc.yaml", got.out)});
  ASSERT_EQ(applied.code, 0) << applied.out;
  EXPECT_NE(applied.out.find("service/web configured"), std::string::npos) << applied.out;
}

// Client-side validation of a List really uses the served schema: an unknown field is named with
// the definition it is not in.
TEST_F(KubectlApplyDumpTest, ListIsValidatedAgainstTheV2Schema) {
  constexpr const char* kBad = R"(apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Pod
  metadata: {name: bad, namespace: shop}
  spec:
    containers: [{name: c, image: nginx}]
    bogus: 1
)";
  auto refused = kubectl({"apply", "-f", write("bad.yaml", kBad)});
  EXPECT_NE(refused.code, 0) << refused.out;
  EXPECT_NE(refused.out.find("unknown field \"bogus\""), std::string::npos) << refused.out;
  EXPECT_NE(refused.out.find("io.k8s.api.core.v1.PodSpec"), std::string::npos) << refused.out;
  EXPECT_NE(kubectl({"-n", "shop", "get", "pod", "bad"}).code, 0) << "nothing was created";

  // Valid, the same List goes through.
  std::string good = kBad;
  good.erase(good.find("    bogus: 1\n"));
  auto accepted = kubectl({"apply", "-f", write("good.yaml", good)});
  EXPECT_EQ(accepted.code, 0) << accepted.out;
}

TEST_F(KubectlApplyDumpTest, ExplainFromEitherDocument) {
  auto v2 = kubectl({"explain", "pods.spec.containers", "--output=plaintext-openapiv2"});
  ASSERT_EQ(v2.code, 0) << v2.out;
  EXPECT_NE(v2.out.find("Containers belonging to the pod."), std::string::npos) << v2.out;
  auto v3 = kubectl({"explain", "services.spec.ports"});
  ASSERT_EQ(v3.code, 0) << v3.out;
  EXPECT_NE(v3.out.find("targetPort"), std::string::npos) << v3.out;
}

}  // namespace
}  // namespace podnet::apiserver::testing
