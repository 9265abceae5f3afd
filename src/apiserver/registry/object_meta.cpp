// The update rules kube's generic registry applies to ObjectMeta (BeforeUpdate and the finalizer
// checks of its Store.Update).
#include "apiserver/registry/object_meta.h"

#include <boost/json.hpp>
#include <set>

#include "k8s/json_fields.h"

namespace podnet::apiserver {
namespace json = boost::json;

std::optional<int64_t> meta_int(const json::object& obj, std::string_view key) {
  const json::value* v = obj.if_contains(key);
  if (!v) return std::nullopt;
  if (v->is_int64()) return v->get_int64();
  if (v->is_uint64()) return static_cast<int64_t>(v->get_uint64());
  return std::nullopt;
}

std::vector<std::string> finalizers_of(const json::object& meta) {
  std::vector<std::string> out;
  if (const json::value* f = meta.if_contains("finalizers"); f && f->is_array())
    for (const auto& v : f->get_array())
      if (v.is_string()) out.emplace_back(v.get_string());
  return out;
}

std::optional<StatusCause> check_finalizers_update(const json::object& old_meta,
                                                   const json::object& new_meta) {
  if (!old_meta.contains("deletionTimestamp")) return std::nullopt;
  auto old_list = finalizers_of(old_meta);
  std::set<std::string> before(old_list.begin(), old_list.end());
  std::set<std::string> added;
  for (const auto& f : finalizers_of(new_meta))
    if (!before.contains(f)) added.insert(f);
  if (added.empty()) return std::nullopt;
  std::string list;
  for (const auto& f : added) list += (list.empty() ? "\"" : ", \"") + f + "\"";
  return StatusCause{"FieldValueForbidden",
                     "Forbidden: no new finalizers can be added if the object is being deleted, found new "
                     "finalizers []string{" +
                         list + "}",
                     "metadata.finalizers"};
}

bool deletion_completes(const json::object& old_meta, const json::object& new_meta) {
  if (!finalizers_of(new_meta).empty() || !old_meta.contains("deletionTimestamp")) return false;
  return meta_int(old_meta, "deletionGracePeriodSeconds").value_or(0) == 0;
}

void carry_generation(const json::object& old_obj, json::object& new_obj) {
  static const json::object kNone;
  const json::object* meta_ptr = k8s::fields::object_at(old_obj, {"metadata"});
  const json::object& old_meta = meta_ptr ? *meta_ptr : kNone;
  auto generation = meta_int(old_meta, "generation");
  const json::value* old_spec = old_obj.if_contains("spec");
  const json::value* new_spec = new_obj.if_contains("spec");
  json::value& meta = new_obj["metadata"];
  if (!meta.is_object()) meta = json::object{};
  if (!generation && !old_spec && !new_spec) {
    meta.get_object().erase("generation");
    return;
  }
  int64_t g = generation.value_or(1);
  bool spec_changed = (old_spec == nullptr) != (new_spec == nullptr) || (old_spec && *old_spec != *new_spec);
  meta.get_object()["generation"] = spec_changed ? g + 1 : g;
}

}  // namespace podnet::apiserver
