// The authorizer's decisions, table-driven: request attributes from real URLs, identities as the
// TLS layer produces them, and a fixed pod-to-node table for the pod checks.
#include "apiserver/auth/authorizer.h"

#include <gtest/gtest.h>

#include <map>

namespace podnet::apiserver {
namespace {

const Identity kAdmin{true, "podnet-admin", {"system:masters"}};
const Identity kNode1{true, "system:node:node1", {"system:nodes"}};
const Identity kStranger{true, "alice", {"developers"}};
const Identity kFakeNode{true, "system:node:node1", {}};  // right name, not in system:nodes

Authorizer make_authorizer() {
  static const std::map<std::string, std::string> kPods{
      {"default/on-node1", "node1"}, {"default/on-node2", "node2"}, {"default/unbound", ""}};
  return Authorizer([](const std::string& ns, const std::string& name) -> std::optional<std::string> {
    auto it = kPods.find(ns + "/" + name);
    if (it == kPods.end()) return std::nullopt;
    return it->second;
  });
}

struct Case {
  const Identity* who;
  http::verb method;
  const char* target;
  bool allowed;
  const char* object_name = "";
};

TEST(Authorizer, Table) {
  using V = http::verb;
  const Case cases[] = {
      // The admin may do anything, resource or not.
      {&kAdmin, V::delete_, "/api/v1/nodes/node2", true},
      {&kAdmin, V::get, "/metrics", true},
      {&kAdmin, V::delete_, "/api/v1/namespaces/default/pods", true},
      // Nodes read what an agent watches.
      {&kNode1, V::get, "/api/v1/services?watch=true", true},
      {&kNode1, V::get, "/api/v1/namespaces/default/services/web", true},
      {&kNode1, V::get, "/apis/discovery.k8s.io/v1/endpointslices", true},
      {&kNode1, V::get, "/api/v1/pods?fieldSelector=spec.nodeName%3Dnode1", true},
      {&kNode1, V::get, "/api/v1/nodes", true},
      {&kNode1, V::get, "/api/v1/namespaces", true},
      {&kNode1, V::get, "/api/v1/namespaces/default/pods/on-node2/status", true},
      // NetworkPolicies everywhere, read only (what a policy agent enforces).
      {&kNode1, V::get, "/apis/networking.k8s.io/v1/networkpolicies", true},
      {&kNode1, V::get, "/apis/networking.k8s.io/v1/networkpolicies?watch=true", true},
      {&kNode1, V::get, "/apis/networking.k8s.io/v1/namespaces/prod/networkpolicies/deny", true},
      {&kNode1, V::post, "/apis/networking.k8s.io/v1/namespaces/prod/networkpolicies", false},
      {&kNode1, V::put, "/apis/networking.k8s.io/v1/namespaces/prod/networkpolicies/deny", false},
      {&kNode1, V::patch, "/apis/networking.k8s.io/v1/namespaces/prod/networkpolicies/deny", false},
      {&kNode1, V::delete_, "/apis/networking.k8s.io/v1/namespaces/prod/networkpolicies/deny", false},
      {&kNode1, V::delete_, "/apis/networking.k8s.io/v1/namespaces/prod/networkpolicies", false},
      {&kStranger, V::get, "/apis/networking.k8s.io/v1/networkpolicies", false},
      {&kFakeNode, V::get, "/apis/networking.k8s.io/v1/networkpolicies", false},
      // ... and nothing else.
      {&kNode1, V::get, "/apis/networking.k8s.io/v1/ingresses", false},
      {&kNode1, V::get, "/api/v1/secrets", false},
      {&kNode1, V::get, "/api/v1/namespaces/default/configmaps", false},
      {&kNode1, V::get, "/api/v1/events", false},
      {&kNode1, V::get, "/api/v1/namespaces/default/pods/on-node1/log", false},
      // Its own Node: create, update, patch, status; not other nodes, not delete.
      {&kNode1, V::post, "/api/v1/nodes", true, "node1"},
      {&kNode1, V::post, "/api/v1/nodes", false, "node2"},
      {&kNode1, V::post, "/api/v1/nodes", false, ""},
      {&kNode1, V::put, "/api/v1/nodes/node1", true},
      {&kNode1, V::patch, "/api/v1/nodes/node1/status", true},
      {&kNode1, V::patch, "/api/v1/nodes/node2", false},
      {&kNode1, V::put, "/api/v1/nodes/node2/status", false},
      {&kNode1, V::delete_, "/api/v1/nodes/node1", false},
      // Pods: status and the final delete of pods bound to it only.
      {&kNode1, V::patch, "/api/v1/namespaces/default/pods/on-node1/status", true},
      {&kNode1, V::put, "/api/v1/namespaces/default/pods/on-node1/status", true},
      {&kNode1, V::delete_, "/api/v1/namespaces/default/pods/on-node1", true},
      {&kNode1, V::patch, "/api/v1/namespaces/default/pods/on-node2/status", false},
      {&kNode1, V::delete_, "/api/v1/namespaces/default/pods/on-node2", false},
      {&kNode1, V::patch, "/api/v1/namespaces/default/pods/unbound/status", false},
      {&kNode1, V::patch, "/api/v1/namespaces/default/pods/missing/status", false},
      {&kNode1, V::patch, "/api/v1/namespaces/default/pods/on-node1", false},
      {&kNode1, V::post, "/api/v1/namespaces/default/pods", false},
      {&kNode1, V::delete_, "/api/v1/namespaces/default/pods", false},
      // Events: recorded, not read.
      {&kNode1, V::post, "/api/v1/namespaces/default/events", true},
      {&kNode1, V::patch, "/api/v1/namespaces/default/events/e1", true},
      {&kNode1, V::delete_, "/api/v1/namespaces/default/events/e1", false},
      // Other writes.
      {&kNode1, V::post, "/api/v1/namespaces/default/services", false},
      {&kNode1, V::put, "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices/s", false},
      // Discovery and health for everyone authenticated; /metrics for the admin only.
      {&kNode1, V::get, "/api", true},
      {&kNode1, V::get, "/apis/discovery.k8s.io/v1", true},
      {&kNode1, V::get, "/openapi/v3", true},
      {&kNode1, V::get, "/version", true},
      {&kNode1, V::get, "/healthz", true},
      {&kNode1, V::get, "/metrics", false},
      {&kStranger, V::get, "/version", true},
      {&kStranger, V::get, "/api/v1/pods", false},
      {&kStranger, V::get, "/metrics", false},
      // A node name without the group is nobody.
      {&kFakeNode, V::get, "/api/v1/pods", false},
      {&kFakeNode, V::put, "/api/v1/nodes/node1", false},
      // Everyone may ask about its own access and identity (kube's system:basic-user) ...
      {&kStranger, V::post, "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", true},
      {&kStranger, V::post, "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews", true},
      {&kStranger, V::post, "/apis/authentication.k8s.io/v1/selfsubjectreviews", true},
      {&kNode1, V::post, "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", true},
      {&kStranger, V::get, "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", false},
      // ... only the admin about someone else's.
      {&kAdmin, V::post, "/apis/authorization.k8s.io/v1/subjectaccessreviews", true},
      {&kNode1, V::post, "/apis/authorization.k8s.io/v1/subjectaccessreviews", false},
      {&kStranger, V::post, "/apis/authorization.k8s.io/v1/subjectaccessreviews", false},
      {&kFakeNode, V::post, "/apis/authorization.k8s.io/v1/subjectaccessreviews", false},
  };
  Authorizer authorizer = make_authorizer();
  for (const auto& c : cases) {
    RequestAttributes a = request_attributes(c.method, parse_target(c.target));
    a.object_name = c.object_name;
    EXPECT_EQ(authorizer.allowed(*c.who, a), c.allowed)
        << c.who->user << " " << http::to_string(c.method) << " " << c.target << " name=" << c.object_name;
  }
}

TEST(Authorizer, AnonymousIsNeverAllowed) {
  Identity anonymous;
  EXPECT_FALSE(
      make_authorizer().allowed(anonymous, request_attributes(http::verb::get, parse_target("/version"))));
}

TEST(Authorizer, RequestAttributesFollowKubeVerbs) {
  struct {
    http::verb method;
    const char* target;
    const char* verb;
    const char* name;
  } cases[] = {
      {http::verb::get, "/api/v1/pods", "list", ""},
      {http::verb::get, "/api/v1/pods?watch=1", "watch", ""},
      {http::verb::get, "/api/v1/nodes?watch=true&fieldSelector=metadata.name%3Dnode1", "watch", "node1"},
      {http::verb::get, "/api/v1/namespaces/a/pods/p", "get", "p"},
      {http::verb::delete_, "/api/v1/namespaces/a/pods", "deletecollection", ""},
      {http::verb::delete_, "/api/v1/namespaces/a/pods/p", "delete", "p"},
      {http::verb::post, "/api/v1/namespaces/a/pods", "create", ""},
      {http::verb::put, "/api/v1/namespaces/a/pods/p/status", "update", "p"},
      {http::verb::patch, "/api/v1/nodes/n", "patch", "n"},
  };
  for (const auto& c : cases) {
    auto a = request_attributes(c.method, parse_target(c.target));
    EXPECT_TRUE(a.resource_request) << c.target;
    EXPECT_EQ(a.verb, c.verb) << c.target;
    EXPECT_EQ(a.name, c.name) << c.target;
  }
  auto health = request_attributes(http::verb::get, parse_target("/healthz"));
  EXPECT_FALSE(health.resource_request);
  EXPECT_EQ(health.verb, "get");
}

TEST(Authorizer, ForbiddenMessagesUseKubeWording) {
  auto patch = request_attributes(http::verb::patch, parse_target("/api/v1/nodes/node2"));
  ApiError e = forbidden(kNode1, patch);
  EXPECT_EQ(e.code, 403);
  EXPECT_EQ(e.reason, "Forbidden");
  EXPECT_EQ(e.message,
            "nodes \"node2\" is forbidden: User \"system:node:node1\" cannot patch resource \"nodes\" in API "
            "group \"\" at the cluster scope");
  EXPECT_EQ(e.name, "node2");
  EXPECT_EQ(e.kind, "nodes");

  auto list = request_attributes(http::verb::get, parse_target("/apis/apps/v1/namespaces/prod/deployments"));
  EXPECT_EQ(forbidden(kNode1, list).message,
            "deployments.apps is forbidden: User \"system:node:node1\" cannot list resource "
            "\"deployments\" in API group \"apps\" in the namespace \"prod\"");

  auto create = request_attributes(
      http::verb::post, parse_target("/apis/networking.k8s.io/v1/namespaces/prod/networkpolicies"));
  EXPECT_EQ(
      forbidden(kNode1, create).message,
      "networkpolicies.networking.k8s.io is forbidden: User \"system:node:node1\" cannot create resource "
      "\"networkpolicies\" in API group \"networking.k8s.io\" in the namespace \"prod\"");

  auto status = request_attributes(http::verb::put, parse_target("/api/v1/namespaces/default/pods/p/status"));
  EXPECT_EQ(
      forbidden(kNode1, status).message,
      "pods \"p\" is forbidden: User \"system:node:node1\" cannot update resource \"pods/status\" in API "
      "group \"\" in the namespace \"default\"");

  auto metrics = request_attributes(http::verb::get, parse_target("/metrics"));
  EXPECT_EQ(forbidden(kNode1, metrics).message,
            "forbidden: User \"system:node:node1\" cannot get path \"/metrics\"");
}

TEST(Authorizer, DenialsSayWhyWhereKubeDoes) {
  auto status =
      request_attributes(http::verb::patch, parse_target("/api/v1/namespaces/default/pods/on-node2/status"));
  Decision d = make_authorizer().authorize(kNode1, status);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.reason, "no relationship found between node 'node1' and this object");
}

// The rules a review lists are the decisions themselves, asked resource by resource.
TEST(Authorizer, RulesAreTheDecisions) {
  const std::vector<ServedResource> served{{"", "nodes", false},
                                           {"", "nodes/status", false},
                                           {"", "pods", true},
                                           {"", "pods/status", true},
                                           {"", "events", true},
                                           {"networking.k8s.io", "networkpolicies", true},
                                           {"authorization.k8s.io", "selfsubjectaccessreviews", false}};
  const std::vector<std::string> paths{"/api", "/api/*", "/metrics", "/version"};
  Authorizer authorizer = make_authorizer();
  auto render = [](const Rules& r) {
    std::string out;
    for (const auto& rule : r.resource_rules) {
      auto join = [](const std::vector<std::string>& v) {
        std::string s;
        for (const auto& x : v) s += (s.empty() ? "" : ",") + x;
        return s;
      };
      out += join(rule.api_groups) + "|" + join(rule.resources) + "|" + join(rule.resource_names) + "|" +
             join(rule.verbs) + "\n";
    }
    for (const auto& rule : r.non_resource_rules) {
      std::string urls;
      for (const auto& u : rule.urls) urls += (urls.empty() ? "" : ",") + u;
      out += "nonresource|" + urls + "|" + rule.verbs.front() + "\n";
    }
    return out;
  };
  Rules admin = authorizer.rules_for(kAdmin, "default", served, paths);
  EXPECT_EQ(render(admin), "*|*||*\nnonresource|*|*\n");
  EXPECT_FALSE(admin.incomplete);

  Rules node = authorizer.rules_for(kNode1, "default", served, paths);
  EXPECT_EQ(render(node),
            "|nodes||get,list,watch\n"
            "|nodes|node1|create,update,patch\n"
            "|nodes/status||get,list,watch\n"
            "|nodes/status|node1|update,patch\n"
            "|pods||get,list,watch\n"
            "|pods/status||get,list,watch\n"
            "|events||create,update,patch\n"
            "networking.k8s.io|networkpolicies||get,list,watch\n"
            "authorization.k8s.io|selfsubjectaccessreviews||create\n"
            "nonresource|/api,/api/*,/version|get\n");
  EXPECT_TRUE(node.incomplete);
  EXPECT_EQ(node.evaluation_error,
            "the status and deletion of pods bound to node \"node1\" are decided per pod and not listed");

  Rules stranger = authorizer.rules_for(kStranger, "default", served, paths);
  EXPECT_EQ(render(stranger),
            "authorization.k8s.io|selfsubjectaccessreviews||create\nnonresource|/api,/api/*,/version|get\n");
  EXPECT_FALSE(stranger.incomplete);
}

TEST(Authorizer, NodeNameOfIdentity) {
  EXPECT_EQ(node_name_of(kNode1), "node1");
  EXPECT_EQ(node_name_of(kFakeNode), std::nullopt);
  EXPECT_EQ(node_name_of(kAdmin), std::nullopt);
  EXPECT_EQ(node_name_of(Identity{true, "system:node:", {"system:nodes"}}), std::nullopt);
}

}  // namespace
}  // namespace podnet::apiserver
