// NodeRestriction and Node validation on their own, table-driven: a stored Node, the object a write
// would store, who writes, and kube's verdict (the message, or none).
#include "apiserver/auth/node_restriction.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "apiserver/http/http_types.h"
#include "apiserver/validation/node_validation.h"

namespace podnet::apiserver {
namespace {

namespace json = boost::json;

const Identity kNode1{true, "system:node:node1", {"system:nodes"}};
const Identity kAdmin{true, "podnet-admin", {"system:masters"}};
const ResourceType kNodes{"", "v1", "Node", "nodes", "node", false};
const ResourceType kPods{"", "v1", "Pod", "pods", "pod", true};

const char* kStored = R"({"metadata":{"name":"node1","labels":{"kubernetes.io/hostname":"node1",
  "node-role.kubernetes.io/worker":""}},
  "spec":{"podCIDR":"10.244.1.0/24","podCIDRs":["10.244.1.0/24"],"taints":[{"key":"k","effect":"NoSchedule"}]},
  "status":{"addresses":[{"type":"InternalIP","address":"192.168.213.11"}],
            "daemonEndpoints":{"kubeletEndpoint":{"Port":10250}}}})";

NodeRestriction restriction() {
  NodeRestrictionOptions o;
  o.node_network = *parse_prefix("192.168.213.0/24");
  o.server_addresses = {*parse_ip("192.168.213.1")};
  return NodeRestriction(o);
}

// The verdict of `who` writing `patch` (merged into the stored node; a create when `create`).
std::string verdict(const Identity& who, const std::string& patch, bool create = false,
                    const std::string& name = "node1") {
  json::object stored = json::parse(kStored).as_object();
  json::object obj = create ? json::object{{"metadata", {{"name", name}}}} : stored;
  json::value changes = json::parse(patch);
  for (const auto& [k, v] : changes.as_object()) {
    if (!v.is_object() || !obj[k].is_object()) {
      obj[k] = v;
      continue;
    }
    for (const auto& [k2, v2] : v.as_object()) obj[k].as_object()[k2] = v2;
  }
  auto r = restriction();
  AdmissionRequest req{who,
                       create ? AdmissionOperation::kCreate : AdmissionOperation::kUpdate,
                       kNodes,
                       "",
                       "",
                       name,
                       create ? nullptr : &stored,
                       obj};
  auto v = r.admit(req);
  if (v) return "";
  EXPECT_EQ(v.error().code, 403);
  EXPECT_EQ(v.error().reason, "Forbidden");
  return v.error().message;
}

TEST(NodeRestriction, NodesKeepToWhatAKubeletMaySet) {
  struct Case {
    std::string patch;
    bool create;
    std::string message;  // empty: allowed
  };
  const std::string f = "nodes \"node1\" is forbidden: ";
  const Case cases[] = {
      // Kubelet labels, and labels outside kubernetes.io / k8s.io, are the node's to set.
      {R"({"metadata":{"labels":{"kubernetes.io/hostname":"n1","kubernetes.io/os":"linux",
          "topology.kubernetes.io/zone":"a","node.kubernetes.io/instance-type":"x",
          "kubelet.kubernetes.io/x":"y","team":"blue","example.com/rack":"3"}}})",
       true, ""},
      {R"({"metadata":{"labels":{"node-role.kubernetes.io/control-plane":"","k8s.io/x":"y","a.k8s.io/z":""}}})",
       true,
       f + "node \"node1\" is not allowed to set the following labels: a.k8s.io/z, k8s.io/x, "
           "node-role.kubernetes.io/control-plane"},
      {R"({"metadata":{"labels":{"node-restriction.kubernetes.io/pool":"gold"}}})", true,
       f + "node \"node1\" is not allowed to set the following labels: node-restriction.kubernetes.io/pool"},
      {R"({"spec":{"configSource":{"configMap":{"name":"c"}}}})", true,
       f + "node \"node1\" is not allowed to create pods with a non-nil configSource"},
      {R"({"spec":{"taints":[{"key":"k","effect":"NoSchedule"}]}})", true, ""},  // --register-with-taints
      {R"({"spec":{"podCIDR":"10.244.9.0/24"}})", true,
       f + "node \"node1\" is not allowed to set or change spec.podCIDR or spec.podCIDRs"},
      // Updates: labels it may not touch, either way.
      {R"({"metadata":{"labels":{"kubernetes.io/hostname":"node1","node-role.kubernetes.io/worker":"",
          "team":"red"}}})",
       false, ""},
      {R"({"metadata":{"labels":{"kubernetes.io/hostname":"node1"}}})", false,
       f + "is not allowed to modify labels: node-role.kubernetes.io/worker"},
      {R"({"metadata":{"labels":{"kubernetes.io/hostname":"node1","node-role.kubernetes.io/worker":"",
          "node-restriction.kubernetes.io/a":"b"}}})",
       false, f + "is not allowed to modify labels: node-restriction.kubernetes.io/a"},
      {R"({"spec":{"taints":[]}})", false, f + "node \"node1\" is not allowed to modify taints"},
      {R"({"spec":{"configSource":{"configMap":{"name":"c"}}}})", false,
       f + "node \"node1\" is not allowed to update configSource to a new non-nil configSource"},
      {R"({"spec":{"podCIDR":"0.0.0.0/1","podCIDRs":["0.0.0.0/1"]}})", false,
       f + "node \"node1\" is not allowed to set or change spec.podCIDR or spec.podCIDRs"},
      {R"({"spec":{"podCIDRs":["10.244.1.0/24","fd00::/64"]}})", false,
       f + "node \"node1\" is not allowed to set or change spec.podCIDR or spec.podCIDRs"},
      {R"({"spec":{"unschedulable":true}})", false, ""},
      // Addresses the server would connect to.
      {R"({"status":{"addresses":[{"type":"InternalIP","address":"192.168.213.12"},
          {"type":"Hostname","address":"localhost"}]}})",
       false, ""},
      {R"({"status":{"addresses":[{"type":"InternalIP","address":"127.0.0.1"}]}})", false,
       f + "node \"node1\" is not allowed to set status.addresses[0].address \"127.0.0.1\": may not be in "
           "the "
           "loopback range (127.0.0.0/8, ::1/128)"},
      {R"({"status":{"addresses":[{"type":"InternalIP","address":"::ffff:127.0.0.1"}]}})", false,
       f + "node \"node1\" is not allowed to set status.addresses[0].address \"::ffff:127.0.0.1\": may not "
           "be "
           "in the loopback range (127.0.0.0/8, ::1/128)"},
      {R"({"status":{"addresses":[{"type":"ExternalIP","address":"169.254.169.254"}]}})", false,
       f + "node \"node1\" is not allowed to set status.addresses[0].address \"169.254.169.254\": may not be "
           "in the link-local range (169.254.0.0/16, fe80::/10)"},
      {R"({"status":{"addresses":[{"type":"InternalIP","address":"0.0.0.0"}]}})", false,
       f + "node \"node1\" is not allowed to set status.addresses[0].address \"0.0.0.0\": may not be "
           "unspecified (0.0.0.0)"},
      {R"({"status":{"addresses":[{"type":"ExternalIP","address":"239.1.2.3"}]}})", false,
       f + "node \"node1\" is not allowed to set status.addresses[0].address \"239.1.2.3\": may not be a "
           "multicast address"},
      {R"({"status":{"addresses":[{"type":"InternalIP","address":"192.168.213.1"}]}})", false,
       f + "node \"node1\" is not allowed to set status.addresses[0].address \"192.168.213.1\": may not be "
           "the API server's own address"},
      {R"({"status":{"addresses":[{"type":"Hostname","address":"n"},{"type":"InternalIP","address":"10.1.2.3"}]}})",
       false,
       f + "node \"node1\" is not allowed to set status.addresses[1].address \"10.1.2.3\": must be in the "
           "node "
           "network 192.168.213.0/24"},
      {R"({"status":{"addresses":[{"type":"ExternalIP","address":"203.0.113.7"}]}})", false, ""},
      {R"({"status":{"addresses":[{"type":"InternalIP","address":"192.168.213.12/24"}]}})", false,
       f + "node \"node1\" is not allowed to set status.addresses[0].address \"192.168.213.12/24\": must be "
           "a "
           "valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"},
      {R"({"status":{"daemonEndpoints":{"kubeletEndpoint":{"Port":0}}}})", false,
       f + "node \"node1\" is not allowed to set status.daemonEndpoints.kubeletEndpoint.Port 0: must be "
           "between "
           "1 and 65535, inclusive"},
      {R"({"status":{"daemonEndpoints":{"kubeletEndpoint":{"Port":65536}}}})", false,
       f + "node \"node1\" is not allowed to set status.daemonEndpoints.kubeletEndpoint.Port 65536: must be "
           "between 1 and 65535, inclusive"},
      {R"({"status":{"daemonEndpoints":{"kubeletEndpoint":{"Port":"10250"}}}})", false,
       f + "node \"node1\" is not allowed to set status.daemonEndpoints.kubeletEndpoint.Port \"10250\": must "
           "be between 1 and 65535, inclusive"},
      {R"({"status":{"daemonEndpoints":{"kubeletEndpoint":{"Port":10251}}}})", false, ""},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(verdict(kNode1, c.patch, c.create), c.message) << c.patch;
    EXPECT_EQ(verdict(kAdmin, c.patch, c.create), "") << "only nodes are restricted: " << c.patch;
  }
}

TEST(NodeRestriction, AnAddressAlreadyStoredStaysWritable) {
  // The admin pointed the node at loopback (a test's fake agent); the node's heartbeat still passes.
  json::object stored = json::parse(kStored).as_object();
  stored["status"].as_object()["addresses"] = json::parse(R"([{"type":"InternalIP","address":"127.0.0.1"}])");
  json::object heartbeat = stored;
  heartbeat["status"].as_object()["conditions"] = json::parse(R"([{"type":"Ready","status":"True"}])");
  auto r = restriction();
  EXPECT_TRUE(
      r.admit({kNode1, AdmissionOperation::kUpdate, kNodes, "status", "", "node1", &stored, heartbeat}));
}

TEST(NodeRestriction, OnlyItsOwnNodeAndItsOwnPods) {
  EXPECT_EQ(verdict(kNode1, "{}", false, "node2"),
            "nodes \"node2\" is forbidden: node \"node1\" is not allowed to modify node \"node2\"");
  json::object pod =
      json::parse(R"({"metadata":{"name":"p","namespace":"default"},"spec":{"nodeName":"node2"}})")
          .as_object();
  auto r = restriction();
  auto v = r.admit({kNode1, AdmissionOperation::kUpdate, kPods, "status", "default", "p", &pod, pod});
  ASSERT_FALSE(v);
  EXPECT_EQ(
      v.error().message,
      "pods \"p\" is forbidden: node \"node1\" can only update pod status for pods with spec.nodeName set "
      "to itself");
  pod["spec"].as_object()["nodeName"] = "node1";
  EXPECT_TRUE(r.admit({kNode1, AdmissionOperation::kUpdate, kPods, "status", "default", "p", &pod, pod}));
}

TEST(NodeRestriction, ForbiddenLabelsAreKubes) {
  EXPECT_EQ(forbidden_node_labels({"kubernetes.io/hostname", "beta.kubernetes.io/arch",
                                   "failure-domain.beta.kubernetes.io/zone", "foo.node.kubernetes.io/x",
                                   "kubernetes.io", "notkubernetes.io/x", "example.com/kubernetes.io"}),
            std::vector<std::string>{});
  EXPECT_EQ(forbidden_node_labels({"kubernetes.io/role", "x.k8s.io/y", "node-restriction.kubernetes.io/a",
                                   "a.node-restriction.kubernetes.io/b", "kubernetes.io/hostname"}),
            (std::vector<std::string>{"a.node-restriction.kubernetes.io/b", "kubernetes.io/role",
                                      "node-restriction.kubernetes.io/a", "x.k8s.io/y"}));
}

TEST(NodeValidation, PodCidrsAreKubes) {
  auto causes = [](const char* old_text, const char* node_text) {
    json::object node = json::parse(node_text).as_object();
    json::object old;
    if (old_text) old = json::parse(old_text).as_object();
    std::string out;
    for (const auto& c : validate_node(old_text ? &old : nullptr, node))
      out += c.field + ": " + c.message + "\n";
    return out;
  };
  EXPECT_EQ(causes(nullptr, R"({"spec":{"podCIDRs":["10.244.1.0/24","fd00:1::/64"]}})"), "");
  EXPECT_EQ(causes(nullptr, R"({"spec":{"podCIDRs":["nonsense"]}})"),
            "spec.podCIDRs[0]: Invalid value: []string{\"nonsense\"}: must be valid CIDR\n");
  EXPECT_EQ(causes(nullptr, R"({"spec":{"podCIDR":"10.0.0.1"}})"),
            "spec.podCIDRs[0]: Invalid value: []string{\"10.0.0.1\"}: must be valid CIDR\n");
  EXPECT_EQ(
      causes(nullptr, R"({"spec":{"podCIDRs":["10.244.1.0/24","10.244.2.0/24"]}})"),
      "spec.podCIDRs: Invalid value: []string{\"10.244.1.0/24\", \"10.244.2.0/24\"}: may specify no more "
      "than one CIDR for each IP family\n");
  EXPECT_EQ(
      causes(nullptr, R"({"spec":{"podCIDRs":["fd00::/64","fd00::/64"]}})"),
      "spec.podCIDRs: Invalid value: []string{\"fd00::/64\", \"fd00::/64\"}: may specify no more than one "
      "CIDR for each IP family\nspec.podCIDRs[1]: Duplicate value: \"fd00::/64\"\n");
  // From "" to a range once; after that for good, whoever writes.
  EXPECT_EQ(causes(R"({"spec":{}})", R"({"spec":{"podCIDRs":["10.244.1.0/24"]}})"), "");
  EXPECT_EQ(causes(R"({"spec":{"podCIDR":"10.244.1.0/24"}})", R"({"spec":{"podCIDRs":["10.244.1.0/24"]}})"),
            "");
  EXPECT_EQ(causes(R"({"spec":{"podCIDRs":["10.244.1.0/24"]}})", R"({"spec":{"podCIDRs":["0.0.0.0/1"]}})"),
            "spec.podCIDRs: Forbidden: node updates may not change podCIDR except from \"\" to valid\n");
  EXPECT_EQ(causes(R"({"spec":{"podCIDRs":["10.244.1.0/24"]}})", R"({"spec":{}})"),
            "spec.podCIDRs: Forbidden: node updates may not change podCIDR except from \"\" to valid\n");
  EXPECT_EQ(
      causes(R"({})", R"({"status":{"addresses":[{"type":"InternalIP","address":"10.0.0.1"},
                     {"type":"InternalIP","address":"10.0.0.1"}]}})"),
      "status.addresses[1]: Duplicate value: core.NodeAddress{Type:\"InternalIP\", Address:\"10.0.0.1\"}\n");
}

TEST(NodeValidation, PodCidrFollowsPodCidrs) {
  NodeValidation hook;
  json::object node =
      json::parse(R"({"metadata":{"name":"n"},"spec":{"podCIDR":"10.244.1.0/24"}})").as_object();
  ASSERT_TRUE(hook.before_write(nullptr, node));
  EXPECT_EQ(json::serialize(node.at("spec")), R"({"podCIDR":"10.244.1.0/24","podCIDRs":["10.244.1.0/24"]})");
  node =
      json::parse(R"({"metadata":{"name":"n"},"spec":{"podCIDR":"1.0.0.0/8","podCIDRs":["10.244.2.0/24"]}})")
          .as_object();
  ASSERT_TRUE(hook.before_write(nullptr, node));
  EXPECT_EQ(json::serialize(node.at("spec")), R"({"podCIDR":"10.244.2.0/24","podCIDRs":["10.244.2.0/24"]})");
  json::object bad = json::parse(R"({"metadata":{"name":"n"},"spec":{"podCIDRs":["x"]}})").as_object();
  auto refused = hook.before_write(nullptr, bad);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, 422);
  EXPECT_EQ(refused.error().message,
            "Node \"n\" is invalid: spec.podCIDRs[0]: Invalid value: []string{\"x\"}: must be valid CIDR");
}

}  // namespace
}  // namespace podnet::apiserver
