// The Terminating mark is written with compare-and-swap like any update; content deletion is
// unconditional (each object is gone either way) and tolerates objects deleted concurrently.
#include "apiserver/registry/namespace_lifecycle.h"

#include <boost/json.hpp>
#include <charconv>

namespace podnet::apiserver {
namespace json = boost::json;

ApiResult<json::value> delete_namespace(ObjectStore& objects, const ResourceRegistry& registry,
                                        const std::string& name, const std::string& precondition_rv) {
  if (name == "default" || name == "kube-system" || name == "kube-public")
    return api_fail({403, "Forbidden",
                     "namespaces \"" + name + "\" is forbidden: this namespace may not be deleted", name, "",
                     "namespaces"});
  const ResourceType* ns_type = registry.find("", "v1", "namespaces");
  auto current = objects.get(*ns_type, "", name);
  if (!current) return current;
  if (!precondition_rv.empty()) {
    auto rv = current->at("metadata").at("resourceVersion").as_string();
    if (rv != precondition_rv)
      return api_fail(
          conflict("", "namespaces", name,
                   "the object has been modified; please apply your changes to the latest version and "
                   "try again"));
  }
  // Written straight to the store: deletionTimestamp and the phase are server-owned, which the
  // update paths (rightly) do not let a client body set.
  json::value terminating = *current;
  json::object& meta = terminating.at("metadata").as_object();
  std::string rv(meta["resourceVersion"].as_string());
  meta.erase("resourceVersion");
  storage::Revision revision = 0;
  std::from_chars(rv.data(), rv.data() + rv.size(), revision);  // written by decode(): always a number
  meta["deletionTimestamp"] = objects.now_rfc3339();
  terminating.as_object()["status"] = json::object{{"phase", "Terminating"}};
  auto marked =
      objects.store().update(objects.key(*ns_type, "", name), json::serialize(terminating), revision);
  if (!marked) return api_fail(from_store(marked.error(), "", "namespaces", name));
  for (const auto& type : registry.all()) {
    if (!type.namespaced) continue;
    auto list = objects.store().list(objects.prefix(type, name));
    if (!list) return api_fail(from_store(list.error(), type.group, type.plural, ""));
    // Through ObjectStore so that kinds with delete hooks (Service allocators) release.
    const std::string prefix = objects.prefix(type, name);
    for (const auto& kv : list->items) {
      auto removed = objects.remove(type, name, kv.key.substr(prefix.size()), "");
      if (!removed && removed.error().reason != "NotFound") return std::unexpected(removed.error());
    }
  }
  return objects.remove(*ns_type, "", name, "");
}

}  // namespace podnet::apiserver
