// Paths are object keys joined by '.', with "[]" for a list element: "spec.containers[].ports".
// Lists not in the table are atomic (replaced), as in kube for fields without a patch strategy.
#include "apiserver/apply/strategic_patch.h"

#include <boost/json.hpp>
#include <map>
#include <optional>
#include <set>
#include <string>

namespace podnet::apiserver {
namespace json = boost::json;
namespace {

const std::map<std::string, std::string>& merge_keys() {
  static const std::map<std::string, std::string> keys = [] {
    std::map<std::string, std::string> m = {
        {"metadata.ownerReferences", "uid"},
        {"spec.volumes", "name"},
        {"spec.imagePullSecrets", "name"},
        {"spec.hostAliases", "ip"},
        {"spec.resourceClaims", "name"},
        {"spec.schedulingGates", "name"},
        {"spec.topologySpreadConstraints", "topologyKey"},
        {"spec.ports", "port"},  // Service
        {"status.conditions", "type"},
        {"status.addresses", "type"},  // Node
        {"status.podIPs", "ip"},
    };
    for (const char* c : {"spec.containers", "spec.initContainers", "spec.ephemeralContainers"}) {
      std::string base = c;
      m[base] = "name";
      m[base + "[].ports"] = "containerPort";
      m[base + "[].env"] = "name";
      m[base + "[].volumeMounts"] = "mountPath";
      m[base + "[].volumeDevices"] = "devicePath";
    }
    return m;
  }();
  return keys;
}

// Lists of scalars merged as sets.
bool is_primitive_merge(const std::string& path) {
  static const std::set<std::string> paths = {"metadata.finalizers", "spec.podCIDRs"};
  return paths.contains(path);
}

std::string child(const std::string& path, std::string_view key) {
  return path.empty() ? std::string(key) : path + "." + std::string(key);
}

bool is_directive(std::string_view key) {
  return key.starts_with("$");
}

// The patch with directives removed (what a new element or replaced value stores).
json::value strip(const json::value& v) {
  if (const auto* o = v.if_object()) {
    json::object out;
    for (const auto& [k, x] : *o)
      if (!is_directive(k) && !x.is_null()) out[k] = strip(x);
    return out;
  }
  if (const auto* a = v.if_array()) {
    json::array out;
    for (const auto& x : *a) out.push_back(strip(x));
    return out;
  }
  return v;
}

std::string directive(const json::value& v) {
  const auto* o = v.if_object();
  const json::value* d = o ? o->if_contains("$patch") : nullptr;
  return d && d->is_string() ? std::string(d->get_string()) : std::string();
}

ApiResult<json::value> merge_value(const json::value* original, const json::value& patch,
                                   const std::string& path);

ApiResult<json::value> merge_list(const json::value* original, const json::array& patch,
                                  const std::string& path) {
  json::array orig = original && original->is_array() ? original->get_array() : json::array{};
  auto key_it = merge_keys().find(path);
  if (is_primitive_merge(path)) {
    for (const auto& v : patch)
      if (std::find(orig.begin(), orig.end(), v) == orig.end()) orig.push_back(v);
    return orig;
  }
  if (key_it == merge_keys().end()) return strip(patch);  // atomic list
  const std::string& key = key_it->second;
  for (const auto& elem : patch) {
    if (directive(elem) == "replace") {
      json::array replaced;
      for (const auto& e : patch)
        if (directive(e) != "replace") replaced.push_back(strip(e));
      return replaced;
    }
  }
  for (const auto& elem : patch) {
    const json::object* pe = elem.if_object();
    const json::value* kv = pe ? pe->if_contains(key) : nullptr;
    if (!kv)
      return api_fail(bad_request("map in list \"" + path + "\" does not contain merge key \"" + key + "\""));
    auto match = std::find_if(orig.begin(), orig.end(), [&](const json::value& o) {
      const auto* oo = o.if_object();
      const json::value* ok = oo ? oo->if_contains(key) : nullptr;
      return ok && *ok == *kv;
    });
    if (directive(elem) == "delete") {
      if (match != orig.end()) orig.erase(match);
      continue;
    }
    if (match == orig.end()) {
      orig.push_back(strip(elem));
    } else {
      auto merged = merge_value(&*match, elem, path + "[]");
      if (!merged) return merged;
      *match = std::move(*merged);
    }
  }
  return orig;
}

ApiResult<json::value> merge_map(const json::value* original, const json::object& patch,
                                 const std::string& path) {
  std::string d = directive(patch);
  if (d == "replace") return strip(patch);
  if (!d.empty() && d != "merge")
    return api_fail(bad_request("unknown $patch directive \"" + d + "\" at " + path));
  json::object result = original && original->is_object() ? original->get_object() : json::object{};
  for (const auto& [k, v] : patch) {
    std::string_view key = k;
    if (key == "$patch" || key == "$retainKeys" || key.starts_with("$setElementOrder/")) continue;
    if (key.starts_with("$deleteFromPrimitiveList/")) {
      std::string field(key.substr(25));
      if (auto* list = result.if_contains(field); list && list->is_array() && v.is_array()) {
        auto& arr = list->get_array();
        for (const auto& gone : v.get_array())
          arr.erase(std::remove(arr.begin(), arr.end(), gone), arr.end());
      }
      continue;
    }
    if (v.is_null()) {
      result.erase(key);
      continue;
    }
    if (directive(v) == "delete") {
      result.erase(key);
      continue;
    }
    auto merged = merge_value(result.if_contains(key), v, child(path, key));
    if (!merged) return merged;
    result[key] = std::move(*merged);
  }
  if (const auto* retain = patch.if_contains("$retainKeys"); retain && retain->is_array()) {
    std::set<std::string> keep;
    for (const auto& r : retain->get_array())
      if (r.is_string()) keep.emplace(r.get_string());
    for (auto it = result.begin(); it != result.end();) {
      if (!keep.contains(std::string(it->key())))
        it = result.erase(it);
      else
        ++it;
    }
  }
  return result;
}

ApiResult<json::value> merge_value(const json::value* original, const json::value& patch,
                                   const std::string& path) {
  if (const auto* o = patch.if_object()) return merge_map(original, *o, path);
  if (const auto* a = patch.if_array()) return merge_list(original, *a, path);
  return patch;
}

}  // namespace

ApiResult<json::value> apply_strategic_merge_patch(const json::value& target, const json::value& patch) {
  if (!patch.is_object()) return api_fail(bad_request("a strategic merge patch must be a JSON object"));
  return merge_value(&target, patch, "");
}

}  // namespace podnet::apiserver
