// The hash in serverRelativeURL lets kubectl cache a document forever; it changes with the
// resource table's contents, which only change with the binary.
#include "apiserver/openapi.h"

#include <boost/json.hpp>
#include <functional>

namespace podnet::apiserver {
namespace json = boost::json;
namespace {

std::string gv_path(const std::string& group, const std::string& version) {
  return group.empty() ? "api/" + version : "apis/" + group + "/" + version;
}

std::string document_hash(const ResourceRegistry& registry) {
  std::string all;
  for (const auto& t : registry.all()) all += t.api_version() + "/" + t.kind + ";";
  return std::to_string(std::hash<std::string>{}(all));
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
  for (const auto& t : registry.all()) {
    if (gv_path(t.group, t.version) != path) continue;
    std::string url = "/" + path + (t.namespaced ? "/namespaces/{namespace}/" : "/") + t.plural + "/{name}";
    json::object gvk{{"group", t.group}, {"version", t.version}, {"kind", t.kind}};
    json::object patch{
        {"operationId", "patch" + t.kind},
        {"x-kubernetes-action", "patch"},
        {"x-kubernetes-group-version-kind", gvk},
        {"parameters",
         json::array{json::object{
             {"name", "fieldValidation"}, {"in", "query"}, {"schema", json::object{{"type", "string"}}}}}},
        {"responses", json::object{{"200", json::object{{"description", "OK"}}}}}};
    paths[url] = json::object{{"patch", std::move(patch)}};
  }
  if (paths.empty()) return std::nullopt;
  return json::object{{"openapi", "3.0.0"},
                      {"info", json::object{{"title", "podnet"}, {"version", "v1.32.0-podnet"}}},
                      {"paths", std::move(paths)}};
}

}  // namespace podnet::apiserver
