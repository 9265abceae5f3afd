// Who may do what. The admin (group system:masters) may do everything; a node (user
// system:node:<name> in group system:nodes) gets the kubelet's narrow role; the controllers (user
// system:kube-controller-manager) the union of kube's controller roles; every authenticated
// user may read discovery and ask about its own access (kube's system:basic-user); nobody else
// anything. Decisions are pure functions of the request's attributes and one lookup (the node a pod
// is on); what a write then contains is admission's business (node_restriction.h).
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "apiserver/api_error.h"
#include "apiserver/http/http_types.h"
#include "apiserver/http/request_info.h"

namespace podnet::apiserver {

// kube's authorizer.Attributes: what a request does, from its method, path and query.
struct RequestAttributes {
  std::string verb;  // get list watch create update patch delete deletecollection (resources),
                     // or the lowercase HTTP method (non-resource paths)
  bool resource_request = false;
  std::string path;  // non-resource requests: the URL path
  std::string group, version, resource, subresource, ns, name;
  // create: metadata.name from the body (the URL names none); only used for the decision.
  std::string object_name;
};

// kube's RequestInfoFactory verbs: GET without a name is list (watch with watch=true), DELETE
// without a name is deletecollection, a list narrowed to one metadata.name names that object.
RequestAttributes request_attributes(http::verb method, const Target& target);

// The node a pod is bound to (spec.nodeName), nullopt when the pod does not exist.
using PodNodeLookup =
    std::function<std::optional<std::string>(const std::string& ns, const std::string& name)>;

// kube's authorizer decision: allowed or not, and why not when the authorizer can say.
struct Decision {
  bool allowed = false;
  std::string reason;
};

// A resource the server serves, as the rules review asks about it.
struct ServedResource {
  std::string group;
  std::string resource;  // "pods" or "pods/status"
  bool namespaced = true;
};

// kube's SubjectRulesReviewStatus: what a user may do, as far as it can be listed.
struct ResourceRule {
  std::vector<std::string> verbs, api_groups, resources, resource_names;
};
struct NonResourceRule {
  std::vector<std::string> verbs, urls;
};
struct Rules {
  std::vector<ResourceRule> resource_rules;
  std::vector<NonResourceRule> non_resource_rules;
  bool incomplete = false;  // some decisions depend on the object and are not listed
  std::string evaluation_error;
};

class Authorizer {
 public:
  explicit Authorizer(PodNodeLookup pod_node) : pod_node_(std::move(pod_node)) {}
  bool allowed(const Identity& who, const RequestAttributes& what) const {
    return authorize(who, what).allowed;
  }
  Decision authorize(const Identity& who, const RequestAttributes& what) const;
  // The rules of `who` in namespace `ns`, found by asking authorize() about every resource in
  // `served` and every path in `paths`, so they cannot disagree with the decisions themselves.
  Rules rules_for(const Identity& who, const std::string& ns, const std::vector<ServedResource>& served,
                  const std::vector<std::string>& paths) const;

 private:
  Decision node_decision(const std::string& node, const RequestAttributes& what) const;
  PodNodeLookup pod_node_;
};

// The user the in-process controllers act as (kube's controller manager's user); its role is
// controller_allowed().
inline constexpr std::string_view kControllerUser = "system:kube-controller-manager";
// What the controller identity may do.
bool controller_allowed(const RequestAttributes& what);
Identity controller_identity();

// The node name of a node identity (system:node:<name> in system:nodes), nullopt for others.
std::optional<std::string> node_name_of(const Identity& who);

// kube's 403: `nodes "node2" is forbidden: User "system:node:node1" cannot patch resource "nodes"
// in API group "" at the cluster scope`.
ApiError forbidden(const Identity& who, const RequestAttributes& what);

}  // namespace podnet::apiserver
