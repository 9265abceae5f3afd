// API request bodies as the server decodes a create or update: JSON parse, duplicate keys, the
// kind's type check and fieldValidation (Strict and Warn), then the kind's defaults and validation
// (Pod, Service, Node, NetworkPolicy; Namespace and others stop after field validation). The object's own
// "kind" picks the kind, so mutating it explores the others.
#include <boost/json.hpp>

#include "apiserver/apply/field_validation.h"
#include "apiserver/apply/schema.h"
#include "apiserver/apply/type_check.h"
#include "apiserver/registry/resources.h"
#include "apiserver/validation/network_policy_validation.h"
#include "apiserver/validation/node_validation.h"
#include "apiserver/validation/pod_validation.h"
#include "apiserver/validation/service_validation.h"
#include "apiserver/validation/validation.h"
#include "fuzz_target.h"

namespace json = boost::json;
using namespace podnet::apiserver;

namespace {

const ResourceType* type_of(const ResourceRegistry& registry, const json::object& obj) {
  const json::value* kind = obj.if_contains("kind");
  std::string want = kind && kind->is_string() ? std::string(kind->get_string()) : "Pod";
  for (const auto& t : registry.all())
    if (t.kind == want) return &t;
  return registry.find("", "v1", "pods");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > podnet::fuzz::kMaxInput) return 0;
  static const ResourceRegistry registry = ResourceRegistry::builtin();
  std::string_view text = podnet::fuzz::as_text(data, size);
  std::vector<std::string> found;
  for (auto& d : duplicate_fields(text)) found.push_back("duplicate field \"" + d + "\"");
  boost::system::error_code ec;
  json::value body = json::parse(text, ec);
  if (ec || !body.is_object()) return 0;
  const ResourceType& type = *type_of(registry, body.get_object());

  for (auto mode : {FieldValidation::kStrict, FieldValidation::kWarn}) {
    json::value obj = body;
    std::vector<std::string> warnings;
    if (!enforce_field_validation(type, obj, mode, found, &warnings, true)) continue;
    json::object& o = obj.get_object();
    if (const json::value* meta = o.if_contains("metadata"); meta && meta->is_object()) {
      (void)validate_labels(meta->get_object().if_contains("labels"));
      if (const json::value* name = meta->get_object().if_contains("name"); name && name->is_string())
        (void)validate_name(type.name_rule, std::string(name->get_string()));
    }
    if (type.kind == "Pod") {
      if (first_type_error(obj, "Pod")) continue;
      default_pod(o);
      (void)validate_pod(o);
    } else if (type.kind == "Service") {
      if (first_type_error(obj, "Service")) continue;
      json::object old = o;
      default_service(o);
      normalize_cluster_ips(nullptr, o);
      (void)validate_service(o, nullptr);
      // An update from the object to itself with the allocated values left out.
      patch_allocated_values(old, o);
      normalize_cluster_ips(&old, o);
      drop_type_dependent_fields(old, o);
      (void)validate_service(o, &old);
    } else if (type.kind == "Node") {
      (void)validate_node(nullptr, o);
      (void)validate_node(&o, o);
      (void)node_pod_cidrs(o);
    } else if (type.kind == "NetworkPolicy") {
      if (first_type_error(obj, "NetworkPolicy")) continue;
      default_network_policy(o);
      (void)validate_network_policy(o, nullptr);
      (void)validate_network_policy(o, &o);
    } else {
      (void)first_type_error(obj, type.kind);
    }
  }
  return 0;
}
