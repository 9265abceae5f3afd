// Both versions come from one walk over schema.h and one list of operations; they differ only in
// how a type is spelled (v2: "#/definitions/" references, v3: allOf-wrapped "#/components/schemas/"
// references and the x-kubernetes-int-or-string / preserve-unknown-fields markers).
// The hash in serverRelativeURL lets kubectl cache a v3 document forever; it changes with the
// resource table and the schema, which only change with the binary.
#include "apiserver/endpoints/openapi.h"

#include <boost/json.hpp>
#include <functional>
#include <set>

#include "apiserver/apply/schema.h"

namespace podnet::apiserver {
namespace json = boost::json;
namespace {

enum class Version { kV2, kV3 };

constexpr const char* kInfoVersion = "v1.32.0-podnet";

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

std::string ref_to(const std::string& struct_name, Version v) {
  const std::string& full = schema::Schema::builtin().find(struct_name)->full_name;
  return (v == Version::kV2 ? "#/definitions/" : "#/components/schemas/") + full;
}

// A field's type as kube publishes it. v3 wraps references in allOf so a description may sit
// beside them; v2 puts the description next to $ref, as kube's swagger.json does.
json::object type_json(const schema::Type& t, Version v, std::set<std::string>& used) {
  using schema::Kind;
  const bool v3 = v == Version::kV3;
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
      if (!v3) return {{"type", "string"}, {"format", "int-or-string"}};
      return {{"type", "string"}, {"format", "int-or-string"}, {"x-kubernetes-int-or-string", true}};
    case Kind::kQuantity:
      if (!v3) return {{"type", "string"}};
      return {{"type", "string"}, {"format", "quantity"}, {"x-kubernetes-int-or-string", true}};
    case Kind::kTime:
      return {{"type", "string"}, {"format", "date-time"}};
    case Kind::kAny:
      // v2 has no preserve-unknown-fields; an object without properties is a free-form map there.
      if (!v3) return {{"type", "object"}};
      return {{"type", "object"}, {"x-kubernetes-preserve-unknown-fields", true}};
    case Kind::kStruct:
      used.insert(t.ref);
      if (!v3) return {{"$ref", ref_to(t.ref, v)}};
      return {{"default", json::object{}}, {"allOf", json::array{json::object{{"$ref", ref_to(t.ref, v)}}}}};
    case Kind::kArray:
      return {{"type", "array"}, {"items", type_json(*t.elem, v, used)}};
    case Kind::kMap:
      return {{"type", "object"}, {"additionalProperties", type_json(*t.elem, v, used)}};
  }
  return {};
}

json::object struct_json(const schema::StructType& t, Version v, std::set<std::string>& used) {
  json::object props;
  json::array required;
  for (const auto& f : t.fields) {
    json::object p = type_json(f.type, v, used);
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

// The kinds' schemas and every type they reach, by full name.
json::object definitions_for(const std::vector<const schema::StructType*>& roots, Version v) {
  const auto& s = schema::Schema::builtin();
  std::set<std::string> used, done;
  for (const auto* r : roots) used.insert(r->name);
  json::object schemas;
  while (used.size() > done.size()) {
    for (const auto& name : std::set<std::string>(used)) {
      if (!done.insert(name).second) continue;
      const schema::StructType* t = s.find(name);
      schemas[t->full_name] = struct_json(*t, v, used);
    }
  }
  return schemas;
}

// One REST operation of a kind, independent of the OpenAPI version it is written in.
struct Operation {
  const ResourceType* type;
  const schema::StructType* schema;
  std::string path;
  std::string method;  // get, put, post, patch
  std::string verb;    // create, read, replace, patch: the operationId's prefix
  std::string action;  // x-kubernetes-action
};

constexpr const char* kPatchTypes[] = {"application/apply-patch+yaml", "application/json-patch+json",
                                       "application/merge-patch+json",
                                       "application/strategic-merge-patch+json"};

// Every served kind's create, read, replace and patch, in resource table order; `only_gv` limits
// them to one group version ("api/v1").
std::vector<Operation> operations(const ResourceRegistry& registry, const std::string& only_gv = "") {
  const auto& s = schema::Schema::builtin();
  std::vector<Operation> out;
  for (const auto& t : registry.all()) {
    std::string gv = gv_path(t.group, t.version);
    if (!only_gv.empty() && gv != only_gv) continue;
    const schema::StructType* st = s.for_kind(t.group, t.version, t.kind);
    if (!st) continue;
    std::string base = "/" + gv + (t.namespaced ? "/namespaces/{namespace}/" : "/") + t.plural;
    out.push_back({&t, st, base, "post", "create", "post"});
    for (auto [method, verb] : {std::pair{"get", "read"}, {"put", "replace"}, {"patch", "patch"}})
      out.push_back({&t, st, base + "/{name}", method, verb, method});
  }
  return out;
}

json::object gvk_json(const ResourceType& t) {
  return {{"group", t.group}, {"version", t.version}, {"kind", t.kind}};
}

std::vector<std::string> query_params(const Operation& op) {
  if (op.verb == "read") return {};
  std::vector<std::string> names{"fieldManager", "fieldValidation"};
  if (op.verb == "patch") names.push_back("force");
  return names;
}

json::object v3_operation(const Operation& op) {
  std::string ref = ref_to(op.schema->name, Version::kV3);
  json::array params;
  for (const auto& name : {std::string("fieldManager"), std::string("fieldValidation")})
    params.push_back(
        json::object{{"name", name}, {"in", "query"}, {"schema", json::object{{"type", "string"}}}});
  json::object content{{"application/json", json::object{{"schema", json::object{{"$ref", ref}}}}}};
  json::object out{
      {"operationId", op.verb + op.type->kind},
      {"x-kubernetes-action", op.action},
      {"x-kubernetes-group-version-kind", gvk_json(*op.type)},
      {"responses", json::object{{"200", json::object{{"description", "OK"}, {"content", content}}}}}};
  if (op.verb == "patch") {
    params.push_back(
        json::object{{"name", "force"}, {"in", "query"}, {"schema", json::object{{"type", "boolean"}}}});
    json::object types;
    for (const char* mt : kPatchTypes) types[mt] = json::object{{"schema", json::object{{"type", "object"}}}};
    out["requestBody"] = json::object{{"content", std::move(types)}, {"required", true}};
  } else if (op.verb != "read") {
    out["requestBody"] = json::object{{"content", content}, {"required", true}};
  }
  out["parameters"] = std::move(params);
  return out;
}

json::object v2_path_param(const std::string& name, const std::string& description) {
  return {{"uniqueItems", true}, {"type", "string"}, {"description", description},
          {"name", name},        {"in", "path"},     {"required", true}};
}

json::object v2_operation(const Operation& op) {
  json::object body_schema;
  if (op.verb == "patch")
    body_schema = {{"type", "object"}};
  else
    body_schema = {{"$ref", ref_to(op.schema->name, Version::kV2)}};
  json::array params;
  if (op.verb != "read")
    params.push_back(
        json::object{{"name", "body"}, {"in", "body"}, {"required", true}, {"schema", body_schema}});
  for (const auto& name : query_params(op))
    params.push_back(json::object{{"uniqueItems", true},
                                  {"type", name == "force" ? "boolean" : "string"},
                                  {"name", name},
                                  {"in", "query"}});
  json::array consumes;
  if (op.verb == "patch")
    for (const char* mt : kPatchTypes) consumes.push_back(json::string(mt));
  else
    consumes.push_back("*/*");
  json::object ok{{"description", "OK"},
                  {"schema", json::object{{"$ref", ref_to(op.schema->name, Version::kV2)}}}};
  json::object responses{{"200", ok}, {"401", json::object{{"description", "Unauthorized"}}}};
  if (op.verb == "create")
    responses["201"] = json::object{{"description", "Created"}, {"schema", ok["schema"]}};
  json::object out{{"consumes", std::move(consumes)},
                   {"produces", json::array{"application/json", "application/vnd.kubernetes.protobuf"}},
                   {"schemes", json::array{"https"}},
                   {"operationId", op.verb + op.type->kind},
                   {"responses", std::move(responses)},
                   {"x-kubernetes-action", op.action},
                   {"x-kubernetes-group-version-kind", gvk_json(*op.type)}};
  if (!params.empty()) out["parameters"] = std::move(params);
  return out;
}

json::object& path_item(json::object& paths, const std::string& path) {
  json::value& item = paths[path];
  if (!item.is_object()) item = json::object();
  return item.as_object();
}

json::object info_json() {
  return {{"title", "Kubernetes"}, {"version", kInfoVersion}};
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
  json::object paths;
  std::vector<const schema::StructType*> roots;
  for (const auto& op : operations(registry, path)) {
    if (op.verb == "create") roots.push_back(op.schema);
    path_item(paths, op.path)[op.method] = v3_operation(op);
  }
  if (paths.empty()) return std::nullopt;
  return json::object{{"openapi", "3.0.0"},
                      {"info", info_json()},
                      {"paths", std::move(paths)},
                      {"components", json::object{{"schemas", definitions_for(roots, Version::kV3)}}}};
}

json::value openapi_v2_document(const ResourceRegistry& registry) {
  json::object paths;
  std::vector<const schema::StructType*> roots;
  for (const auto& op : operations(registry)) {
    if (op.verb == "create") roots.push_back(op.schema);
    json::object& item = path_item(paths, op.path);
    if (item.empty()) {
      json::array params;
      if (op.path.find("{name}") != std::string::npos)
        params.push_back(v2_path_param("name", "name of the " + op.type->kind));
      if (op.type->namespaced)
        params.push_back(
            v2_path_param("namespace", "object name and auth scope, such as for teams and projects"));
      item["parameters"] = std::move(params);
    }
    item[op.method] = v2_operation(op);
  }
  return json::object{{"swagger", "2.0"},
                      {"info", info_json()},
                      {"paths", std::move(paths)},
                      {"definitions", definitions_for(roots, Version::kV2)}};
}

}  // namespace podnet::apiserver
