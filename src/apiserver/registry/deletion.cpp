// Follows kube-apiserver's registry Store.Delete / BeforeDelete: a graceful deletion (its period from
// the kind's strategy: pods) and a deletion held by finalizers are writes of deletionTimestamp
// (server-owned, so straight to the store with compare-and-swap); only what is left then is a real
// delete. Lost races re-read.
#include "apiserver/registry/deletion.h"

#include <boost/json.hpp>
#include <charconv>

#include "apiserver/http/limits.h"
#include "apiserver/registry/object_meta.h"
#include "apiserver/registry/strategy.h"
#include "common/time.h"
#include "k8s/json_fields.h"

namespace podnet::apiserver {
namespace json = boost::json;
using k8s::fields::string_at;
namespace {

constexpr int kAttempts = 8;

const json::object& object_at(const json::object& obj, std::string_view key) {
  static const json::object kEmpty;
  const json::value* v = obj.if_contains(key);
  return v && v->is_object() ? v->get_object() : kEmpty;
}

void bump_generation(json::object& meta) {
  if (auto g = meta_int(meta, "generation"); g && *g > 0) meta["generation"] = *g + 1;
}

}  // namespace

ApiResult<DeleteOptions> parse_delete_options(const std::string& body, const QueryParams& query) {
  DeleteOptions out;
  if (!body.empty()) {
    boost::system::error_code ec;
    json::value v = limits::parse_request(body, ec);
    if (ec || !v.is_object()) return api_fail(bad_request("DeleteOptions: the body must be a JSON object"));
    const json::object& o = v.get_object();
    if (const json::value* g = o.if_contains("gracePeriodSeconds"); g && !g->is_null()) {
      if (!g->is_int64() && !g->is_uint64())
        return api_fail(bad_request("DeleteOptions: gracePeriodSeconds must be an integer"));
      out.grace_period_seconds = g->to_number<int64_t>();
    }
    const json::object& pre = object_at(o, "preconditions");
    if (const json::value* uid = pre.if_contains("uid"); uid && uid->is_string())
      out.precondition_uid = std::string(uid->get_string());
    if (const json::value* rv = pre.if_contains("resourceVersion"); rv && rv->is_string())
      out.precondition_rv = std::string(rv->get_string());
  }
  if (auto it = query.find("gracePeriodSeconds"); it != query.end() && !it->second.empty()) {
    int64_t g = 0;
    const std::string& s = it->second;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), g);
    if (ec != std::errc() || end != s.data() + s.size())
      return api_fail(bad_request("invalid gracePeriodSeconds \"" + s + "\""));
    out.grace_period_seconds = g;
  }
  // kube treats a negative period as the shortest positive one.
  if (out.grace_period_seconds && *out.grace_period_seconds < 0) out.grace_period_seconds = 1;
  return out;
}

ApiResult<DeleteOutcome> delete_object(ObjectStore& objects, const ResourceType& type, const std::string& ns,
                                       const std::string& name, const DeleteOptions& options) {
  const std::string key = objects.key(type, ns, name);
  for (int attempt = 0;; ++attempt) {
    auto kv = objects.store().get(key);
    if (!kv) return api_fail(from_store(kv.error(), type.group, type.plural, name));
    auto decoded = objects.decode(*kv);
    if (!decoded) return std::unexpected(decoded.error());
    json::object& obj = decoded->get_object();
    json::object& meta = obj["metadata"].as_object();
    const std::string uid = string_at(meta, {"uid"}), rv = string_at(meta, {"resourceVersion"});
    if (options.precondition_uid && *options.precondition_uid != uid)
      return api_fail(conflict(type.group, type.plural, name,
                               "Precondition failed: UID in precondition: " + *options.precondition_uid +
                                   ", UID in object meta: " + uid));
    if (options.precondition_rv && *options.precondition_rv != rv)
      return api_fail(conflict(type.group, type.plural, name,
                               "Precondition failed: ResourceVersion in precondition: " +
                                   *options.precondition_rv + ", ResourceVersion in object meta: " + rv));

    const bool deleting = meta.contains("deletionTimestamp");
    const std::optional<int64_t> current_grace = meta_int(meta, "deletionGracePeriodSeconds");
    const json::object before = meta;
    int64_t grace = 0;  // what remains of the grace period after this request
    if (auto grace_period = strategy_for(type).grace_period) {
      if (deleting && current_grace.value_or(0) > 0) {
        // Already terminating: a request may only shorten the period, moving the deadline with it.
        if (!options.grace_period_seconds || *options.grace_period_seconds >= *current_grace)
          return DeleteOutcome{std::move(*decoded), false};
        grace = *options.grace_period_seconds;
        auto ts = parse_rfc3339(string_at(meta, {"deletionTimestamp"})).value_or(objects.now());
        meta["deletionTimestamp"] = rfc3339(ts - std::chrono::seconds(*current_grace - grace));
        meta["deletionGracePeriodSeconds"] = grace;
      } else if (!deleting) {
        grace = grace_period(obj, options.grace_period_seconds);
        if (grace > 0) {
          meta["deletionTimestamp"] = rfc3339(objects.now() + std::chrono::seconds(grace));
          meta["deletionGracePeriodSeconds"] = grace;
          bump_generation(meta);
        }
      }
    }
    const bool pending_finalizers = !finalizers_of(meta).empty();
    if (pending_finalizers && grace == 0) {
      // kube's markAsDeleting: deletion requested now, no grace period left to wait for.
      if (!deleting) bump_generation(meta);
      auto ts = parse_rfc3339(string_at(meta, {"deletionTimestamp"}));
      if (!ts || *ts > objects.now()) meta["deletionTimestamp"] = objects.now_rfc3339();
      meta["deletionGracePeriodSeconds"] = 0;
    }

    storage::Revision revision = kv->mod_revision;
    if (meta != before && (pending_finalizers || grace > 0)) {
      meta.erase("resourceVersion");
      auto written = objects.store().update(key, json::serialize(obj), revision);
      if (!written) {
        if (written.error().code == storage::Errc::kConflict && attempt + 1 < kAttempts) continue;
        return api_fail(from_store(written.error(), type.group, type.plural, name));
      }
      auto out = objects.decode(*written);
      if (!out) return std::unexpected(out.error());
      return DeleteOutcome{std::move(*out), false};
    }
    if (pending_finalizers || grace > 0) return DeleteOutcome{std::move(*decoded), false};

    auto removed = objects.store().remove(key, revision);
    if (!removed) {
      if (removed.error().code == storage::Errc::kConflict && attempt + 1 < kAttempts) continue;
      return api_fail(from_store(removed.error(), type.group, type.plural, name));
    }
    storage::KeyValue last = removed->last;
    last.mod_revision = removed->revision;
    auto out = objects.decode(last);
    if (!out) return std::unexpected(out.error());
    // The kind's hook frees what the object held (a Service's clusterIPs and nodePorts).
    if (WriteHook* hook = objects.write_hook(type.kind)) hook->after_delete(out->get_object());
    return DeleteOutcome{std::move(*out), true};
  }
}

ApiResult<json::value> delete_collection(ObjectStore& objects, const ResourceType& type,
                                         const std::string& ns, const ListQuery& query,
                                         const DeleteOptions& options) {
  ListQuery all = query;
  all.limit = 0;
  all.continue_token.clear();
  auto list = objects.list(type, ns, all);
  if (!list) return list;
  json::array items;
  for (const auto& item : list->at("items").as_array()) {
    const json::object& meta = item.at("metadata").as_object();
    auto outcome =
        delete_object(objects, type, string_at(meta, {"namespace"}), string_at(meta, {"name"}), options);
    if (!outcome) {
      if (outcome.error().code == 404) continue;  // deleted by someone else meanwhile
      return std::unexpected(outcome.error());
    }
    items.push_back(std::move(outcome->object));
  }
  json::object& out = list->as_object();
  out["items"] = std::move(items);
  return list;
}

}  // namespace podnet::apiserver
