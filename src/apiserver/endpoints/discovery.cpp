// Discovery JSON built from the resource table. Verbs are only those the REST layer implements, so
// kubectl does not offer what would fail (namespaces: no deletecollection, as in kube; the access
// reviews: create only).
#include "apiserver/endpoints/discovery.h"

#include <algorithm>
#include <boost/json.hpp>

#include "apiserver/registry/strategy.h"

namespace podnet::apiserver {
namespace json = boost::json;
namespace {

json::array strings(const std::vector<std::string>& v) {
  json::array out;
  for (const auto& s : v) out.push_back(json::string(s));
  return out;
}

json::object group_entry(const std::string& group, const std::string& version) {
  json::object gv{{"groupVersion", group + "/" + version}, {"version", version}};
  return {{"name", group}, {"versions", json::array{gv}}, {"preferredVersion", gv}};
}

// Stored kinds' group versions, then those only the create-only kinds use.
std::vector<std::pair<std::string, std::string>> all_group_versions(const ResourceRegistry& registry) {
  auto out = registry.group_versions();
  for (const auto& t : registry.create_only()) {
    std::pair gv{t.group, t.version};
    if (std::find(out.begin(), out.end(), gv) == out.end()) out.push_back(gv);
  }
  return out;
}

}  // namespace

json::value version_json() {
  return json::object{{"major", "1"},       {"minor", "32"},           {"gitVersion", "v1.32.0-podnet"},
                      {"gitCommit", ""},    {"gitTreeState", "clean"}, {"buildDate", "1970-01-01T00:00:00Z"},
                      {"goVersion", "n/a"}, {"compiler", "g++"},       {"platform", "linux/amd64"}};
}

json::value api_versions_json(const std::string& server_address) {
  return json::object{
      {"kind", "APIVersions"},
      {"versions", json::array{"v1"}},
      {"serverAddressByClientCIDRs",
       json::array{json::object{{"clientCIDR", "0.0.0.0/0"}, {"serverAddress", server_address}}}}};
}

json::value api_group_list_json(const ResourceRegistry& registry) {
  json::array groups;
  for (const auto& [group, version] : all_group_versions(registry))
    if (!group.empty()) groups.push_back(group_entry(group, version));
  return json::object{{"kind", "APIGroupList"}, {"apiVersion", "v1"}, {"groups", std::move(groups)}};
}

std::optional<json::value> api_group_json(const ResourceRegistry& registry, const std::string& group) {
  for (const auto& [g, version] : all_group_versions(registry)) {
    if (g != group || g.empty()) continue;
    json::object out = group_entry(g, version);
    out["kind"] = "APIGroup";
    out["apiVersion"] = "v1";
    return out;
  }
  return std::nullopt;
}

std::optional<json::value> api_resource_list_json(const ResourceRegistry& registry, const std::string& group,
                                                  const std::string& version) {
  json::array resources;
  for (const auto& t : registry.all()) {
    if (t.group != group || t.version != version) continue;
    json::array verbs{"create", "delete", "get", "list", "patch", "update", "watch"};
    const KindStrategy& strategy = strategy_for(t);
    if (strategy.delete_collection) verbs.insert(verbs.begin() + 2, "deletecollection");
    json::object r{{"name", t.plural},
                   {"singularName", t.singular},
                   {"namespaced", t.namespaced},
                   {"kind", t.kind},
                   {"verbs", std::move(verbs)}};
    if (!t.short_names.empty()) r["shortNames"] = strings(t.short_names);
    if (!t.categories.empty()) r["categories"] = strings(t.categories);
    resources.push_back(std::move(r));
    if (t.has_status) {
      resources.push_back(json::object{{"name", t.plural + "/status"},
                                       {"singularName", ""},
                                       {"namespaced", t.namespaced},
                                       {"kind", t.kind},
                                       {"verbs", json::array{"get", "patch", "update"}}});
    }
    if (!strategy.read_subresource.empty()) {
      resources.push_back(json::object{{"name", t.plural + "/" + std::string(strategy.read_subresource)},
                                       {"singularName", ""},
                                       {"namespaced", t.namespaced},
                                       {"kind", t.kind},
                                       {"verbs", json::array{"get"}}});
    }
  }
  for (const auto& t : registry.create_only()) {
    if (t.group != group || t.version != version) continue;
    resources.push_back(json::object{{"name", t.plural},
                                     {"singularName", t.singular},
                                     {"namespaced", t.namespaced},
                                     {"kind", t.kind},
                                     {"verbs", json::array{"create"}}});
  }
  if (resources.empty()) return std::nullopt;
  std::string gv = group.empty() ? version : group + "/" + version;
  return json::object{{"kind", "APIResourceList"},
                      {"apiVersion", "v1"},
                      {"groupVersion", gv},
                      {"resources", std::move(resources)}};
}

}  // namespace podnet::apiserver
