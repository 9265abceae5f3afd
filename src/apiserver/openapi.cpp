// The hash in serverRelativeURL lets kubectl cache a document forever; it changes with the
// resource table and the schema, which only change with the binary.
#include "apiserver/openapi.h"

#include <boost/json.hpp>
#include <functional>
#include <set>

#include "apiserver/schema.h"

namespace podnet::apiserver {
namespace json = boost::json;
namespace {

std::string gv_path(const std::string& group, const std::string& version) {
  return group.empty() ? "api/" + version : "apis/" + group + "/" + version;
}

std::string document_hash(const ResourceRegistry& registry) {
  std::string all;
  for (const auto& t : registry.all()) all += t.api_version() + "/" + t.kind + ";";
  for (const auto& t : schema::Schema::builtin().types()) {
    all += t.name;
    for (const auto& f : t.fields) all += f.name + f.description + f.list_type + f.patch_merge_key;
  }
  return std::to_string(std::hash<std::string>{}(all));
}

std::string component_ref(const std::string& struct_name) {
  return "#/components/schemas/" + schema::Schema::builtin().find(struct_name)->full_name;
}

// A field's type as OpenAPI v3, kube style: references wrapped in allOf so a description may sit
// beside them.
json::object type_json(const schema::Type& t, std::set<std::string>& used) {
  using schema::Kind;
  switch (t.kind) {
    case Kind::kString:
      return {{"type", "string"}};
    case Kind::kInteger:
      return {{"type", "integer"}, {"format", t.format}};
    case Kind::kNumber:
      return {{"type", "number"}, {"format", "double"}};
    case Kind::kBoolean:
      return {{"type", "boolean"}};
    case Kind::kIntOrString:
      return {{"type", "string"}, {"format", "int-or-string"}, {"x-kubernetes-int-or-string", true}};
    case Kind::kQuantity:
      return {{"type", "string"}, {"format", "quantity"}, {"x-kubernetes-int-or-string", true}};
    case Kind::kTime:
      return {{"type", "string"}, {"format", "date-time"}};
    case Kind::kAny:
      return {{"type", "object"}, {"x-kubernetes-preserve-unknown-fields", true}};
    case Kind::kStruct:
      used.insert(t.ref);
      return {{"default", json::object{}},
              {"allOf", json::array{json::object{{"$ref", component_ref(t.ref)}}}}};
    case Kind::kArray:
      return {{"type", "array"}, {"items", type_json(*t.elem, used)}};
    case Kind::kMap:
      return {{"type", "object"}, {"additionalProperties", type_json(*t.elem, used)}};
  }
  return {};
}

json::object struct_json(const schema::StructType& t, std::set<std::string>& used) {
  json::object props;
  json::array required;
  for (const auto& f : t.fields) {
    json::object p = type_json(f.type, used);
    if (!f.description.empty()) p["description"] = f.description;
    if (!f.default_value.empty()) p["default"] = json::parse(f.default_value);
    if (!f.list_type.empty()) p["x-kubernetes-list-type"] = f.list_type;
    if (!f.map_keys.empty()) {
      json::array keys;
      for (const auto& k : f.map_keys) keys.push_back(json::string(k));
      p["x-kubernetes-list-map-keys"] = std::move(keys);
    }
    if (!f.map_type.empty()) p["x-kubernetes-map-type"] = f.map_type;
    if (!f.patch_merge_key.empty()) p["x-kubernetes-patch-merge-key"] = f.patch_merge_key;
    if (!f.patch_strategy.empty()) p["x-kubernetes-patch-strategy"] = f.patch_strategy;
    if (f.required) required.push_back(json::string(f.name));
    props[f.name] = std::move(p);
  }
  json::object out{{"description", t.description}, {"type", "object"}, {"properties", std::move(props)}};
  if (!required.empty()) out["required"] = std::move(required);
  if (t.gvk)
    out["x-kubernetes-group-version-kind"] = json::array{
        json::object{{"group", t.gvk->group}, {"version", t.gvk->version}, {"kind", t.gvk->kind}}};
  return out;
}

// The kinds' schemas and every type they reach.
json::object components_for(const std::vector<const schema::StructType*>& roots) {
  const auto& s = schema::Schema::builtin();
  std::set<std::string> used, done;
  for (const auto* r : roots) used.insert(r->name);
  json::object schemas;
  while (used.size() > done.size()) {
    for (const auto& name : std::set<std::string>(used)) {
      if (!done.insert(name).second) continue;
      const schema::StructType* t = s.find(name);
      schemas[t->full_name] = struct_json(*t, used);
    }
  }
  return schemas;
}

json::object operation(const ResourceType& t, const std::string& verb, const std::string& action,
                       const std::string& ref) {
  json::object gvk{{"group", t.group}, {"version", t.version}, {"kind", t.kind}};
  json::array params{
      json::object{{"name", "fieldManager"}, {"in", "query"}, {"schema", json::object{{"type", "string"}}}},
      json::object{
          {"name", "fieldValidation"}, {"in", "query"}, {"schema", json::object{{"type", "string"}}}}};
  json::object content{{"application/json", json::object{{"schema", json::object{{"$ref", ref}}}}}};
  json::object op{
      {"operationId", verb + t.kind},
      {"x-kubernetes-action", action},
      {"x-kubernetes-group-version-kind", std::move(gvk)},
      {"responses", json::object{{"200", json::object{{"description", "OK"}, {"content", content}}}}}};
  if (verb == "patch") {
    params.push_back(
        json::object{{"name", "force"}, {"in", "query"}, {"schema", json::object{{"type", "boolean"}}}});
    json::object body_schema{{"type", "object"}};
    json::object types;
    for (const char* mt : {"application/apply-patch+yaml", "application/json-patch+json",
                           "application/merge-patch+json", "application/strategic-merge-patch+json"})
      types[mt] = json::object{{"schema", body_schema}};
    op["requestBody"] = json::object{{"content", std::move(types)}, {"required", true}};
  } else if (verb != "read") {
    op["requestBody"] = json::object{{"content", content}, {"required", true}};
  }
  op["parameters"] = std::move(params);
  return op;
}

}  // namespace

json::value openapi_v3_index(const ResourceRegistry& registry) {
  json::object paths;
  std::string hash = document_hash(registry);
  for (const auto& [group, version] : registry.group_versions()) {
    std::string p = gv_path(group, version);
    paths[p] = json::object{{"serverRelativeURL", "/openapi/v3/" + p + "?hash=" + hash}};
  }
  return json::object{{"paths", std::move(paths)}};
}

std::optional<json::value> openapi_v3_document(const ResourceRegistry& registry, const std::string& path) {
  const auto& s = schema::Schema::builtin();
  json::object paths;
  std::vector<const schema::StructType*> roots;
  for (const auto& t : registry.all()) {
    if (gv_path(t.group, t.version) != path) continue;
    const schema::StructType* st = s.for_kind(t.group, t.version, t.kind);
    if (!st) continue;
    roots.push_back(st);
    std::string ref = component_ref(st->name);
    std::string base = "/" + path + (t.namespaced ? "/namespaces/{namespace}/" : "/") + t.plural;
    paths[base] = json::object{{"post", operation(t, "create", "post", ref)}};
    paths[base + "/{name}"] = json::object{{"get", operation(t, "read", "get", ref)},
                                           {"put", operation(t, "replace", "put", ref)},
                                           {"patch", operation(t, "patch", "patch", ref)}};
  }
  if (paths.empty()) return std::nullopt;
  return json::object{{"openapi", "3.0.0"},
                      {"info", json::object{{"title", "Kubernetes"}, {"version", "v1.32.0-podnet"}}},
                      {"paths", std::move(paths)},
                      {"components", json::object{{"schemas", components_for(roots)}}}};
}

}  // namespace podnet::apiserver
