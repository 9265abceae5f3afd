// The controllers' ObjectClient over the API server's object layer, for controllers in the server's
// process. Reads decode stored values the way the REST layer does (ObjectStore::decode), so a
// controller sees exactly what kubectl would.
#include "controlplane/store_object_client.h"

#include <boost/json.hpp>

#include "apiserver/registry/deletion.h"
#include "k8s/json_fields.h"

namespace podnet::controlplane {
namespace json = boost::json;
using apiserver::api_fail;
using apiserver::ApiResult;
using apiserver::Subresource;
using controllers::ObjectEvent;
using controllers::ObjectList;
using controllers::ObjectStream;
using k8s::fields::object_at;
using k8s::fields::string_at;

namespace {

class StoreObjectStream final : public ObjectStream {
 public:
  StoreObjectStream(apiserver::ObjectStore& objects, std::unique_ptr<storage::Watch> watch)
      : objects_(objects), watch_(std::move(watch)) {}

  ApiResult<std::vector<ObjectEvent>> next(std::chrono::milliseconds timeout) override {
    auto events = watch_->next(timeout);
    if (!events) {
      if (events.error().code == storage::Errc::kCompacted)
        return api_fail(apiserver::expired(events.error().message));
      return api_fail(apiserver::internal_error("watch: " + events.error().str()));
    }
    std::vector<ObjectEvent> out;
    out.reserve(events->size());
    for (const auto& e : *events) {
      auto obj = objects_.decode(e->kv);
      if (!obj) continue;  // not a JSON object: nothing a controller could act on
      ObjectEvent::Type t = e->type == storage::EventType::kAdded      ? ObjectEvent::Type::kAdded
                            : e->type == storage::EventType::kModified ? ObjectEvent::Type::kModified
                                                                       : ObjectEvent::Type::kDeleted;
      out.push_back({t, std::make_shared<const json::value>(std::move(*obj)), e->revision()});
    }
    return out;
  }
  void cancel() override { watch_->cancel(); }

 private:
  apiserver::ObjectStore& objects_;
  std::unique_ptr<storage::Watch> watch_;
};

}  // namespace

ApiResult<ObjectList> StoreObjectClient::list() {
  auto list = objects_.list(type_, "", {});
  if (!list) return std::unexpected(list.error());
  ObjectList out;
  out.revision = std::stoll(string_at(*list, {"metadata", "resourceVersion"}));
  // Copied out of the LIST's arena: cached objects outlive the list one by one.
  for (auto& item : list->at("items").as_array())
    out.items.push_back(std::make_shared<const json::value>(item, json::storage_ptr()));
  return out;
}

ApiResult<std::unique_ptr<ObjectStream>> StoreObjectClient::watch(int64_t from_revision) {
  auto w = objects_.store().watch(objects_.prefix(type_, ""), from_revision);
  if (!w) {
    if (w.error().code == storage::Errc::kCompacted) return api_fail(apiserver::expired(w.error().message));
    return api_fail(apiserver::internal_error("watch: " + w.error().str()));
  }
  return std::make_unique<StoreObjectStream>(objects_, std::move(*w));
}

ApiResult<json::value> StoreObjectClient::get(const std::string& ns, const std::string& name) {
  return objects_.get(type_, ns, name);
}
ApiResult<json::value> StoreObjectClient::create(const std::string& ns, json::value object) {
  return objects_.create(type_, ns, std::move(object));
}
ApiResult<json::value> StoreObjectClient::update(const std::string& ns, const std::string& name,
                                                 json::value object) {
  return objects_.update(type_, ns, name, std::move(object), Subresource::kNone);
}
ApiResult<json::value> StoreObjectClient::update_status(const std::string& ns, const std::string& name,
                                                        json::value object) {
  return objects_.update(type_, ns, name, std::move(object), Subresource::kStatus);
}
ApiResult<json::value> StoreObjectClient::patch(const std::string& ns, const std::string& name,
                                                const json::value& merge_patch) {
  return objects_.patch(type_, ns, name, k8s::PatchType::kMerge, merge_patch, Subresource::kNone);
}
ApiResult<json::value> StoreObjectClient::remove(const std::string& ns, const std::string& name) {
  return objects_.remove(type_, ns, name, "");
}
ApiResult<json::value> StoreObjectClient::force_delete(const std::string& ns, const std::string& name,
                                                       const std::string& uid) {
  apiserver::DeleteOptions options;
  options.grace_period_seconds = 0;
  if (!uid.empty()) options.precondition_uid = uid;
  auto outcome = apiserver::delete_object(objects_, type_, ns, name, options);
  if (!outcome) return std::unexpected(outcome.error());
  return std::move(outcome->object);
}

// Binding writes spec and status together, which neither update nor update_status may, so it is a
// compare-and-swap on the stored value, as kube-apiserver's binding storage does.
ApiResult<json::value> StoreObjectClient::bind(const std::string& ns, const std::string& name,
                                               const std::string& node, const std::string& timestamp) {
  std::string key = objects_.key(type_, ns, name);
  auto kv = objects_.store().get(key);
  if (!kv) return api_fail(apiserver::from_store(kv.error(), type_.group, type_.plural, name));
  auto pod = objects_.decode(*kv);
  if (!pod) return std::unexpected(pod.error());
  json::object& obj = pod->as_object();
  if (object_at(*pod, {"metadata"})->contains("deletionTimestamp"))
    return api_fail(apiserver::conflict("", "pods", name,
                                        "pod " + name + " is being deleted, cannot be assigned to a host"));
  std::string current = string_at(*pod, {"spec", "nodeName"});
  if (!current.empty())
    return api_fail(apiserver::conflict("", "pods/binding", name,
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
                              {"lastTransitionTime", timestamp}});
  conds = std::move(kept);
  obj["metadata"].as_object().erase("resourceVersion");
  auto written = objects_.store().update(key, json::serialize(obj), kv->mod_revision);
  if (!written) return api_fail(apiserver::from_store(written.error(), type_.group, type_.plural, name));
  return objects_.decode(*written);
}

controllers::ObjectClientFactory object_clients(apiserver::ObjectStore& objects,
                                                const apiserver::ResourceRegistry& registry) {
  return
      [&objects, &registry](const std::string& group,
                            const std::string& plural) -> Result<std::unique_ptr<controllers::ObjectClient>> {
        const apiserver::ResourceType* type = registry.find(group, "v1", plural);
        if (!type) return fail_msg("controllers: no resource type " + plural);
        return std::make_unique<StoreObjectClient>(objects, *type);
      };
}

}  // namespace podnet::controlplane
