// kube's BindingREST.Create and ValidatePodBinding: the body names the pod of the URL and a Node;
// the write is a compare-and-swap on the stored pod, as kube's binding storage does it.
#include "apiserver/registry/binding.h"

#include <boost/json.hpp>

#include "k8s/json_fields.h"

namespace podnet::apiserver {
namespace json = boost::json;
using k8s::fields::object_at;
using k8s::fields::string_at;

ApiResult<json::value> bind_pod(ObjectStore& objects, const ResourceType& pods, const std::string& ns,
                                const std::string& name, const json::value& binding) {
  if (!binding.is_object()) return api_fail(bad_request("a Binding must be a JSON object"));
  std::string body_name = string_at(binding, {"metadata", "name"});
  if (!body_name.empty() && body_name != name)
    return api_fail(bad_request("name in URL does not match name in Binding object"));
  std::string node = string_at(binding, {"target", "name"});
  std::string target_kind = string_at(binding, {"target", "kind"});
  std::vector<StatusCause> causes;
  if (node.empty()) causes.push_back({"FieldValueRequired", "Required value", "target.name"});
  if (!target_kind.empty() && target_kind != "Node")
    causes.push_back({"FieldValueNotSupported",
                      "Unsupported value: \"" + target_kind + "\": supported values: \"Node\"",
                      "target.kind"});
  if (!causes.empty()) return api_fail(invalid("", "Binding", name, std::move(causes)));

  std::string key = objects.key(pods, ns, name);
  auto kv = objects.store().get(key);
  if (!kv) return api_fail(from_store(kv.error(), pods.group, pods.plural, name));
  auto pod = objects.decode(*kv);
  if (!pod) return std::unexpected(pod.error());
  json::object& obj = pod->as_object();
  const json::object* meta = object_at(*pod, {"metadata"});
  if (meta && meta->contains("deletionTimestamp"))
    return api_fail(
        conflict("", "pods", name, "pod " + name + " is being deleted, cannot be assigned to a host"));
  std::string current = string_at(*pod, {"spec", "nodeName"});
  if (!current.empty())
    return api_fail(conflict("", "pods/binding", name,
                             "pod " + name + " is already assigned to node \"" + current + "\""));
  json::value& spec = obj["spec"];
  if (!spec.is_object()) spec = json::object{};
  spec.as_object()["nodeName"] = node;
  json::value& status = obj["status"];
  if (!status.is_object()) status = json::object{};
  json::value& conds = status.as_object()["conditions"];
  if (!conds.is_array()) conds = json::array{};
  json::array kept;
  for (auto& c : conds.as_array())
    if (string_at(c, {"type"}) != "PodScheduled") kept.push_back(std::move(c));
  kept.push_back(json::object{{"type", "PodScheduled"},
                              {"status", "True"},
                              {"lastProbeTime", nullptr},
                              {"lastTransitionTime", objects.now_rfc3339()}});
  conds = std::move(kept);
  obj["metadata"].as_object().erase("resourceVersion");
  auto written = objects.store().update(key, json::serialize(obj), kv->mod_revision);
  if (!written) return api_fail(from_store(written.error(), pods.group, pods.plural, name));
  // kube answers a bare Success Status.
  return json::object{{"kind", "Status"},
                      {"apiVersion", "v1"},
                      {"metadata", json::object{}},
                      {"status", "Success"},
                      {"code", 201}};
}

}  // namespace podnet::apiserver
