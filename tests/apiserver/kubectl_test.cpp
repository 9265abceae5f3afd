// End to end with the real kubectl against the `podnet server` binary started as a child process
// (--port 0, so the port is whatever is free; the kubeconfig it writes names it).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <boost/json.hpp>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "fake_agent.h"
#include "support/server_process.h"

namespace podnet::apiserver::testing {
namespace {

using namespace std::chrono_literals;
using podnet::testing::kKubectl;
using podnet::testing::podnet_bin;
using podnet::testing::spawn_logged;

class KubectlTest : public podnet::testing::KubectlServerTest {
 protected:
  KubectlTest() : KubectlServerTest("podnet-kubectl") {}
};

constexpr const char* kObjects = R"(apiVersion: v1
kind: Namespace
metadata:
  name: shop
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: shop
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Pod
metadata:
  name: web-1
  namespace: shop
  labels: {app: web}
spec:
  containers: [{name: c, image: nginx}]
)";

TEST_F(KubectlTest, EverydayCommands) {
  auto ns = kubectl({"get", "ns"});
  ASSERT_EQ(ns.code, 0) << ns.out;
  EXPECT_NE(ns.out.find("default"), std::string::npos) << ns.out;
  EXPECT_NE(ns.out.find("kube-system"), std::string::npos) << ns.out;

  // With validation on (the default): kubectl probes /openapi/v3 for server-side field validation.
  auto created = kubectl({"create", "-f", write("objects.yaml", kObjects)});
  ASSERT_EQ(created.code, 0) << created.out;
  EXPECT_NE(created.out.find("pod/web-1 created"), std::string::npos) << created.out;

  auto svc = kubectl({"-n", "shop", "get", "svc", "-o", "json"});
  ASSERT_EQ(svc.code, 0) << svc.out;
  auto svc_json = boost::json::parse(svc.out);
  auto& item = svc_json.at("items").at(0);
  EXPECT_EQ(item.at("metadata").at("name").as_string(), "web");
  EXPECT_EQ(item.at("spec").at("ports").at(0).at("targetPort").as_int64(), 8080);

  // Human output comes from the server's Table: kube's columns.
  auto table = kubectl({"-n", "shop", "get", "po"});
  EXPECT_NE(table.out.find("READY   STATUS    RESTARTS   AGE"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("web-1   0/1     Pending"), std::string::npos) << table.out;
  auto svc_table = kubectl({"-n", "shop", "get", "svc", "-o", "wide"});
  EXPECT_NE(svc_table.out.find("80/TCP"), std::string::npos) << svc_table.out;
  EXPECT_NE(svc_table.out.find("app=web"), std::string::npos) << svc_table.out;

  auto by_label = kubectl({"-n", "shop", "get", "po", "-l", "app=web", "-o", "name"});
  EXPECT_EQ(by_label.out, "pod/web-1\n");
  EXPECT_EQ(kubectl({"-n", "shop", "get", "po", "-l", "app=db", "-o", "name"}).out.find("pod/"),
            std::string::npos);

  ASSERT_EQ(kubectl({"-n", "shop", "label", "po", "web-1", "tier=fe"}).code, 0);
  ASSERT_EQ(kubectl({"-n", "shop", "patch", "po", "web-1", "--type=merge", "-p",
                     R"({"metadata":{"annotations":{"a":"1"}}})"})
                .code,
            0);
  auto json_patch = kubectl({"-n", "shop", "patch", "po", "web-1", "--type=json", "-p",
                             R"([{"op":"add","path":"/metadata/labels/x","value":"y"}])"});
  ASSERT_EQ(json_patch.code, 0) << json_patch.out;
  auto labels = kubectl({"-n", "shop", "get", "po", "web-1", "-o",
                         "jsonpath={.metadata.labels.tier},{.metadata.labels.x},{.metadata.annotations.a}"});
  EXPECT_EQ(labels.out, "fe,y,1");

  auto deleted = kubectl({"-n", "shop", "delete", "po", "web-1"});
  ASSERT_EQ(deleted.code, 0) << deleted.out;
  auto gone = kubectl({"-n", "shop", "get", "po", "web-1"});
  EXPECT_NE(gone.code, 0);
  EXPECT_NE(gone.out.find("NotFound"), std::string::npos) << gone.out;
}

TEST_F(KubectlTest, ApplyCreatesConfiguresAndFindsNothingToChange) {
  std::string file = write("objects.yaml", kObjects);
  auto first = kubectl({"apply", "-f", file});
  ASSERT_EQ(first.code, 0) << first.out;
  EXPECT_NE(first.out.find("service/web created"), std::string::npos) << first.out;
  auto second = kubectl({"apply", "-f", file});
  ASSERT_EQ(second.code, 0) << second.out;
  EXPECT_NE(second.out.find("service/web unchanged"), std::string::npos) << second.out;

  // A changed file is applied as a strategic merge patch: ports merge by port, containers by name.
  std::string changed = kObjects;
  changed.replace(changed.find("port: 80,"), 9, "port: 81,");
  changed.replace(changed.find("image: nginx"), 12, "image: nginx:1.27");
  auto third = kubectl({"apply", "-f", write("changed.yaml", changed)});
  ASSERT_EQ(third.code, 0) << third.out;
  EXPECT_NE(third.out.find("service/web configured"), std::string::npos) << third.out;
  EXPECT_EQ(kubectl({"-n", "shop", "get", "svc", "web", "-o", "jsonpath={.spec.ports[*].port}"}).out, "81");
  EXPECT_EQ(kubectl({"-n", "shop", "get", "po", "web-1", "-o", "jsonpath={.spec.containers[0].image}"}).out,
            "nginx:1.27");
  ASSERT_EQ(kubectl({"-n", "shop", "set", "image", "pod/web-1", "c=nginx:1.28"}).code, 0);
  EXPECT_EQ(kubectl({"-n", "shop", "get", "po", "web-1", "-o", "jsonpath={.spec.containers[0].image}"}).out,
            "nginx:1.28");

  auto deleted = kubectl({"delete", "ns", "shop"});
  ASSERT_EQ(deleted.code, 0) << deleted.out;
  EXPECT_EQ(kubectl({"get", "po", "-A", "-o", "name"}).out.find("web-1"), std::string::npos)
      << "the namespace's pods went with it";
}

TEST_F(KubectlTest, GeneratorsThatSendProtobuf) {
  // kubectl's typed clients POST these as application/vnd.kubernetes.protobuf.
  auto ns = kubectl({"create", "namespace", "made-by-generator"});
  ASSERT_EQ(ns.code, 0) << ns.out;
  auto svc = kubectl({"create", "service", "clusterip", "web", "--tcp=80:8080"});
  ASSERT_EQ(svc.code, 0) << svc.out;
  EXPECT_EQ(
      kubectl({"get", "svc", "web", "-o", "jsonpath={.spec.ports[0].targetPort} {.spec.selector.app}"}).out,
      "8080 web");
  auto bad = kubectl({"create", "namespace", "Bad_Name"});
  EXPECT_NE(bad.code, 0);
  EXPECT_NE(bad.out.find("is invalid"), std::string::npos) << bad.out;
}

TEST_F(KubectlTest, WatchSeesAChange) {
  std::string watch_log = dir_.path() + "/watch.out";
  pid_t watcher = spawn_logged(
      {kKubectl, "--kubeconfig", server_.kubeconfig(), "get", "po", "-w", "--output-watch-events"},
      watch_log);
  ASSERT_GT(watcher, 0);
  std::this_thread::sleep_for(1s);  // let it list and start watching
  ASSERT_EQ(kubectl({"run", "watched", "--image=nginx"}).code, 0);
  bool seen = false;
  for (int i = 0; i < 100 && !seen; ++i) {
    seen = log("watch.out").find("watched") != std::string::npos;
    if (!seen) std::this_thread::sleep_for(100ms);
  }
  ::kill(watcher, SIGTERM);
  ::waitpid(watcher, nullptr, 0);
  EXPECT_TRUE(seen) << log("watch.out");
  EXPECT_NE(log("watch.out").find("ADDED"), std::string::npos) << log("watch.out");
}

constexpr const char* kWebService = R"(apiVersion: v1
kind: Service
metadata:
  name: web
  labels: {app: web, tier: fe}
spec:
  selector: {app: web}
  ports:
  - {name: http, port: 80, targetPort: 8080}
  - {name: https, port: 443, targetPort: 8443}
)";

std::string without(std::string text, const std::string& part) {
  text.erase(text.find(part), part.size());
  return text;
}

TEST_F(KubectlTest, ServerSideApplyOwnsRemovesAndConflicts) {
  auto first = kubectl({"apply", "--server-side", "-f", write("svc.yaml", kWebService)});
  ASSERT_EQ(first.code, 0) << first.out;
  EXPECT_NE(first.out.find("service/web serverside-applied"), std::string::npos) << first.out;
  auto managed =
      kubectl({"get", "svc", "web", "--show-managed-fields", "-o",
               "jsonpath={.metadata.managedFields[0].manager},{.metadata.managedFields[0].operation}"});
  EXPECT_EQ(managed.out, "kubectl,Apply");
  auto fields = kubectl({"get", "svc", "web", "--show-managed-fields", "-o", "json"});
  EXPECT_NE(fields.out.find(R"(k:{\"port\":443,\"protocol\":\"TCP\"})"), std::string::npos) << fields.out;

  // The manager no longer applies port 443 and the label tier: both disappear.
  std::string smaller =
      without(without(kWebService, "  - {name: https, port: 443, targetPort: 8443}\n"), ", tier: fe");
  auto second = kubectl({"apply", "--server-side", "-f", write("svc2.yaml", smaller)});
  ASSERT_EQ(second.code, 0) << second.out;
  EXPECT_EQ(kubectl({"get", "svc", "web", "-o", "jsonpath={.spec.ports[*].port}"}).out, "80");
  EXPECT_EQ(kubectl({"get", "svc", "web", "-o", "jsonpath={.metadata.labels}"}).out, R"({"app":"web"})");

  // Another manager wanting a different targetPort conflicts with the first one...
  std::string other = smaller;
  other.replace(other.find("8080"), 4, "9090");
  std::string other_file = write("svc3.yaml", other);
  auto conflict = kubectl({"apply", "--server-side", "--field-manager=other", "-f", other_file});
  EXPECT_NE(conflict.code, 0);
  EXPECT_NE(
      conflict.out.find(
          R"(Apply failed with 1 conflict: conflict with "kubectl": .spec.ports[port=80,protocol="TCP"].targetPort)"),
      std::string::npos)
      << conflict.out;
  EXPECT_EQ(kubectl({"get", "svc", "web", "-o", "jsonpath={.spec.ports[0].targetPort}"}).out, "8080");
  // ...and wins when forced, taking the field over.
  auto forced =
      kubectl({"apply", "--server-side", "--field-manager=other", "--force-conflicts", "-f", other_file});
  ASSERT_EQ(forced.code, 0) << forced.out;
  EXPECT_EQ(kubectl({"get", "svc", "web", "-o", "jsonpath={.spec.ports[0].targetPort}"}).out, "9090");
  auto back = kubectl({"apply", "--server-side", "-f", write("svc4.yaml", smaller)});
  EXPECT_NE(back.code, 0) << "now the first manager conflicts with \"other\"";
  EXPECT_NE(back.out.find(R"(conflict with "other")"), std::string::npos) << back.out;

  // An ordinary patch records an Update entry for its manager, and an apply then conflicts with it.
  ASSERT_EQ(kubectl({"patch", "svc", "web", "-p", R"({"spec":{"selector":{"app":"db"}}})"}).code, 0);
  auto after_patch = kubectl({"apply", "--server-side", "--field-manager=other", "-f", other_file});
  EXPECT_NE(after_patch.code, 0);
  EXPECT_NE(after_patch.out.find(R"(conflict with "kubectl-patch" using v1: .spec.selector)"),
            std::string::npos)
      << after_patch.out;
}

TEST_F(KubectlTest, ClientSideApplyRemovesWhatTheFileNoLongerHas) {
  ASSERT_EQ(kubectl({"apply", "-f", write("svc.yaml", kWebService)}).code, 0);
  auto managed = kubectl(
      {"get", "svc", "web", "--show-managed-fields", "-o", "jsonpath={.metadata.managedFields[*].manager}"});
  EXPECT_EQ(managed.out, "kubectl-client-side-apply");
  std::string smaller =
      without(without(kWebService, "  - {name: https, port: 443, targetPort: 8443}\n"), ", tier: fe");
  auto second = kubectl({"apply", "-f", write("svc2.yaml", smaller)});
  ASSERT_EQ(second.code, 0) << second.out;
  EXPECT_EQ(second.out.find("arning"), std::string::npos)
      << "the v3 schema's merge keys were usable: " << second.out;
  EXPECT_NE(second.out.find("service/web configured"), std::string::npos) << second.out;
  EXPECT_EQ(kubectl({"get", "svc", "web", "-o", "jsonpath={.spec.ports[*].port}"}).out, "80");
  EXPECT_EQ(kubectl({"get", "svc", "web", "-o", "jsonpath={.metadata.labels}"}).out, R"({"app":"web"})");
}

TEST_F(KubectlTest, UnknownFieldsByValidationMode) {
  constexpr const char* kPod = R"(apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  containers: [{name: c, image: nginx, imagePullPolicyy: Always}]
)";
  std::string file = write("pod.yaml", kPod);
  auto strict = kubectl({"create", "-f", file});
  EXPECT_NE(strict.code, 0);
  EXPECT_NE(
      strict.out.find(
          R"(Pod in version "v1" cannot be handled as a Pod: strict decoding error: unknown field "spec.containers[0].imagePullPolicyy")"),
      std::string::npos)
      << strict.out;
  EXPECT_NE(kubectl({"get", "po", "p"}).code, 0) << "nothing stored";
  auto ssa = kubectl({"apply", "--server-side", "-f", file});
  EXPECT_NE(ssa.code, 0);
  EXPECT_NE(ssa.out.find(R"(.spec.containers[name="c"].imagePullPolicyy: field not declared in schema)"),
            std::string::npos)
      << ssa.out;

  auto warn = kubectl({"create", "--validate=warn", "-f", file});
  ASSERT_EQ(warn.code, 0) << warn.out;
  EXPECT_NE(warn.out.find(R"(Warning: unknown field "spec.containers[0].imagePullPolicyy")"),
            std::string::npos)
      << warn.out;
  auto stored = kubectl({"get", "po", "p", "-o", "json"});
  EXPECT_EQ(stored.out.find("imagePullPolicyy"), std::string::npos) << "dropped: " << stored.out;
}

TEST_F(KubectlTest, ExplainReadsTheServedSchema) {
  auto ports = kubectl({"explain", "pod.spec.containers.ports"});
  ASSERT_EQ(ports.code, 0) << ports.out;
  EXPECT_NE(ports.out.find("FIELD: ports <[]ContainerPort>"), std::string::npos) << ports.out;
  EXPECT_NE(ports.out.find("containerPort\t<integer> -required-"), std::string::npos) << ports.out;
  auto slice = kubectl({"explain", "endpointslices.endpoints.conditions"});
  ASSERT_EQ(slice.code, 0) << slice.out;
  EXPECT_NE(slice.out.find("terminating"), std::string::npos) << slice.out;
  auto policy = kubectl({"explain", "netpol.spec.ingress.from.ipBlock"});
  ASSERT_EQ(policy.code, 0) << policy.out;
  EXPECT_NE(policy.out.find("cidr"), std::string::npos) << policy.out;
}

TEST_F(KubectlTest, InvalidNetworkPolicyIsRefusedAsKubeRefusesIt) {
  auto r = kubectl({"apply", "-f", write("np.yaml", R"(apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: np}
spec:
  podSelector: {matchExpressions: [{key: app, operator: Equals, values: [web]}]}
  ingress:
  - ports: [{port: 70000}]
    from: [{ipBlock: {cidr: 10.0.0.0/16, except: [10.1.0.0/24]}}]
)")});
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.out.find(R"(The NetworkPolicy "np" is invalid: )"), std::string::npos) << r.out;
  for (
      const char* cause :
      {R"(spec.podSelector.matchExpressions[0].operator: Invalid value: "Equals": not a valid selector operator)",
       "spec.ingress[0].ports[0].port: Invalid value: 70000: must be between 1 and 65535, inclusive",
       R"(spec.ingress[0].from[0].ipBlock.except[0]: Invalid value: "10.1.0.0/24": must be a strict subset of `cidr`)"})
    EXPECT_NE(r.out.find(cause), std::string::npos) << cause << "\n" << r.out;
  EXPECT_NE(kubectl({"get", "netpol", "np"}).code, 0) << "nothing stored";
}

TEST_F(KubectlTest, ApiResourcesListsEveryResource) {
  auto r = kubectl({"api-resources"});
  ASSERT_EQ(r.code, 0) << r.out;
  for (const char* name : {"namespaces", "nodes", "pods", "services", "events", "endpointslices",
                           "networkpolicies", "netpol", "svc"})
    EXPECT_NE(r.out.find(name), std::string::npos) << name << "\n" << r.out;
}

TEST_F(KubectlTest, NodeCredentialIsNarrow) {
  std::string node_kubeconfig = dir_.path() + "/node1.kubeconfig";
  pid_t issue = spawn_logged({podnet_bin(), "server", "--data-dir", server_.data_dir(),
                              "--issue-node-credential", "node1", "--out", node_kubeconfig},
                             dir_.path() + "/issue.log");
  ASSERT_EQ(podnet::testing::wait_exit_code(issue), 0) << log("issue.log");

  auto pods = kubectl({"get", "pods", "-A"}, node_kubeconfig);
  EXPECT_EQ(pods.code, 0) << pods.out;
  auto own =
      kubectl({"create", "-f", write("node1.yaml", "apiVersion: v1\nkind: Node\nmetadata: {name: node1}\n")},
              node_kubeconfig);
  EXPECT_EQ(own.code, 0) << own.out;
  ASSERT_EQ(
      kubectl({"create", "-f", write("node2.yaml", "apiVersion: v1\nkind: Node\nmetadata: {name: node2}\n")})
          .code,
      0);
  EXPECT_EQ(kubectl({"label", "node", "node1", "agent=yes"}, node_kubeconfig).code, 0);
  auto other = kubectl({"label", "node", "node2", "agent=yes"}, node_kubeconfig);
  EXPECT_NE(other.code, 0);
  EXPECT_NE(other.out.find(
                "Error from server (Forbidden): nodes \"node2\" is forbidden: User \"system:node:node1\" "
                "cannot patch resource \"nodes\" in API group \"\" at the cluster scope"),
            std::string::npos)
      << other.out;
  auto ns = kubectl({"create", "namespace", "x"}, node_kubeconfig);
  EXPECT_NE(ns.code, 0);
  EXPECT_NE(ns.out.find("Forbidden"), std::string::npos) << ns.out;
  auto metrics = kubectl({"get", "--raw", "/metrics"}, node_kubeconfig);
  EXPECT_NE(metrics.code, 0) << metrics.out;
  auto admin_metrics = kubectl({"get", "--raw", "/metrics"});
  EXPECT_EQ(admin_metrics.code, 0);
  EXPECT_NE(admin_metrics.out.find(
                "apiserver_request_total{code=\"403\",group=\"\",resource=\"nodes\",subresource=\"\","
                "verb=\"PATCH\",version=\"v1\"} 1"),
            std::string::npos)
      << admin_metrics.out;
}

TEST_F(KubectlTest, DeleteWaitsForFinalizersAndGracefulPods) {
  ASSERT_EQ(kubectl({"apply", "-f", write("held.yaml", R"(apiVersion: v1
kind: Service
metadata: {name: held, finalizers: [example.com/hold]}
spec: {ports: [{port: 80}]}
---
apiVersion: v1
kind: Pod
metadata: {name: web}
spec: {nodeName: node1, containers: [{name: c, image: nginx}]}
)")})
                .code,
            0);
  // kubectl delete waits until the object is gone, which is when its finalizer is removed.
  pid_t waiting =
      spawn_logged({kKubectl, "--kubeconfig", server_.kubeconfig(), "delete", "svc", "held", "--timeout=30s"},
                   dir_.path() + "/delete.out");
  std::string ts;
  for (int i = 0; i < 100 && ts.empty(); ++i) {
    ts = kubectl({"get", "svc", "held", "-o", "jsonpath={.metadata.deletionTimestamp}"}).out;
    if (ts.empty()) std::this_thread::sleep_for(50ms);
  }
  EXPECT_FALSE(ts.empty()) << "deletion marked";
  std::this_thread::sleep_for(300ms);
  int status = 0;
  EXPECT_EQ(::waitpid(waiting, &status, WNOHANG), 0) << "kubectl delete still waits: " << log("delete.out");
  ASSERT_EQ(
      kubectl({"patch", "svc", "held", "--type=merge", "-p", R"({"metadata":{"finalizers":null}})"}).code, 0);
  ::waitpid(waiting, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << log("delete.out");
  EXPECT_NE(log("delete.out").find("service \"held\" deleted"), std::string::npos) << log("delete.out");
  EXPECT_NE(kubectl({"get", "svc", "held"}).code, 0);

  // A bound pod terminates: it stays, shown as Terminating, until deleted with grace 0.
  auto marked = kubectl({"delete", "pod", "web", "--wait=false"});
  ASSERT_EQ(marked.code, 0) << marked.out;
  auto table = kubectl({"get", "pod", "web"});
  EXPECT_NE(table.out.find("Terminating"), std::string::npos) << table.out;
  EXPECT_EQ(kubectl({"get", "pod", "web", "-o", "jsonpath={.metadata.deletionGracePeriodSeconds}"}).out,
            "30");
  auto forced = kubectl({"delete", "pod", "web", "--grace-period=0", "--force"});
  EXPECT_EQ(forced.code, 0) << forced.out;
  EXPECT_NE(kubectl({"get", "pod", "web"}).code, 0);
}

TEST_F(KubectlTest, DeleteBySelector) {
  ASSERT_EQ(kubectl({"create", "-f", write("three.yaml", R"(apiVersion: v1
kind: Service
metadata: {name: a1, labels: {app: a}}
spec: {ports: [{port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: a2, labels: {app: a}}
spec: {ports: [{port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: b1, labels: {app: b}}
spec: {ports: [{port: 80}]}
)")})
                .code,
            0);
  auto deleted = kubectl({"delete", "svc", "-l", "app=a"});
  ASSERT_EQ(deleted.code, 0) << deleted.out;
  EXPECT_NE(deleted.out.find("service \"a1\" deleted"), std::string::npos) << deleted.out;
  EXPECT_NE(deleted.out.find("service \"a2\" deleted"), std::string::npos) << deleted.out;
  EXPECT_EQ(kubectl({"get", "svc", "-l", "app in (a,b)", "-o", "name"}).out, "service/b1\n");
}

TEST_F(KubectlTest, LogsComeThroughTheServerFromTheNodeAgent) {
  FakeAgent agent(server_.data_dir() + "/pki");
  ASSERT_EQ(
      kubectl({"create", "-f", write("node.yaml", "apiVersion: v1\nkind: Node\nmetadata: {name: node1}\n")})
          .code,
      0);
  auto patched = kubectl({"patch", "node", "node1", "--subresource=status", "--type=merge", "-p",
                          R"({"status":{"addresses":[{"type":"InternalIP","address":"127.0.0.1"}],)"
                          R"("daemonEndpoints":{"kubeletEndpoint":{"Port":)" +
                              std::to_string(agent.port()) + "}}}}"});
  ASSERT_EQ(patched.code, 0) << patched.out;
  ASSERT_EQ(kubectl({"run", "web", "--image=nginx", "--overrides", R"({"spec":{"nodeName":"node1"}})"}).code,
            0);

  auto logs = kubectl({"logs", "web"});
  EXPECT_EQ(logs.code, 0) << logs.out;
  EXPECT_EQ(logs.out, "line 1 of /containerLogs/default/web/web\nline 2\n");
  auto follow = kubectl({"logs", "-f", "--tail=3", "--timestamps", "pod/web"});
  EXPECT_EQ(follow.code, 0) << follow.out;
  EXPECT_EQ(follow.out, "line 1 of /containerLogs/default/web/web\nline 2\n");
  auto targets = agent.targets();
  ASSERT_EQ(targets.size(), 2u);
  EXPECT_EQ(targets[1], "/containerLogs/default/web/web?follow=true&tailLines=3&timestamps=true");
  auto wrong = kubectl({"logs", "web", "-c", "nope"});
  EXPECT_NE(wrong.code, 0);
  EXPECT_NE(wrong.out.find("container nope is not valid for pod web"), std::string::npos) << wrong.out;
}

}  // namespace
}  // namespace podnet::apiserver::testing
