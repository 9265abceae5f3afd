// NodeRestriction through the real binary with a node's own credential: every refused change gets
// kube's status code and message by every write path (update, merge, JSON and strategic patch,
// server-side apply), nothing of it is stored, the server restarts cleanly on what it stored, and
// what a node agent really writes still goes through.
#include <chrono>
#include <thread>

#include "node_credential_fixture.h"

namespace podnet::apiserver::testing {
namespace {

namespace json = boost::json;

class NodeAdmissionTest : public NodeCredentialTest {
 protected:
  NodeAdmissionTest() : NodeCredentialTest("pn-node-admission") {}

  // node1 as the agent registers it, given its range by the server's node IPAM controller, and a
  // role label by the admin.
  void register_node1() {
    auto created = as_node("node1").post("/api/v1/nodes", json::parse(kRegistration));
    ASSERT_EQ(created.status, 201) << created.body;
    for (int i = 0; i < 200 && pod_cidrs_of_node1() == ""; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    ASSERT_EQ(pod_cidrs_of_node1(), R"(["10.244.0.0/24"])") << "the node IPAM controller's write";
    auto labelled = patch(admin(), "/api/v1/nodes/node1",
                          R"({"metadata":{"labels":{"node-role.kubernetes.io/worker":""}}})");
    ASSERT_EQ(labelled.status, 200) << labelled.body;
  }

  std::string pod_cidrs_of_node1() {
    return str(admin().get("/api/v1/nodes/node1").json(), {"spec", "podCIDRs"});
  }

  std::string stored_node1() {
    json::value node = admin().get("/api/v1/nodes/node1").json();
    node.as_object()["metadata"].as_object().erase("managedFields");
    return json::serialize(node);
  }

  // What the agent sends (agent/node.cpp): its Node, then metadata and status patches.
  static constexpr const char* kRegistration =
      R"({"apiVersion":"v1","kind":"Node","metadata":{"name":"node1",)"
      R"("labels":{"kubernetes.io/hostname":"node1","kubernetes.io/os":"linux"},)"
      R"("annotations":{"podnet.io/overlay":"vxlan"}}})";
  static constexpr const char* kHeartbeat =
      R"({"status":{"addresses":[{"type":"InternalIP","address":"192.168.77.11"},)"
      R"({"type":"Hostname","address":"node1"}],)"
      R"("conditions":[{"type":"Ready","status":"True","reason":"KubeletReady",)"
      R"("lastHeartbeatTime":"2024-01-01T00:00:00Z","lastTransitionTime":"2024-01-01T00:00:00Z"}],)"
      R"("daemonEndpoints":{"kubeletEndpoint":{"Port":10250}}}})";
};

TEST_F(NodeAdmissionTest, WhatTheAgentWritesGoesThrough) {
  register_node1();
  auto n1 = as_node("node1");
  for (int i = 0; i < 2; ++i) {
    auto beat = patch(n1, "/api/v1/nodes/node1/status", kHeartbeat, "application/strategic-merge-patch+json");
    ASSERT_EQ(beat.status, 200) << beat.body;
  }
  auto meta = patch(n1, "/api/v1/nodes/node1",
                    R"({"metadata":{"labels":{"kubernetes.io/hostname":"node1","kubernetes.io/os":"linux",)"
                    R"("topology.kubernetes.io/zone":"z1","node.kubernetes.io/instance-type":"vm",)"
                    R"("example.com/rack":"r3"},"annotations":{"podnet.io/overlay":"vxlan"}}})");
  ASSERT_EQ(meta.status, 200) << meta.body;
  json::value node = admin().get("/api/v1/nodes/node1").json();
  EXPECT_EQ(str(node, {"spec", "podCIDRs"}), R"(["10.244.0.0/24"])") << "the range the IPAM gave stays";
  EXPECT_EQ(str(node, {"status", "addresses"}),
            R"([{"type":"InternalIP","address":"192.168.77.11"},{"type":"Hostname","address":"node1"}])");
  EXPECT_EQ(str(node, {"metadata", "labels", "example.com/rack"}), "r3");
  EXPECT_EQ(str(node, {"metadata", "labels", "node-role.kubernetes.io/worker"}), "");

  // An address the admin set (a test's fake agent on loopback) does not block the node's writes.
  auto pinned = patch(admin(), "/api/v1/nodes/node1/status",
                      R"({"status":{"addresses":[{"type":"InternalIP","address":"127.0.0.1"}]}})");
  ASSERT_EQ(pinned.status, 200) << pinned.body;
  auto beat = patch(n1, "/api/v1/nodes/node1/status",
                    R"({"status":{"conditions":[{"type":"Ready","status":"True","reason":"KubeletReady"}]}})",
                    "application/strategic-merge-patch+json");
  EXPECT_EQ(beat.status, 200) << beat.body;
}

TEST_F(NodeAdmissionTest, RefusedChangesGetKubesAnswerAndChangeNothing) {
  register_node1();
  struct Case {
    http::verb method;
    std::string target, content_type, body;
    int code;
    std::string message;
  };
  const std::string node = "/api/v1/nodes/node1";
  const std::string status = node + "/status";
  const std::string merge = "application/merge-patch+json", json_patch = "application/json-patch+json",
                    strategic = "application/strategic-merge-patch+json",
                    apply = "application/apply-patch+yaml";
  const std::string f = "nodes \"node1\" is forbidden: ";
  const std::string cidr = f + "node \"node1\" is not allowed to set or change spec.podCIDR or spec.podCIDRs";
  const std::string labels = f + "is not allowed to modify labels: node-role.kubernetes.io/control-plane";
  auto address = [&](const std::string& ip, const std::string& why) {
    return f + "node \"node1\" is not allowed to set status.addresses[0].address \"" + ip + "\": " + why;
  };
  json::value current = admin().get(node).json();
  json::value rewritten = current;
  rewritten.as_object()["spec"].as_object()["podCIDRs"] = json::array{"0.0.0.0/1"};
  rewritten.as_object()["spec"].as_object()["podCIDR"] = "0.0.0.0/1";
  const Case cases[] = {
      // The pod range every agent would route to this node, by every write path.
      {http::verb::patch, node, merge, R"({"spec":{"podCIDRs":["0.0.0.0/1"],"podCIDR":"0.0.0.0/1"}})", 403,
       cidr},
      {http::verb::patch, node, json_patch,
       R"([{"op":"replace","path":"/spec/podCIDRs/0","value":"0.0.0.0/1"}])", 403, cidr},
      {http::verb::patch, node, strategic, R"({"spec":{"podCIDR":"0.0.0.0/1","podCIDRs":["0.0.0.0/1"]}})",
       403, cidr},
      {http::verb::patch, node + "?fieldManager=kubelet&force=true", apply,
       R"({"apiVersion":"v1","kind":"Node","metadata":{"name":"node1"},"spec":{"podCIDRs":["0.0.0.0/1"]}})",
       403, cidr},
      {http::verb::put, node, "application/json", json::serialize(rewritten), 403, cidr},
      // Labels that steer workloads.
      {http::verb::patch, node, merge,
       R"({"metadata":{"labels":{"node-role.kubernetes.io/control-plane":""}}})", 403, labels},
      {http::verb::patch, node + "?fieldManager=kubelet", apply,
       R"({"apiVersion":"v1","kind":"Node","metadata":{"name":"node1","labels":{"node-role.kubernetes.io/control-plane":""}}})",
       403, labels},
      {http::verb::patch, node, json_patch,
       R"([{"op":"remove","path":"/metadata/labels/node-role.kubernetes.io~1worker"}])", 403,
       f + "is not allowed to modify labels: node-role.kubernetes.io/worker"},
      {http::verb::patch, node, merge,
       R"({"metadata":{"labels":{"node-restriction.kubernetes.io/pool":"gold"}}})", 403,
       f + "is not allowed to modify labels: node-restriction.kubernetes.io/pool"},
      {http::verb::patch, node, merge, R"({"spec":{"taints":[{"key":"x","effect":"NoSchedule"}]}})", 403,
       f + "node \"node1\" is not allowed to modify taints"},
      {http::verb::patch, node, merge, R"({"spec":{"configSource":{"configMap":{"name":"c"}}}})", 403,
       f + "node \"node1\" is not allowed to update configSource to a new non-nil configSource"},
      // Addresses the API server would then connect to.
      {http::verb::patch, status, merge,
       R"({"status":{"addresses":[{"type":"InternalIP","address":"127.0.0.1"}]}})", 403,
       address("127.0.0.1", "may not be in the loopback range (127.0.0.0/8, ::1/128)")},
      {http::verb::patch, status, strategic,
       R"({"status":{"addresses":[{"type":"InternalIP","address":"169.254.169.254"}]}})", 403,
       address("169.254.169.254", "may not be in the link-local range (169.254.0.0/16, fe80::/10)")},
      {http::verb::patch, status, merge,
       R"({"status":{"addresses":[{"type":"InternalIP","address":"10.1.2.3"}]}})", 403,
       address("10.1.2.3", "must be in the node network 192.168.77.0/24")},
      {http::verb::patch, status, merge,
       R"({"status":{"addresses":[{"type":"ExternalIP","address":"0.0.0.0"}]}})", 403,
       address("0.0.0.0", "may not be unspecified (0.0.0.0)")},
      {http::verb::patch, status, merge,
       R"({"status":{"addresses":[{"type":"InternalIP","address":"224.0.0.1"}]}})", 403,
       address("224.0.0.1", "may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)")},
      {http::verb::patch, status, merge, R"({"status":{"daemonEndpoints":{"kubeletEndpoint":{"Port":0}}}})",
       403,
       f + "node \"node1\" is not allowed to set status.daemonEndpoints.kubeletEndpoint.Port 0: must be "
           "between 1 "
           "and 65535, inclusive"},
      // Not its Node at all: the authorizer's answer, before admission.
      {http::verb::patch, "/api/v1/nodes/node2", merge, R"({"metadata":{"labels":{"a":"b"}}})", 403,
       "nodes \"node2\" is forbidden: User \"system:node:node1\" cannot patch resource \"nodes\" in API "
       "group \"\" "
       "at the cluster scope"},
  };
  const std::string before = stored_node1();
  auto n1 = as_node("node1");
  for (const auto& c : cases) {
    auto r = n1.request(c.method, c.target, c.body, c.content_type);
    EXPECT_EQ(r.status, c.code) << c.target << " " << c.body << "\n" << r.body;
    json::value st = r.json();
    EXPECT_EQ(str(st, {"kind"}), "Status") << r.body;
    EXPECT_EQ(str(st, {"reason"}), "Forbidden") << r.body;
    EXPECT_EQ(str(st, {"message"}), c.message) << c.body;
    EXPECT_EQ(stored_node1(), before) << "a refused write changes nothing: " << c.body;
  }
  // Registering another node with a control-plane label, or as someone else, is refused too.
  auto registered = n1.post("/api/v1/nodes", json::parse(R"({"apiVersion":"v1","kind":"Node",)"
                                                         R"("metadata":{"name":"node3"}})"));
  EXPECT_EQ(registered.status, 403) << registered.body;
  auto n3 = as_node("node3");
  auto steered =
      n3.post("/api/v1/nodes", json::parse(R"({"apiVersion":"v1","kind":"Node","metadata":{"name":"node3",)"
                                           R"("labels":{"node-role.kubernetes.io/control-plane":""}}})"));
  EXPECT_EQ(steered.status, 403) << steered.body;
  EXPECT_EQ(str(steered.json(), {"message"}),
            "nodes \"node3\" is forbidden: node \"node3\" is not allowed to set the following labels: "
            "node-role.kubernetes.io/control-plane");
  auto ranged =
      n3.post("/api/v1/nodes", json::parse(R"({"apiVersion":"v1","kind":"Node","metadata":{"name":"node3"},)"
                                           R"("spec":{"podCIDR":"10.244.0.0/16"}})"));
  EXPECT_EQ(ranged.status, 403) << ranged.body;
  EXPECT_EQ(str(ranged.json(), {"message"}),
            "nodes \"node3\" is forbidden: node \"node3\" is not allowed to set or change spec.podCIDR or "
            "spec.podCIDRs");
  EXPECT_EQ(admin().get("/api/v1/nodes/node3").status, 404);

  // The server restarts on what it stored, and serves it unchanged.
  ASSERT_EQ(server_.stop(), 0) << server_.log();
  ASSERT_TRUE(server_.start()) << server_.log();
  EXPECT_EQ(stored_node1(), before);
}

TEST_F(NodeAdmissionTest, PodRangesAreSetOnceForEveryone) {
  register_node1();
  auto changed = patch(admin(), "/api/v1/nodes/node1", R"({"spec":{"podCIDRs":["10.244.9.0/24"]}})");
  EXPECT_EQ(changed.status, 422) << changed.body;
  EXPECT_EQ(
      str(changed.json(), {"message"}),
      "Node \"node1\" is invalid: spec.podCIDRs: Forbidden: node updates may not change podCIDR except from "
      "\"\" to valid");
  auto created =
      admin().post("/api/v1/nodes", json::parse(R"({"apiVersion":"v1","kind":"Node",)"
                                                R"("metadata":{"name":"node2"},"spec":{"podCIDRs":["x"]}})"));
  EXPECT_EQ(created.status, 422) << created.body;
  EXPECT_EQ(
      str(created.json(), {"message"}),
      "Node \"node2\" is invalid: spec.podCIDRs[0]: Invalid value: []string{\"x\"}: must be valid CIDR");
  // A podCIDR alone becomes podCIDRs too, as kube's v1 conversion does.
  auto single = admin().post(
      "/api/v1/nodes", json::parse(R"({"apiVersion":"v1","kind":"Node",)"
                                   R"("metadata":{"name":"node2"},"spec":{"podCIDR":"10.244.9.0/24"}})"));
  ASSERT_EQ(single.status, 201) << single.body;
  EXPECT_EQ(str(single.json(), {"spec", "podCIDRs"}), R"(["10.244.9.0/24"])");
}

TEST_F(NodeAdmissionTest, KubectlAndPythonClientsSeeTheSameRefusals) {
  register_node1();
  const std::string kubeconfig = node_kubeconfig("node1");
  if (have_kubectl()) {
    auto label = kubectl({"label", "node", "node1", "node-role.kubernetes.io/control-plane="}, kubeconfig);
    EXPECT_NE(label.code, 0);
    EXPECT_NE(label.out.find(
                  "Error from server (Forbidden): nodes \"node1\" is forbidden: is not allowed to modify "
                  "labels: node-role.kubernetes.io/control-plane"),
              std::string::npos)
        << label.out;
    auto loopback = kubectl({"patch", "node", "node1", "--subresource=status", "--type=merge", "-p",
                             R"({"status":{"addresses":[{"type":"InternalIP","address":"127.0.0.1"}]}})"},
                            kubeconfig);
    EXPECT_NE(loopback.code, 0);
    EXPECT_NE(loopback.out.find("is not allowed to set status.addresses[0].address \"127.0.0.1\""),
              std::string::npos)
        << loopback.out;
    auto own = kubectl({"label", "node", "node1", "example.com/rack=r1"}, kubeconfig);
    EXPECT_EQ(own.code, 0) << own.out;
  } else {
    ADD_FAILURE() << "no kubectl at " << podnet::testing::kKubectl;
  }
  auto py = python(R"(
import json
from kubernetes import client, config
config.load_kube_config()
api = client.CoreV1Api()
try:
    api.patch_node("node1", {"spec": {"podCIDRs": ["0.0.0.0/1"]}})
    print("allowed")
except client.exceptions.ApiException as e:
    print(e.status, json.loads(e.body)["message"])
print(api.patch_node("node1", {"metadata": {"labels": {"example.com/rack": "r2"}}}).metadata.labels["example.com/rack"])
)",
                   kubeconfig);
  EXPECT_EQ(py.rc, 0) << py.out;
  EXPECT_EQ(
      py.out,
      "403 nodes \"node1\" is forbidden: node \"node1\" is not allowed to set or change spec.podCIDR or "
      "spec.podCIDRs\nr2\n");
}

}  // namespace
}  // namespace podnet::apiserver::testing
