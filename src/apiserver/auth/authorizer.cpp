// The node role mirrors kube's system:node ClusterRole plus the Node authorizer's object checks:
// reads of what the agent watches (and, as a policy agent, NetworkPolicies cluster-wide), writes
// only to its own Node and to pods bound to it. Unlike
// kube's node role it holds no SubjectAccessReview or TokenReview: the agent serves no API that
// would delegate its authorization, so a node credential cannot ask about other users.
#include "apiserver/auth/authorizer.h"

#include <algorithm>

namespace podnet::apiserver {
namespace {

constexpr std::string_view kNodeUserPrefix = "system:node:";

bool has_group(const Identity& who, std::string_view group) {
  return std::find(who.groups.begin(), who.groups.end(), group) != who.groups.end();
}

bool read_verb(const std::string& verb) {
  return verb == "get" || verb == "list" || verb == "watch";
}

bool write_verb(const std::string& verb) {
  return verb == "update" || verb == "patch";
}

constexpr const char* kVerbs[] = {"get",    "list",  "watch",  "create",
                                  "update", "patch", "delete", "deletecollection"};

// kube's system:basic-user: anyone may ask what it may do and who it is.
bool self_review(const RequestAttributes& a) {
  if (a.verb != "create" || !a.subresource.empty()) return false;
  if (a.group == "authorization.k8s.io")
    return a.resource == "selfsubjectaccessreviews" || a.resource == "selfsubjectrulesreviews";
  return a.group == "authentication.k8s.io" && a.resource == "selfsubjectreviews";
}

// What every authenticated user may read: health, version and discovery (kube's system:discovery
// and system:public-info-viewer roles). /metrics is not among them.
bool public_path(const std::string& path) {
  for (std::string_view exact : {"/healthz", "/livez", "/readyz", "/version", "/api", "/apis", "/openapi/v3"})
    if (path == exact) return true;
  for (std::string_view prefix : {"/api/", "/apis/", "/openapi/"})
    if (path.starts_with(prefix)) return true;
  return false;
}

std::string lowercase(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

RequestAttributes request_attributes(http::verb method, const Target& target) {
  RequestAttributes a;
  a.path = target.path;
  auto rp = parse_resource_path(target.path);
  if (!rp) {
    a.verb = lowercase(http::to_string(method));
    return a;
  }
  a.resource_request = true;
  a.group = rp->group;
  a.version = rp->version;
  a.resource = rp->resource;
  a.subresource = rp->subresource;
  a.ns = rp->ns;
  a.name = rp->name;
  auto query = [&](const char* key) {
    auto it = target.query.find(key);
    return it == target.query.end() ? std::string() : it->second;
  };
  switch (method) {
    case http::verb::get:
    case http::verb::head:
      a.verb = "get";
      if (a.name.empty()) {
        a.verb = query_flag(target.query, "watch") ? "watch" : "list";
        // A list of exactly one name is authorized as that object (informers of a single Node).
        std::string fields = query("fieldSelector");
        for (std::string_view prefix : {"metadata.name=", "metadata.name=="})
          if (fields.starts_with(prefix) && fields.find(',') == std::string::npos)
            a.name = fields.substr(prefix.size());
      }
      break;
    case http::verb::post:
      a.verb = "create";
      break;
    case http::verb::put:
      a.verb = "update";
      break;
    case http::verb::patch:
      a.verb = "patch";
      break;
    case http::verb::delete_:
      a.verb = a.name.empty() ? "deletecollection" : "delete";
      break;
    default:
      a.verb = lowercase(http::to_string(method));
      break;
  }
  return a;
}

std::optional<std::string> node_name_of(const Identity& who) {
  if (!who.authenticated || !has_group(who, "system:nodes")) return std::nullopt;
  if (!who.user.starts_with(kNodeUserPrefix) || who.user.size() == kNodeUserPrefix.size())
    return std::nullopt;
  return who.user.substr(kNodeUserPrefix.size());
}

Decision Authorizer::authorize(const Identity& who, const RequestAttributes& what) const {
  if (!who.authenticated) return {};
  if (has_group(who, "system:masters")) return {true, ""};
  if (!what.resource_request) return {what.verb == "get" && public_path(what.path), ""};
  if (self_review(what)) return {true, ""};
  if (auto node = node_name_of(who)) return node_decision(*node, what);
  if (who.user == kControllerUser) return {controller_allowed(what), ""};
  return {};
}

// The union of kube's roles of the controllers podnet runs (system:controller:node-controller,
// endpointslice-controller, pod-garbage-collector, service-controller, system:kube-scheduler,
// and the API server's own `default/kubernetes` reconciler): read the kinds they watch, write what
// each of them owns, record events; nothing else (no secrets, no namespaces writes, no policies).
bool controller_allowed(const RequestAttributes& a) {
  const bool core = a.group.empty();
  const bool plain = a.subresource.empty();
  const bool status = a.subresource == "status";
  if (read_verb(a.verb) && (plain || status)) {
    if (core && (a.resource == "nodes" || a.resource == "pods" || a.resource == "services" ||
                 a.resource == "namespaces"))
      return true;
    if (a.group == "discovery.k8s.io" && a.resource == "endpointslices") return true;
  }
  if (core && a.resource == "nodes") return write_verb(a.verb) && (plain || status);
  if (core && a.resource == "pods") {
    if (write_verb(a.verb) && status) return true;            // scheduler, node lifecycle
    if (a.verb == "delete" && plain) return true;             // pod GC
    return a.verb == "create" && a.subresource == "binding";  // scheduler
  }
  // The `default/kubernetes` reconciler creates, repairs and, when a repair is refused, recreates
  // the Service; the service controller writes status.
  if (core && a.resource == "services")
    return (plain && (a.verb == "create" || a.verb == "delete")) || (write_verb(a.verb) && (plain || status));
  if (a.group == "discovery.k8s.io" && a.resource == "endpointslices") return plain;  // every verb
  if (core && a.resource == "events" && plain)
    return a.verb == "create" || a.verb == "update" || a.verb == "patch";
  return false;
}

Decision Authorizer::node_decision(const std::string& node, const RequestAttributes& a) const {
  const bool core = a.group.empty();
  const bool plain = a.subresource.empty();
  if (read_verb(a.verb) && (plain || a.subresource == "status")) {
    if (core && (a.resource == "services" || a.resource == "pods" || a.resource == "nodes" ||
                 a.resource == "namespaces"))
      return {true, ""};
    if (a.group == "discovery.k8s.io" && a.resource == "endpointslices") return {true, ""};
    // What the node enforces: NetworkPolicies of every namespace (the peers they select are the
    // pods and namespaces above).
    if (a.group == "networking.k8s.io" && a.resource == "networkpolicies" && plain) return {true, ""};
  }
  if (core && a.resource == "nodes") {
    if (a.verb == "create" && plain) return {a.object_name == node, ""};
    if (write_verb(a.verb) && (plain || a.subresource == "status")) return {a.name == node, ""};
    return {};
  }
  if (core && a.resource == "pods" && !a.name.empty()) {
    // Status reports and the final delete after the containers stopped, for its own pods only.
    bool status_write = write_verb(a.verb) && a.subresource == "status";
    bool final_delete = a.verb == "delete" && plain;
    if (!status_write && !final_delete) return {};
    auto bound_to = pod_node_(a.ns, a.name);
    if (bound_to && *bound_to == node) return {true, ""};
    return {false, "no relationship found between node '" + node + "' and this object"};
  }
  if (core && a.resource == "events" && plain)
    return {a.verb == "create" || a.verb == "update" || a.verb == "patch", ""};
  return {};
}

Rules Authorizer::rules_for(const Identity& who, const std::string& ns,
                            const std::vector<ServedResource>& served,
                            const std::vector<std::string>& paths) const {
  Rules rules;
  RequestAttributes everything{"*", true, "", "*", "", "*", "", "", "", ""};
  if (allowed(who, everything)) rules.resource_rules.push_back({{"*"}, {"*"}, {"*"}, {}});
  RequestAttributes any_path{"*", false, "*"};
  if (allowed(who, any_path)) rules.non_resource_rules.push_back({{"*"}, {"*"}});
  if (!rules.resource_rules.empty() && !rules.non_resource_rules.empty()) return rules;

  auto node = node_name_of(who);
  for (const auto& r : served) {
    RequestAttributes a;
    a.resource_request = true;
    a.group = r.group;
    size_t slash = r.resource.find('/');
    a.resource = r.resource.substr(0, slash);
    a.subresource = slash == std::string::npos ? "" : r.resource.substr(slash + 1);
    a.ns = r.namespaced ? ns : "";
    std::vector<std::string> verbs, own_verbs;
    for (const char* verb : kVerbs) {
      a.verb = verb;
      a.name.clear();
      a.object_name.clear();
      if (allowed(who, a)) {
        verbs.push_back(verb);
        continue;
      }
      // A node's rights on its own Node name the object.
      if (!node || r.namespaced) continue;
      a.name = a.verb == "create" ? "" : *node;
      a.object_name = *node;
      if (allowed(who, a)) own_verbs.push_back(verb);
    }
    if (!verbs.empty()) rules.resource_rules.push_back({verbs, {r.group}, {r.resource}, {}});
    if (!own_verbs.empty()) rules.resource_rules.push_back({own_verbs, {r.group}, {r.resource}, {*node}});
  }
  if (rules.non_resource_rules.empty()) {
    std::vector<std::string> readable;
    for (const auto& path : paths)
      if (allowed(who, RequestAttributes{"get", false, path})) readable.push_back(path);
    if (!readable.empty()) rules.non_resource_rules.push_back({{"get"}, readable});
  }
  if (node) {
    rules.incomplete = true;
    rules.evaluation_error =
        "the status and deletion of pods bound to node \"" + *node + "\" are decided per pod and not listed";
  }
  return rules;
}

Identity controller_identity() {
  return Identity{true, std::string(kControllerUser), {}};
}

ApiError forbidden(const Identity& who, const RequestAttributes& a) {
  std::string reason;
  if (!a.resource_request) {
    reason = "User \"" + who.user + "\" cannot " + a.verb + " path \"" + a.path + "\"";
    return {403, "Forbidden", "forbidden: " + reason};
  }
  std::string resource = a.subresource.empty() ? a.resource : a.resource + "/" + a.subresource;
  reason = "User \"" + who.user + "\" cannot " + a.verb + " resource \"" + resource + "\" in API group \"" +
           a.group + "\"";
  reason += a.ns.empty() ? " at the cluster scope" : " in the namespace \"" + a.ns + "\"";
  std::string qualified = a.group.empty() ? a.resource : a.resource + "." + a.group;
  std::string subject = a.name.empty() ? qualified : qualified + " \"" + a.name + "\"";
  return {403, "Forbidden", subject + " is forbidden: " + reason, a.name, a.group, a.resource};
}

}  // namespace podnet::apiserver
