// Splits a request target into what the API layer dispatches on: the API path (group, version,
// namespace, resource, name, subresource) and the decoded query parameters.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace podnet::apiserver {

using QueryParams = std::map<std::string, std::string>;

struct Target {
  std::string path;  // without the query, percent-decoded
  QueryParams query;
};

Target parse_target(std::string_view target);

// A boolean query parameter as kube-apiserver converts one (runtime.Convert_Slice_string_To_bool):
// absent is false, `0` or `false` in any letter case is false, anything else (`True`, `1`, `yes`,
// an empty value) is true.
bool query_flag(const QueryParams& query, std::string_view key);

// A resource URL: /api/v1/... or /apis/<group>/<version>/...
struct ResourcePath {
  std::string group;
  std::string version;
  std::string ns;  // from /namespaces/<ns>/<resource>
  std::string resource;
  std::string name;
  std::string subresource;
  std::string subpath;  // nodes/<name>/proxy/<subpath>: the rest of the path, "" when none
};

// nullopt for anything that is not a resource URL (discovery, health, unknown).
std::optional<ResourcePath> parse_resource_path(const std::string& path);

}  // namespace podnet::apiserver
