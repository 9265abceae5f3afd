// The strategy table: what differs between the kinds podnet serves. A new kind with behaviour of
// its own gets an entry here, not a branch in the generic code.
#include <boost/json.hpp>

#include "apiserver/registry/binding.h"
#include "apiserver/registry/namespace_lifecycle.h"
#include "apiserver/registry/strategy.h"
#include "apiserver/validation/service_validation.h"
#include "k8s/json_fields.h"

namespace podnet::apiserver {
namespace json = boost::json;
using k8s::fields::string_at;
namespace {

constexpr int64_t kDefaultPodGraceSeconds = 30;  // kube's default terminationGracePeriodSeconds

json::object& member_object(json::object& obj, std::string_view key) {
  json::value& v = obj[key];
  if (!v.is_object()) v = json::object{};
  return v.get_object();
}

void default_phase(json::object& obj, std::string_view phase) {
  json::object& status = member_object(obj, "status");
  if (!status.contains("phase")) status["phase"] = phase;
}

// kube's SetDefaults_Namespace: every namespace carries its name as a label, so that a
// NetworkPolicy's namespaceSelector can select one by name.
void default_namespace(json::object& obj) {
  if (json::value* meta = obj.if_contains("metadata"); meta && meta->is_object()) {
    json::object& m = meta->get_object();
    if (const json::value* name = m.if_contains("name"); name && name->is_string())
      member_object(m, "labels")["kubernetes.io/metadata.name"] = *name;
  }
  default_phase(obj, "Active");
}

void default_pod(json::object& obj) {
  default_phase(obj, "Pending");
}

// kube's pod CheckGracefulDelete: the request's period, else the pod's, else 30 s; an unscheduled or
// finished pod has nothing to stop, so it goes at once.
int64_t pod_grace_period(const json::object& pod, std::optional<int64_t> requested) {
  int64_t grace = kDefaultPodGraceSeconds;
  if (requested) {
    grace = *requested;
  } else if (const json::value* g = k8s::fields::at(pod, {"spec", "terminationGracePeriodSeconds"})) {
    if (g->is_int64()) grace = g->get_int64();
    if (g->is_uint64()) grace = static_cast<int64_t>(g->get_uint64());
  }
  if (string_at(pod, {"spec", "nodeName"}).empty()) return 0;
  std::string phase = string_at(pod, {"status", "phase"});
  if (phase == "Succeeded" || phase == "Failed") return 0;
  return grace;
}

const KindStrategy kStrategies[] = {
    {.group = "",
     .kind = "Namespace",
     .defaults = default_namespace,
     .printer = &printers::kNamespace,
     .delete_collection = false,  // as kube: a namespace is deleted by name only
     .delete_one = delete_namespace},
    {.group = "", .kind = "Node", .printer = &printers::kNode},
    {.group = "",
     .kind = "Pod",
     .defaults = default_pod,
     .printer = &printers::kPod,
     .delete_returns_object = true,
     .grace_period = pod_grace_period,
     .bind = bind_pod,
     .read_subresource = "log"},
    {.group = "", .kind = "Service", .defaults = default_service, .printer = &printers::kService},
    {.group = "", .kind = "Event", .printer = &printers::kEvent},
    {.group = "discovery.k8s.io", .kind = "EndpointSlice", .printer = &printers::kEndpointSlice},
    {.group = "networking.k8s.io", .kind = "NetworkPolicy", .printer = &printers::kNetworkPolicy},
};

const KindStrategy kGeneric{};

}  // namespace

const KindStrategy& strategy_for(const ResourceType& type) {
  for (const KindStrategy& s : kStrategies)
    if (s.kind == type.kind && s.group == type.group) return s;
  return kGeneric;
}

}  // namespace podnet::apiserver
