// The node role mirrors kube's system:node ClusterRole plus the Node authorizer's object checks:
// reads of what the agent watches, writes only to its own Node and to pods bound to it.
#include "apiserver/authorizer.h"

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
        std::string watch = query("watch");
        a.verb = watch == "true" || watch == "1" ? "watch" : "list";
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

bool Authorizer::allowed(const Identity& who, const RequestAttributes& what) const {
  if (!who.authenticated) return false;
  if (has_group(who, "system:masters")) return true;
  if (!what.resource_request) return what.verb == "get" && public_path(what.path);
  if (auto node = node_name_of(who)) return node_allowed(*node, what);
  return false;
}

bool Authorizer::node_allowed(const std::string& node, const RequestAttributes& a) const {
  const bool core = a.group.empty();
  const bool plain = a.subresource.empty();
  if (read_verb(a.verb) && (plain || a.subresource == "status")) {
    if (core && (a.resource == "services" || a.resource == "pods" || a.resource == "nodes" ||
                 a.resource == "namespaces"))
      return true;
    if (a.group == "discovery.k8s.io" && a.resource == "endpointslices") return true;
  }
  if (core && a.resource == "nodes") {
    if (a.verb == "create" && plain) return a.object_name == node;
    if (write_verb(a.verb) && (plain || a.subresource == "status")) return a.name == node;
    return false;
  }
  if (core && a.resource == "pods" && !a.name.empty()) {
    // Status reports and the final delete after the containers stopped, for its own pods only.
    bool status_write = write_verb(a.verb) && a.subresource == "status";
    bool final_delete = a.verb == "delete" && plain;
    if (!status_write && !final_delete) return false;
    auto bound_to = pod_node_(a.ns, a.name);
    return bound_to && *bound_to == node;
  }
  if (core && a.resource == "events" && plain)
    return a.verb == "create" || a.verb == "update" || a.verb == "patch";
  return false;
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
