// The algorithm is structured-merge-diff's Updater (Apply: merge, prune, update; Update: update)
// with kube's managedFields layer (strip server-owned metadata, before-first-apply, times).
// Approximations: merged list-maps keep the live order and append new items; the
// last-applied-configuration annotation is not reconciled with client-side apply.
#include "apiserver/apply/server_side_apply.h"

#include <boost/json.hpp>

#include "apiserver/apply/field_validation.h"
#include "apiserver/apply/managed_fields.h"

namespace podnet::apiserver {
namespace json = boost::json;
namespace {

Shape root_shape(const ResourceType& type) {
  const auto* t = schema::Schema::builtin().for_kind(type.group, type.version, type.kind);
  return t ? Shape::root(t->name) : Shape::root("");
}

json::object* metadata_of(json::value& obj) {
  json::object* o = obj.if_object();
  if (!o) return nullptr;
  json::value& m = (*o)["metadata"];
  if (!m.is_object()) m = json::object{};
  return &m.get_object();
}

// What ownership is about: no apiVersion/kind and none of the server-owned metadata.
json::value owned_view(const json::value& obj) {
  json::value v = obj;
  json::object* o = v.if_object();
  if (!o) return json::object{};
  o->erase("apiVersion");
  o->erase("kind");
  if (auto* m = o->if_contains("metadata"); m && m->is_object()) {
    for (const char* f : {"name", "namespace", "creationTimestamp", "selfLink", "uid", "clusterName",
                          "generation", "managedFields", "resourceVersion"})
      m->get_object().erase(f);
  }
  return v;
}

FieldSet without_roots(FieldSet s) {
  for (const char* f : {"f:apiVersion", "f:kind", "f:metadata"})
    if (auto it = s.children.find(f); it != s.children.end()) it->second.member = false;
  return s.minus(FieldSet{});
}

Comparison owned_changes(const json::value& before, const json::value& after, const Shape& shape) {
  Comparison c = compare(owned_view(before), owned_view(after), shape);
  return {without_roots(c.added), without_roots(c.modified), without_roots(c.removed)};
}

// structured-merge-diff's merge: the config wins on leaves and atomic values; objects merge
// key by key and list-maps and sets item by item.
json::value merge(const json::value* live, const json::value& config, const Shape& s) {
  if (!live || live->is_null() || s.atomic()) return config;
  if (s.object_like() && live->is_object() && config.is_object()) {
    json::object out = live->get_object();
    for (const auto& [k, v] : config.get_object()) {
      std::string key(k);
      if (v.is_null()) {
        out.erase(key);
        continue;
      }
      out[key] = merge(out.if_contains(key), v, s.child(key));
    }
    return out;
  }
  if (s.type && s.type->kind == schema::Kind::kArray && live->is_array() && config.is_array()) {
    json::array out = live->get_array();
    for (const auto& item : config.get_array()) {
      auto pe = item_element(s, item);
      auto match = std::find_if(out.begin(), out.end(),
                                [&](const json::value& o) { return pe && item_element(s, o) == pe; });
      if (match == out.end())
        out.push_back(item);
      else
        *match = merge(&*match, item, s.element());
    }
    return out;
  }
  return config;
}

ManagedFieldsEntry& entry_for(std::vector<ManagedFieldsEntry>& entries, const ResourceType& type,
                              const FieldOwner& owner, const std::string& operation, bool* created) {
  ManagedFieldsEntry key{owner.manager, operation, type.api_version(), "", owner.status ? "status" : "", {}};
  for (auto& e : entries)
    if (e.same_owner(key)) {
      if (created) *created = false;
      return e;
    }
  if (created) *created = true;
  entries.push_back(std::move(key));
  return entries.back();
}

void set_managed_fields(json::value& obj, std::vector<ManagedFieldsEntry> entries) {
  json::object* meta = metadata_of(obj);
  json::array encoded = encode_managed_fields(std::move(entries));
  if (encoded.empty())
    meta->erase("managedFields");
  else
    (*meta)["managedFields"] = std::move(encoded);
}

const json::value* managed_fields_of(const json::value& obj) {
  const json::object* o = obj.if_object();
  const json::value* m = o ? o->if_contains("metadata") : nullptr;
  return m && m->is_object() ? m->get_object().if_contains("managedFields") : nullptr;
}

std::string object_label(const ResourceType& type, const json::value& config) {
  std::string ns, name;
  if (const auto* o = config.if_object())
    if (const auto* m = o->if_contains("metadata"); m && m->is_object()) {
      if (const auto* n = m->get_object().if_contains("namespace"); n && n->is_string()) ns = n->get_string();
      if (const auto* n = m->get_object().if_contains("name"); n && n->is_string()) name = n->get_string();
    }
  return ns + "/" + name + "; " + type.group + "/" + type.version + ", Kind=" + type.kind;
}

}  // namespace

std::string manager_from_user_agent(std::string_view user_agent) {
  std::string m(user_agent.substr(0, user_agent.find('/')));
  return m.substr(0, 128);
}

ApiResult<json::value> server_side_apply(const ResourceType& type, const json::value* live,
                                         const json::value& config, const FieldOwner& owner, bool force) {
  Shape shape = root_shape(type);
  json::value cfg = config;
  if (!cfg.is_object()) return api_fail(bad_request("the applied configuration must be an object"));
  if (auto* m = cfg.get_object().if_contains("metadata"); m && m->is_object())
    m->get_object().erase("managedFields");
  if (type.has_status) {
    // The main resource ignores status and /status everything else, so neither owns the other's.
    json::object& c = cfg.get_object();
    if (owner.status) {
      json::object kept;
      for (const char* k : {"apiVersion", "kind", "metadata", "status"})
        if (auto* v = c.if_contains(k)) kept[k] = *v;
      c = std::move(kept);
    } else {
      c.erase("status");
    }
  }
  auto unknown = unknown_fields(cfg, shape, PathStyle::kApply);
  if (!unknown.empty())
    return api_fail(bad_request("failed to create typed patch object (" + object_label(type, config) +
                                "): " + unknown.front() + ": field not declared in schema"));

  json::value empty = json::object{{"apiVersion", type.api_version()}, {"kind", type.kind}};
  const json::value& current = live ? *live : empty;
  auto entries = decode_managed_fields(managed_fields_of(current));
  if (live && entries.empty()) {
    // An object nobody owned yet: what exists belongs to a placeholder manager, so applying over
    // it can conflict instead of silently taking it.
    FieldOwner before{"before-first-apply", false, owner.now};
    ManagedFieldsEntry& e = entry_for(entries, type, before, "Update", nullptr);
    e.fields = owned_changes(empty, current, shape).added;
    e.time = owner.now;
  }

  json::value merged = merge(&current, cfg, shape);
  FieldSet applied = without_roots(fields_of(owned_view(cfg), shape));
  bool created = false;
  ManagedFieldsEntry& self = entry_for(entries, type, owner, "Apply", &created);
  FieldSet last = self.fields;
  self.fields = applied;
  // Fields this manager applied last time and nobody (itself included) owns now are removed.
  FieldSet owned_now;
  for (const auto& e : entries) owned_now = owned_now.union_with(e.fields);
  remove_fields(merged, last.minus(owned_now), shape);

  Comparison c = owned_changes(current, merged, shape);
  FieldSet changed = c.modified.union_with(c.added);
  std::vector<std::pair<std::string, FieldPath>> conflicts;
  for (auto& e : entries) {
    if (e.same_owner(self)) continue;
    FieldSet lost = e.fields.intersect(changed);
    for (auto& p : lost.paths()) conflicts.emplace_back(e.describe(), std::move(p));
    e.fields = e.fields.minus(lost).minus(c.removed);
  }
  if (!conflicts.empty() && !force) {
    std::sort(conflicts.begin(), conflicts.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    ApiError err{409, "Conflict", ""};
    std::string message;
    if (conflicts.size() == 1) {
      message = "Apply failed with 1 conflict: conflict with " + conflicts[0].first + ": " +
                path_string(conflicts[0].second);
    } else {
      message = "Apply failed with " + std::to_string(conflicts.size()) + " conflicts: ";
      std::string last_manager;
      for (size_t i = 0; i < conflicts.size(); ++i) {
        if (conflicts[i].first != last_manager) {
          message += (i ? "\n" : "") + std::string("conflicts with ") + conflicts[i].first + ":";
          last_manager = conflicts[i].first;
        }
        message += "\n- " + path_string(conflicts[i].second);
      }
    }
    for (const auto& [manager, path] : conflicts)
      err.causes.push_back({"FieldManagerConflict", "conflict with " + manager, path_string(path)});
    err.message = std::move(message);
    return api_fail(std::move(err));
  }
  for (auto& e : entries)
    if (e.same_owner(self)) {
      if (created || owned_view(current) != owned_view(merged)) e.time = owner.now;
      e.api_version = type.api_version();
    }
  set_managed_fields(merged, std::move(entries));
  return merged;
}

void record_update(const ResourceType& type, const json::value& before, json::value& after,
                   const FieldOwner& owner) {
  if (owner.manager.empty() || !after.is_object()) return;
  Shape shape = root_shape(type);
  // A body without managedFields keeps the stored ones; a body that sets them replaces them.
  const json::value* given = managed_fields_of(after);
  auto entries = decode_managed_fields(given ? given : managed_fields_of(before));
  Comparison c = owned_changes(before, after, shape);
  FieldSet changed = c.modified.union_with(c.added);
  for (auto& e : entries) e.fields = e.fields.minus(changed).minus(c.removed);
  ManagedFieldsEntry& self = entry_for(entries, type, owner, "Update", nullptr);
  self.fields = self.fields.union_with(changed);
  if (!changed.empty()) {
    self.time = owner.now;
    self.api_version = type.api_version();
  }
  set_managed_fields(after, std::move(entries));
}

}  // namespace podnet::apiserver
