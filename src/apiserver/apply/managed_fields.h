// Field sets as server-side apply sees them: which paths of an object a value sets (per the
// schema's list and map semantics), what changed between two objects, the fieldsV1 encoding of
// metadata.managedFields, and the entries (manager, operation, time) that own them.
#pragma once

#include <boost/json/value.hpp>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "apiserver/apply/schema.h"

namespace podnet::apiserver {

// A path element in fieldsV1 spelling: f:<field>, k:<json of the key fields>, v:<json>, i:<index>.
using FieldPath = std::vector<std::string>;

// A set of paths stored as a trie; a node is a member when its own path is in the set.
class FieldSet {
 public:
  void insert(const FieldPath& path);
  bool contains(const FieldPath& path) const;
  bool empty() const;
  FieldSet union_with(const FieldSet& other) const;
  FieldSet minus(const FieldSet& other) const;
  FieldSet intersect(const FieldSet& other) const;
  // Member paths in order (the trie's key order).
  std::vector<FieldPath> paths() const;
  bool operator==(const FieldSet&) const = default;

  // fieldsV1 JSON ({"f:spec":{"f:ports":{"k:{\"port\":80,\"protocol\":\"TCP\"}":{".":{},...}}}}).
  boost::json::value to_json() const;
  static FieldSet from_json(const boost::json::value& v);

  bool member = false;
  std::map<std::string, FieldSet> children;
};

// ".spec.ports[port=80,protocol=\"TCP\"].targetPort", as kube's conflict messages print paths.
std::string path_string(const FieldPath& path);

// Where a value sits in the schema: its type and, for lists and maps, the field declaring them.
struct Shape {
  const schema::Type* type = nullptr;
  const schema::Field* field = nullptr;  // list type, map keys, map type; null for list elements
  static Shape root(const std::string& struct_name);
  Shape child(const std::string& key) const;    // an object member (the field or the map's element)
  Shape element() const;                        // a list element
  bool declared(const std::string& key) const;  // a declared struct field (not a map entry)
  bool atomic() const;                          // scalars, atomic lists and maps: set as a whole
  bool object_like() const;                     // struct, map or free-form
};

// The path element of a list item: k: for list-maps (missing keys take the schema default), v:
// for sets, nullopt for atomic lists or an item without its keys.
std::optional<std::string> item_element(const Shape& list, const boost::json::value& item);

// The fields `value` sets: leaves, list items, empty and atomic objects (structured-merge-diff's
// ToFieldSet).
FieldSet fields_of(const boost::json::value& value, const Shape& shape);

struct Comparison {
  FieldSet added, modified, removed;
};
Comparison compare(const boost::json::value& before, const boost::json::value& after, const Shape& shape);

// Removes every member path of `set` from `value` (list items by key, fields by name); objects
// and lists emptied by that go too.
void remove_fields(boost::json::value& value, const FieldSet& set, const Shape& shape);

struct ManagedFieldsEntry {
  std::string manager;
  std::string operation;  // Apply or Update
  std::string api_version;
  std::string time;
  std::string subresource;
  FieldSet fields;

  bool same_owner(const ManagedFieldsEntry& o) const {
    return manager == o.manager && operation == o.operation && subresource == o.subresource;
  }
  // How kube names the owner in conflict messages: "kubectl" or "kubectl-edit" using v1.
  std::string describe() const;
};

// Entries of metadata.managedFields; malformed entries are skipped.
std::vector<ManagedFieldsEntry> decode_managed_fields(const boost::json::value* managed_fields);
// In kube's order: Apply before Update, then by time, manager, apiVersion and subresource.
boost::json::array encode_managed_fields(std::vector<ManagedFieldsEntry> entries);

}  // namespace podnet::apiserver
