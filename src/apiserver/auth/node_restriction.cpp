// Messages are kube's (plugin/pkg/admission/noderestriction) where kube has the rule, so clients and
// people see what they would see against kube-apiserver; podnet's own rules are worded alike.
#include "apiserver/auth/node_restriction.h"

#include <algorithm>
#include <boost/json.hpp>
#include <set>

#include "apiserver/auth/authorizer.h"
#include "apiserver/validation/field_error.h"
#include "apiserver/validation/ip_validation.h"
#include "apiserver/validation/node_validation.h"
#include "apiserver/validation/service_spec.h"

namespace podnet::apiserver {
namespace json = boost::json;
using svc::array;
using svc::object;
using svc::str;

namespace {

std::string quoted(const std::string& s) {
  return "\"" + s + "\"";
}

std::string label_namespace(const std::string& key) {
  size_t slash = key.find('/');
  return slash == std::string::npos ? std::string() : key.substr(0, slash);
}

bool in_domain(const std::string& ns, std::string_view domain) {
  return ns == domain ||
         (ns.size() > domain.size() && ns.ends_with(domain) && ns[ns.size() - domain.size() - 1] == '.');
}

// kubelet's own labels (k8s.io/kubelet/pkg/apis IsKubeletLabel).
bool kubelet_label(const std::string& key) {
  static const std::set<std::string> kLabels{"kubernetes.io/hostname",
                                             "topology.kubernetes.io/zone",
                                             "topology.kubernetes.io/region",
                                             "failure-domain.beta.kubernetes.io/zone",
                                             "failure-domain.beta.kubernetes.io/region",
                                             "beta.kubernetes.io/instance-type",
                                             "node.kubernetes.io/instance-type",
                                             "kubernetes.io/os",
                                             "kubernetes.io/arch",
                                             "beta.kubernetes.io/os",
                                             "beta.kubernetes.io/arch"};
  if (kLabels.contains(key)) return true;
  std::string ns = label_namespace(key);
  return in_domain(ns, "kubelet.kubernetes.io") || in_domain(ns, "node.kubernetes.io");
}

const json::object& labels_of(const json::object* obj) {
  static const json::object kNone;
  const json::object* meta = obj ? object(*obj, "metadata") : nullptr;
  const json::object* labels = meta ? object(*meta, "labels") : nullptr;
  return labels ? *labels : kNone;
}

// Keys added, removed or changed between `before` and `after` (kube's getModifiedLabels).
std::vector<std::string> modified_labels(const json::object& after, const json::object& before) {
  std::set<std::string> out;
  for (const auto& [k, v] : after)
    if (const json::value* w = before.if_contains(k); !w || *w != v) out.insert(std::string(k));
  for (const auto& [k, v] : before)
    if (!after.contains(k)) out.insert(std::string(k));
  return {out.begin(), out.end()};
}

std::string joined(const std::vector<std::string>& keys) {
  std::string out;
  for (const auto& k : keys) out += (out.empty() ? "" : ", ") + k;
  return out;
}

// A spec field as stored; null when absent (kube: a nil pointer or empty slice).
json::value spec_field(const json::object* node, std::string_view key) {
  const json::object* spec = node ? object(*node, "spec") : nullptr;
  const json::value* v = spec ? spec->if_contains(key) : nullptr;
  if (!v || v->is_null() || (v->is_array() && v->get_array().empty())) return nullptr;
  return *v;
}

const json::value* kubelet_port(const json::object& node) {
  const json::object* status = object(node, "status");
  const json::object* endpoints = status ? object(*status, "daemonEndpoints") : nullptr;
  const json::object* kubelet = endpoints ? object(*endpoints, "kubeletEndpoint") : nullptr;
  return kubelet ? kubelet->if_contains("Port") : nullptr;
}

const json::array* addresses_of(const json::object* node) {
  const json::object* status = node ? object(*node, "status") : nullptr;
  return status ? array(*status, "addresses") : nullptr;
}

// What a node may write events about (kubelet's): itself and the pods bound to it.
enum class EventSubject { kNode, kPod, kOther };

EventSubject event_subject(std::string_view involved_kind) {
  static constexpr std::pair<std::string_view, EventSubject> kSubjects[] = {{"Node", EventSubject::kNode},
                                                                            {"Pod", EventSubject::kPod}};
  for (const auto& [kind, subject] : kSubjects)
    if (kind == involved_kind) return subject;
  return EventSubject::kOther;
}

}  // namespace

std::vector<std::string> forbidden_node_labels(const std::vector<std::string>& modified) {
  std::set<std::string> out;
  for (const auto& key : modified) {
    std::string ns = label_namespace(key);
    bool restricted = in_domain(ns, "node-restriction.kubernetes.io");
    bool kubernetes = in_domain(ns, "kubernetes.io") || in_domain(ns, "k8s.io");
    if (restricted || (kubernetes && !kubelet_label(key))) out.insert(key);
  }
  return {out.begin(), out.end()};
}

ApiResult<void> NodeRestriction::admit(const AdmissionRequest& request) const {
  auto node = node_name_of(request.user);
  if (!node) return {};  // only nodes are restricted here
  const ResourceType& t = request.type;
  if (!t.group.empty()) return {};
  if (t.plural == "nodes") return admit_node(*node, request);
  if (t.plural == "events") {
    // An update is judged on what the event was too: a node may not take over another's.
    if (request.old)
      if (auto verdict = admit_event(*node, request, *request.old); !verdict) return verdict;
    return admit_event(*node, request, request.object);
  }
  if (t.plural == "pods" && request.subresource == "status" && request.old) {
    if (str(svc::spec_of(*request.old), "nodeName") != *node)
      return api_fail(admission_forbidden(
          request,
          "node " + quoted(*node) + " can only update pod status for pods with spec.nodeName set to itself"));
  }
  return {};
}

ApiResult<void> NodeRestriction::admit_node(const std::string& node, const AdmissionRequest& request) const {
  auto refuse = [&](const std::string& why) { return api_fail(admission_forbidden(request, why)); };
  const std::string who = "node " + quoted(node);
  if (request.name != node) return refuse(who + " is not allowed to modify node " + quoted(request.name));
  const json::object& obj = request.object;
  const json::object* old = request.old;
  if (request.operation == AdmissionOperation::kCreate) {
    if (!spec_field(&obj, "configSource").is_null())
      return refuse(who + " is not allowed to create pods with a non-nil configSource");
    auto forbidden = forbidden_node_labels(modified_labels(labels_of(&obj), {}));
    if (!forbidden.empty())
      return refuse(who + " is not allowed to set the following labels: " + joined(forbidden));
  } else {
    json::value source = spec_field(&obj, "configSource");
    if (!source.is_null() && source != spec_field(old, "configSource"))
      return refuse(who + " is not allowed to update configSource to a new non-nil configSource");
    if (spec_field(&obj, "taints") != spec_field(old, "taints"))
      return refuse(who + " is not allowed to modify taints");
    auto forbidden = forbidden_node_labels(modified_labels(labels_of(&obj), labels_of(old)));
    if (!forbidden.empty()) return refuse("is not allowed to modify labels: " + joined(forbidden));
  }
  // Every agent routes a node's pod ranges to it: only the node IPAM controller hands them out.
  if (node_pod_cidrs(obj) != (old ? node_pod_cidrs(*old) : std::vector<std::string>{}))
    return refuse(who + " is not allowed to set or change spec.podCIDR or spec.podCIDRs");
  return admit_addresses(node, request);
}

ApiResult<void> NodeRestriction::admit_event(const std::string& node, const AdmissionRequest& request,
                                             const json::object& event) const {
  auto refuse = [&](const std::string& why) { return api_fail(admission_forbidden(request, why)); };
  const std::string who = "node " + quoted(node);
  const json::object* involved = object(event, "involvedObject");
  std::string kind = involved ? str(*involved, "kind") : "";
  std::string ns = involved ? str(*involved, "namespace") : "";
  std::string name = involved ? str(*involved, "name") : "";
  const EventSubject subject = event_subject(kind);
  if (subject == EventSubject::kNode) {
    if (name != node) return refuse(who + " can only create events about itself, not node " + quoted(name));
    // Cluster-scoped objects' events live in "default", where kubelet writes them.
    if (!ns.empty() || request.ns != "default")
      return refuse(who + " can only create events about itself in namespace \"default\"");
    return {};
  }
  if (subject == EventSubject::kPod) {
    if (ns != request.ns)
      return refuse(who + " can only create events about a pod in the pod's namespace (" + quoted(ns) + ")");
    auto bound = options_.pod_binding ? options_.pod_binding(ns, name) : std::nullopt;
    if (!bound || bound->node != node)
      return refuse(who + " can only create events about pods bound to it; pod " + quoted(ns + "/" + name) +
                    (bound ? " is not" : " does not exist"));
    std::string uid = str(*involved, "uid");
    if (!uid.empty() && uid != bound->uid)
      return refuse(who + " can only create events about pods bound to it; pod " + quoted(ns + "/" + name) +
                    " has another uid than " + quoted(uid));
    return {};
  }
  return refuse(who + " can only create events about itself or pods bound to it, not about a " +
                (kind.empty() ? std::string("missing involvedObject.kind") : quoted(kind)));
}

// Only what the node adds or changes is judged: an address a privileged writer set stays writable.
ApiResult<void> NodeRestriction::admit_addresses(const std::string& node,
                                                 const AdmissionRequest& request) const {
  auto refuse = [&](const std::string& what, const std::string& why) {
    return api_fail(
        admission_forbidden(request, "node " + quoted(node) + " is not allowed to set " + what + ": " + why));
  };
  const json::array* before = addresses_of(request.old);
  if (const json::array* after = addresses_of(&request.object)) {
    for (size_t i = 0; i < after->size(); ++i) {
      const json::object* a = (*after)[i].if_object();
      if (!a || (before && std::find(before->begin(), before->end(), (*after)[i]) != before->end())) continue;
      std::string type = str(*a, "type");
      if (type != "InternalIP" && type != "ExternalIP") continue;  // host names are never dialled
      std::string text = str(*a, "address");
      std::string what = "status.addresses[" + std::to_string(i) + "].address " + field::quote(text);
      auto parsed = parse_ip(text);
      if (!parsed || text.find('/') != std::string::npos)
        return refuse(what, "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)");
      IpAddress ip = unmapped(*parsed);
      if (auto special = special_ip_errors(ip, text); !special.empty()) return refuse(what, special.front());
      if (ip.is_multicast()) return refuse(what, "may not be a multicast address");
      for (const auto& own : options_.server_addresses)
        if (unmapped(own) == ip) return refuse(what, "may not be the API server's own address");
      if (type == "InternalIP" && options_.node_network && !options_.node_network->contains(ip))
        return refuse(what, "must be in the node network " + options_.node_network->network().str());
    }
  }
  const json::value* port = kubelet_port(request.object);
  const json::value* old_port = request.old ? kubelet_port(*request.old) : nullptr;
  if (port && !(old_port && *old_port == *port)) {
    auto n = svc::as_int(port);
    if (!n || *n < 1 || *n > 65535)
      return refuse("status.daemonEndpoints.kubeletEndpoint.Port " + json::serialize(*port),
                    "must be between 1 and 65535, inclusive");
  }
  return {};
}

}  // namespace podnet::apiserver
