// Follows sigs.k8s.io/structured-merge-diff's walkers (ToFieldSet, Compare, RemoveItems) closely
// enough that the sets, and therefore ownership and conflicts, match kube-apiserver's for the
// served kinds. Free-form (`any`) values behave like smd's deduced types: objects are granular,
// lists atomic.
#include "apiserver/apply/managed_fields.h"

#include <algorithm>
#include <boost/json.hpp>

namespace podnet::apiserver {
namespace json = boost::json;
namespace {

const schema::Type kAny{schema::Kind::kAny, "", "", nullptr};

schema::Kind kind_of(const Shape& s) {
  return s.type ? s.type->kind : schema::Kind::kAny;
}

}  // namespace

// ---- FieldSet

void FieldSet::insert(const FieldPath& path) {
  FieldSet* node = this;
  for (const auto& e : path) node = &node->children[e];
  node->member = true;
}

bool FieldSet::contains(const FieldPath& path) const {
  const FieldSet* node = this;
  for (const auto& e : path) {
    auto it = node->children.find(e);
    if (it == node->children.end()) return false;
    node = &it->second;
  }
  return node->member;
}

bool FieldSet::empty() const {
  if (member) return false;
  return std::all_of(children.begin(), children.end(), [](const auto& c) { return c.second.empty(); });
}

FieldSet FieldSet::union_with(const FieldSet& other) const {
  FieldSet out = *this;
  out.member = member || other.member;
  for (const auto& [k, c] : other.children) out.children[k] = out.children[k].union_with(c);
  return out;
}

FieldSet FieldSet::minus(const FieldSet& other) const {
  FieldSet out;
  out.member = member && !other.member;
  for (const auto& [k, c] : children) {
    auto it = other.children.find(k);
    FieldSet d = it == other.children.end() ? c : c.minus(it->second);
    if (!d.empty()) out.children[k] = std::move(d);
  }
  return out;
}

FieldSet FieldSet::intersect(const FieldSet& other) const {
  FieldSet out;
  out.member = member && other.member;
  for (const auto& [k, c] : children) {
    auto it = other.children.find(k);
    if (it == other.children.end()) continue;
    FieldSet i = c.intersect(it->second);
    if (!i.empty()) out.children[k] = std::move(i);
  }
  return out;
}

std::vector<FieldPath> FieldSet::paths() const {
  std::vector<FieldPath> out;
  FieldPath cur;
  auto walk = [&](auto& self, const FieldSet& node) -> void {
    if (node.member) out.push_back(cur);
    for (const auto& [k, c] : node.children) {
      cur.push_back(k);
      self(self, c);
      cur.pop_back();
    }
  };
  walk(walk, *this);
  return out;
}

json::value FieldSet::to_json() const {
  json::object o;
  if (member && !children.empty()) o["."] = json::object{};
  for (const auto& [k, c] : children)
    if (!c.empty()) o[k] = c.to_json();
  return o;
}

FieldSet FieldSet::from_json(const json::value& v) {
  FieldSet s;
  const json::object* o = v.if_object();
  if (!o) return s;
  for (const auto& [k, c] : *o) {
    if (k == ".") {
      s.member = true;
      continue;
    }
    FieldSet child = from_json(c);
    if (c.is_object() && c.get_object().empty()) child.member = true;
    s.children[std::string(k)] = std::move(child);
  }
  return s;
}

std::string path_string(const FieldPath& path) {
  std::string out;
  for (const auto& e : path) {
    std::string_view body = std::string_view(e).substr(2);
    if (e.starts_with("f:")) {
      out += "." + std::string(body);
    } else if (e.starts_with("k:")) {
      boost::system::error_code ec;
      json::value keys = json::parse(body, ec);
      out += "[";
      bool first = true;
      if (!ec && keys.is_object())
        for (const auto& [k, v] : keys.get_object()) {
          out += (first ? "" : ",") + std::string(k) + "=" + json::serialize(v);
          first = false;
        }
      out += "]";
    } else if (e.starts_with("v:")) {
      out += "[=" + std::string(body) + "]";
    } else {
      out += "[" + std::string(body) + "]";
    }
  }
  return out;
}

// ---- Shape

Shape Shape::root(const std::string& struct_name) {
  const schema::StructType* t = schema::Schema::builtin().find(struct_name);
  return Shape{t ? &t->self : &kAny, nullptr};
}

Shape Shape::child(const std::string& key) const {
  switch (kind_of(*this)) {
    case schema::Kind::kStruct: {
      const schema::StructType* t = schema::Schema::builtin().find(type->ref);
      const schema::Field* f = t ? t->field(key) : nullptr;
      return f ? Shape{&f->type, f} : Shape{&kAny, nullptr};
    }
    case schema::Kind::kMap:
      return Shape{type->elem.get(), nullptr};
    default:
      return Shape{&kAny, nullptr};
  }
}

Shape Shape::element() const {
  if (kind_of(*this) == schema::Kind::kArray) return Shape{type->elem.get(), nullptr};
  return Shape{&kAny, nullptr};
}

bool Shape::declared(const std::string& key) const {
  if (kind_of(*this) != schema::Kind::kStruct) return false;
  const schema::StructType* t = schema::Schema::builtin().find(type->ref);
  return t && t->field(key);
}

bool Shape::object_like() const {
  auto k = kind_of(*this);
  return k == schema::Kind::kStruct || k == schema::Kind::kMap || k == schema::Kind::kAny;
}

bool Shape::atomic() const {
  switch (kind_of(*this)) {
    case schema::Kind::kStruct:
    case schema::Kind::kAny:
      return false;
    case schema::Kind::kMap:
      return field && field->map_type == "atomic";
    case schema::Kind::kArray:
      return !field || field->list_type.empty() || field->list_type == "atomic";
    default:
      return true;
  }
}

std::optional<std::string> item_element(const Shape& list, const json::value& item) {
  if (list.atomic() || !list.field) return std::nullopt;
  if (list.field->list_type == "set") return "v:" + json::serialize(item);
  const json::object* o = item.if_object();
  if (!o) return std::nullopt;
  json::object keys;
  std::vector<std::string> names = list.field->map_keys;
  std::sort(names.begin(), names.end());
  Shape elem = list.element();
  for (const auto& name : names) {
    if (const json::value* v = o->if_contains(name)) {
      keys[name] = *v;
      continue;
    }
    Shape key_shape = elem.child(name);
    if (!key_shape.field || key_shape.field->default_value.empty()) return std::nullopt;
    keys[name] = json::parse(key_shape.field->default_value);
  }
  return "k:" + json::serialize(keys);
}

// ---- ToFieldSet

namespace {

void collect(const json::value& v, const Shape& s, FieldSet& node) {
  if (s.atomic()) {
    node.member = true;
    return;
  }
  if (kind_of(s) == schema::Kind::kArray || (kind_of(s) == schema::Kind::kAny && v.is_array())) {
    const json::array* a = v.if_array();
    if (!a || kind_of(s) == schema::Kind::kAny) {
      node.member = true;
      return;
    }
    for (const auto& item : *a) {
      auto pe = item_element(s, item);
      if (!pe) continue;
      FieldSet& c = node.children[*pe];
      collect(item, s.element(), c);
      c.member = true;
    }
    return;
  }
  const json::object* o = v.if_object();
  if (!o) {
    node.member = true;
    return;
  }
  for (const auto& [k, x] : *o) {
    std::string key(k);
    FieldSet& c = node.children["f:" + key];
    collect(x, s.child(key), c);
    if (x.is_null() || (x.is_object() && x.get_object().empty()) || !s.declared(key)) c.member = true;
  }
}

}  // namespace

FieldSet fields_of(const json::value& value, const Shape& shape) {
  FieldSet out;
  collect(value, shape, out);
  return out;
}

// ---- Compare

namespace {

struct Comparer {
  Comparison& out;
  FieldPath path;

  void leaf(const json::value* l, const json::value* r) {
    if (!l)
      out.added.insert(path);
    else if (!r)
      out.removed.insert(path);
    else if (*l != *r)
      out.modified.insert(path);
  }

  static bool empty_container(const json::value* v) {
    if (!v || v->is_null()) return true;
    if (const auto* o = v->if_object()) return o->empty();
    if (const auto* a = v->if_array()) return a->empty();
    return false;
  }

  void run(const json::value* l, const json::value* r, const Shape& s) {
    if (!l && !r) return;
    bool list = kind_of(s) == schema::Kind::kArray;
    bool both_objects = (!l || l->is_object()) && (!r || r->is_object());
    bool both_arrays = (!l || l->is_array()) && (!r || r->is_array());
    bool granular_list = list && !s.atomic() && both_arrays;
    bool granular_map = s.object_like() && !s.atomic() && both_objects;
    if ((!granular_list && !granular_map) || (empty_container(l) && empty_container(r))) {
      leaf(l, r);
      return;
    }
    if (granular_map) {
      const json::object* lo = l ? &l->get_object() : nullptr;
      const json::object* ro = r ? &r->get_object() : nullptr;
      if (lo)
        for (const auto& [k, lv] : *lo)
          descend("f:" + std::string(k), &lv, ro ? ro->if_contains(k) : nullptr, s.child(std::string(k)));
      if (ro)
        for (const auto& [k, rv] : *ro)
          if (!lo || !lo->contains(k)) descend("f:" + std::string(k), nullptr, &rv, s.child(std::string(k)));
    } else {
      std::map<std::string, const json::value*> left, right;
      if (l)
        for (const auto& item : l->get_array())
          if (auto pe = item_element(s, item)) left.emplace(*pe, &item);
      if (r)
        for (const auto& item : r->get_array())
          if (auto pe = item_element(s, item)) right.emplace(*pe, &item);
      for (const auto& [pe, lv] : left) {
        auto it = right.find(pe);
        descend(pe, lv, it == right.end() ? nullptr : it->second, s.element());
      }
      for (const auto& [pe, rv] : right)
        if (!left.contains(pe)) descend(pe, nullptr, rv, s.element());
    }
    if (!l)
      out.added.insert(path);
    else if (!r)
      out.removed.insert(path);
  }

  void descend(const std::string& pe, const json::value* l, const json::value* r, const Shape& s) {
    path.push_back(pe);
    run(l, r, s);
    path.pop_back();
  }
};

}  // namespace

Comparison compare(const json::value& before, const json::value& after, const Shape& shape) {
  Comparison c;
  Comparer{c, {}}.run(&before, &after, shape);
  return c;
}

// ---- RemoveItems

void remove_fields(json::value& value, const FieldSet& set, const Shape& shape) {
  if (auto* o = value.if_object()) {
    for (const auto& [pe, child] : set.children) {
      if (!pe.starts_with("f:")) continue;
      std::string key = pe.substr(2);
      auto it = o->find(key);
      if (it == o->end()) continue;
      if (child.member) {
        o->erase(it);
        continue;
      }
      bool had = !Comparer::empty_container(&it->value());
      remove_fields(it->value(), child, shape.child(key));
      if (had && Comparer::empty_container(&it->value())) o->erase(key);
    }
  } else if (auto* a = value.if_array()) {
    Shape elem = shape.element();
    for (size_t i = 0; i < a->size();) {
      auto pe = item_element(shape, (*a)[i]);
      auto it = pe ? set.children.find(*pe) : set.children.end();
      if (it == set.children.end()) {
        ++i;
        continue;
      }
      if (it->second.member) {
        a->erase(a->begin() + static_cast<std::ptrdiff_t>(i));
        continue;
      }
      remove_fields((*a)[i], it->second, elem);
      ++i;
    }
  }
}

// ---- managedFields entries

std::string ManagedFieldsEntry::describe() const {
  std::string out = json::serialize(json::value(manager));
  if (!subresource.empty()) out += " with subresource " + json::serialize(json::value(subresource));
  if (operation == "Update") out += " using " + api_version;
  return out;
}

std::vector<ManagedFieldsEntry> decode_managed_fields(const json::value* managed_fields) {
  std::vector<ManagedFieldsEntry> out;
  const json::array* a = managed_fields ? managed_fields->if_array() : nullptr;
  if (!a) return out;
  auto str = [](const json::object& o, const char* k) {
    const json::value* v = o.if_contains(k);
    return v && v->is_string() ? std::string(v->get_string()) : std::string();
  };
  for (const auto& v : *a) {
    const json::object* o = v.if_object();
    if (!o) continue;
    ManagedFieldsEntry e{str(*o, "manager"), str(*o, "operation"),   str(*o, "apiVersion"),
                         str(*o, "time"),    str(*o, "subresource"), {}};
    if (e.operation != "Apply" && e.operation != "Update") continue;
    if (const json::value* f = o->if_contains("fieldsV1")) e.fields = FieldSet::from_json(*f);
    out.push_back(std::move(e));
  }
  return out;
}

json::array encode_managed_fields(std::vector<ManagedFieldsEntry> entries) {
  std::sort(entries.begin(), entries.end(), [](const auto& p, const auto& q) {
    return std::tie(p.operation, p.time, p.manager, p.api_version, p.subresource) <
           std::tie(q.operation, q.time, q.manager, q.api_version, q.subresource);
  });
  json::array out;
  for (const auto& e : entries) {
    if (e.fields.empty()) continue;
    json::object o{{"manager", e.manager}, {"operation", e.operation}, {"apiVersion", e.api_version}};
    if (!e.time.empty()) o["time"] = e.time;
    o["fieldsType"] = "FieldsV1";
    o["fieldsV1"] = e.fields.to_json();
    if (!e.subresource.empty()) o["subresource"] = e.subresource;
    out.push_back(std::move(o));
  }
  return out;
}

}  // namespace podnet::apiserver
