// The structural schema of the kinds podnet serves: field names, types, list and map semantics.
// One source for the OpenAPI documents, unknown-field validation and server-side apply.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace podnet::apiserver::schema {

enum class Kind {
  kString,
  kInteger,  // format int32 / int64
  kNumber,
  kBoolean,
  kIntOrString,
  kQuantity,  // string or number (resource.Quantity)
  kTime,      // RFC 3339 string
  kStruct,    // a named type with declared fields
  kArray,
  kMap,  // string keys, one element type
  kAny,  // free-form JSON (x-kubernetes-preserve-unknown-fields)
};

struct Type {
  Kind kind = Kind::kAny;
  std::string format;                // int32, int64
  std::string ref;                   // kStruct: the type's short name
  std::shared_ptr<const Type> elem;  // kArray, kMap
};

struct Field {
  std::string name;
  Type type;
  std::string description;
  bool required = false;
  // Lists: "atomic" (default), "set" or "map" (then map_keys name the key fields).
  std::string list_type;
  std::vector<std::string> map_keys;
  std::string map_type;  // maps: "atomic" or "" (granular)
  std::string patch_merge_key;
  std::string patch_strategy;  // "merge", "retainKeys", "merge,retainKeys"
  std::string default_value;   // a JSON scalar, e.g. "\"TCP\"" (list-map keys need it)
};

struct GroupVersionKind {
  std::string group, version, kind;
};

struct StructType {
  std::string name;       // short: "PodSpec"
  std::string full_name;  // OpenAPI component: "io.k8s.api.core.v1.PodSpec"
  std::string description;
  std::optional<GroupVersionKind> gvk;
  std::vector<Field> fields;
  Type self;  // a reference to this type, where walks over an object start
  const Field* field(const std::string& name) const;
};

class Schema {
 public:
  // The built-in table (schema_table.cpp). Parsed once; a malformed table is a programming error.
  static const Schema& builtin();
  // Parses the table format (see schema_table.cpp); the error names the bad line.
  static std::optional<Schema> parse(const std::string& text, std::string* error);

  const StructType* find(const std::string& name) const;
  const StructType* for_kind(const std::string& group, const std::string& version,
                             const std::string& kind) const;
  const std::vector<StructType>& types() const { return types_; }

 private:
  std::vector<StructType> types_;
  std::map<std::string, size_t> by_name_;
};

}  // namespace podnet::apiserver::schema
