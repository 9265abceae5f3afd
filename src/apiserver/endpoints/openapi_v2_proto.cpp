// One table of (JSON key, field number, encoding) per gnostic message, in field-number order so the
// bytes match a protobuf serializer's. gnostic's conventions: JSON maps become repeated
// Named<Type>{1: name, 2: value} in document order; vendor extensions ("x-...") become NamedAny
// whose Any carries the value as YAML text (field 2), which is what kube-openapi reads back
// (x-kubernetes-group-version-kind, the patch strategies); compact JSON is valid YAML for that.
// Fields with alternatives (oneof: a type as string or list, additionalProperties as schema or
// boolean, a parameter by its "in", a $ref instead of an object) have encoders of their own.
#include "apiserver/endpoints/openapi_v2_proto.h"

#include <array>
#include <boost/json.hpp>
#include <span>

#include "apiserver/endpoints/protobuf_wire.h"

namespace podnet::apiserver {
namespace json = boost::json;
namespace {

using protobuf::WireWriter;
using Encoded = Result<std::string>;
using Encoder = Encoded (*)(const json::value&, const std::string& path);

enum class As {
  kString,
  kBool,
  kInt64,
  kDouble,
  kStrings,   // repeated string
  kYaml,      // Any{yaml}
  kYamls,     // repeated Any{yaml}
  kMessage,   // `sub` encodes the value
  kMessages,  // repeated: `sub` encodes each element
  kVendor,    // every "x-" key as NamedAny (the key is unused)
  kNamed,     // every other key as Named<sub>{name, sub(value)} (the key is unused)
};

struct Rule {
  std::string_view key;
  uint32_t number = 0;
  As as = As::kString;
  Encoder sub = nullptr;
};

std::unexpected<Error> bad(const std::string& path, const std::string& why) {
  return fail_msg("openapi v2 protobuf: " + path + ": " + why);
}

bool vendor_key(std::string_view key) {
  return key.starts_with("x-");
}

// Free-form values (defaults, examples, enums, extensions): gnostic's Any with the YAML in field 2.
std::string any_yaml(const json::value& v) {
  WireWriter w;
  w.string(2, json::serialize(v));
  return std::move(w).bytes();
}

std::string named(std::string_view name, std::string_view value) {
  WireWriter w;
  w.string(1, name);
  w.message(2, value);
  return std::move(w).bytes();
}

Status put_repeated(WireWriter& w, const Rule& r, const json::value& v, const std::string& path) {
  const json::array* list = v.if_array();
  if (!list) return bad(path, "want an array");
  for (size_t i = 0; i < list->size(); ++i) {
    const json::value& e = (*list)[i];
    std::string at = path + "[" + std::to_string(i) + "]";
    if (r.as == As::kStrings) {
      if (!e.is_string()) return bad(at, "want a string");
      w.message(r.number, e.get_string());  // repeated elements are written even when empty
    } else if (r.as == As::kYamls) {
      w.message(r.number, any_yaml(e));
    } else {
      PODNET_TRY(bytes, r.sub(e, at));
      w.message(r.number, bytes);
    }
  }
  return {};
}

Status put(WireWriter& w, const Rule& r, const json::value& v, const std::string& path) {
  switch (r.as) {
    case As::kString:
      if (!v.is_string()) return bad(path, "want a string");
      w.string(r.number, v.get_string());
      return {};
    case As::kBool:
      if (!v.is_bool()) return bad(path, "want a boolean");
      w.boolean(r.number, v.get_bool());
      return {};
    case As::kInt64:
      if (v.is_int64())
        w.int64(r.number, v.get_int64());
      else if (v.is_uint64() && v.get_uint64() <= INT64_MAX)
        w.int64(r.number, static_cast<int64_t>(v.get_uint64()));
      else
        return bad(path, "want an integer");
      return {};
    case As::kDouble:
      if (!v.is_number()) return bad(path, "want a number");
      w.float64(r.number, v.to_number<double>());
      return {};
    case As::kYaml:
      w.message(r.number, any_yaml(v));
      return {};
    case As::kMessage: {
      PODNET_TRY(bytes, r.sub(v, path));
      w.message(r.number, bytes);
      return {};
    }
    case As::kStrings:
    case As::kYamls:
    case As::kMessages:
      return put_repeated(w, r, v, path);
    case As::kVendor:
    case As::kNamed:
      break;  // whole-object rules, handled by message()
  }
  return {};
}

Encoded message(const json::value& v, std::span<const Rule> rules, const std::string& path) {
  const json::object* o = v.if_object();
  if (!o) return bad(path, "want an object");
  bool has_vendor = false, has_named = false;
  for (const Rule& r : rules) {
    has_vendor |= r.as == As::kVendor;
    has_named |= r.as == As::kNamed;
  }
  for (const auto& [key, _] : *o) {
    bool known = vendor_key(key) ? has_vendor : has_named;
    for (const Rule& r : rules) known |= !r.key.empty() && r.key == key;
    if (!known) return bad(path, "field \"" + std::string(key) + "\" is not supported");
  }
  WireWriter w;
  for (const Rule& r : rules) {
    if (r.as == As::kVendor || r.as == As::kNamed) {
      for (const auto& [key, value] : *o) {
        if (vendor_key(key) != (r.as == As::kVendor)) continue;
        std::string at = path + "." + std::string(key);
        if (r.as == As::kVendor) {
          w.message(r.number, named(key, any_yaml(value)));
        } else {
          PODNET_TRY(bytes, r.sub(value, at));
          w.message(r.number, named(key, bytes));
        }
      }
      continue;
    }
    if (const json::value* x = o->if_contains(r.key)) {
      if (auto s = put(w, r, *x, path + "." + std::string(r.key)); !s) return std::unexpected(s.error());
    }
  }
  return std::move(w).bytes();
}

// ---- the messages, leaves first.

Encoded external_docs(const json::value& v, const std::string& p) {
  static constexpr Rule kRules[] = {
      {"description", 1, As::kString}, {"url", 2, As::kString}, {"", 3, As::kVendor}};
  return message(v, kRules, p);
}

Encoded json_reference(const json::value& v, const std::string& p) {
  static constexpr Rule kRules[] = {{"$ref", 1, As::kString}, {"description", 2, As::kString}};
  return message(v, kRules, p);
}

Encoded schema(const json::value& v, const std::string& p);

Encoded type_item(const json::value& v, const std::string& p) {
  static constexpr Rule kValue{"type", 1, As::kStrings};
  WireWriter w;
  if (v.is_string()) {
    w.message(1, v.get_string());
  } else if (auto s = put_repeated(w, kValue, v, p); !s) {
    return std::unexpected(s.error());
  }
  return std::move(w).bytes();
}

Encoded items_item(const json::value& v, const std::string& p) {
  static constexpr Rule kSchemas{"items", 1, As::kMessages, schema};
  WireWriter w;
  if (v.is_object()) {
    PODNET_TRY(bytes, schema(v, p));
    w.message(1, bytes);
  } else if (auto s = put_repeated(w, kSchemas, v, p); !s) {
    return std::unexpected(s.error());
  }
  return std::move(w).bytes();
}

Encoded additional_properties_item(const json::value& v, const std::string& p) {
  WireWriter w;
  if (v.is_bool()) {
    w.present_bool(2, v.get_bool());  // a oneof member: written even when false
    return std::move(w).bytes();
  }
  PODNET_TRY(bytes, schema(v, p));
  w.message(1, bytes);
  return std::move(w).bytes();
}

Encoded properties(const json::value& v, const std::string& p) {
  static constexpr Rule kRules[] = {{"", 1, As::kNamed, schema}};
  return message(v, kRules, p);
}

Encoded schema(const json::value& v, const std::string& p) {
  static constexpr Rule kRules[] = {
      {"$ref", 1, As::kString},
      {"format", 2, As::kString},
      {"title", 3, As::kString},
      {"description", 4, As::kString},
      {"default", 5, As::kYaml},
      {"multipleOf", 6, As::kDouble},
      {"maximum", 7, As::kDouble},
      {"exclusiveMaximum", 8, As::kBool},
      {"minimum", 9, As::kDouble},
      {"exclusiveMinimum", 10, As::kBool},
      {"maxLength", 11, As::kInt64},
      {"minLength", 12, As::kInt64},
      {"pattern", 13, As::kString},
      {"maxItems", 14, As::kInt64},
      {"minItems", 15, As::kInt64},
      {"uniqueItems", 16, As::kBool},
      {"maxProperties", 17, As::kInt64},
      {"minProperties", 18, As::kInt64},
      {"required", 19, As::kStrings},
      {"enum", 20, As::kYamls},
      {"additionalProperties", 21, As::kMessage, additional_properties_item},
      {"type", 22, As::kMessage, type_item},
      {"items", 23, As::kMessage, items_item},
      {"allOf", 24, As::kMessages, schema},
      {"properties", 25, As::kMessage, properties},
      {"discriminator", 26, As::kString},
      {"readOnly", 27, As::kBool},
      // 28: xml, not supported
      {"externalDocs", 29, As::kMessage, external_docs},
      {"example", 30, As::kYaml},
      {"", 31, As::kVendor},
  };
  return message(v, kRules, p);
}

Encoded file_schema(const json::value& v, const std::string& p) {
  static constexpr Rule kRules[] = {
      {"format", 1, As::kString},      {"title", 2, As::kString},
      {"description", 3, As::kString}, {"default", 4, As::kYaml},
      {"required", 5, As::kStrings},   {"type", 6, As::kString},
      {"readOnly", 7, As::kBool},      {"externalDocs", 8, As::kMessage, external_docs},
      {"example", 9, As::kYaml},       {"", 10, As::kVendor},
  };
  return message(v, kRules, p);
}

// The items of a non-body array parameter (PrimitivesItems).
Encoded primitives_items(const json::value& v, const std::string& p) {
  static constexpr Rule kRules[] = {
      {"type", 1, As::kString},
      {"format", 2, As::kString},
      {"items", 3, As::kMessage, primitives_items},
      {"collectionFormat", 4, As::kString},
      {"default", 5, As::kYaml},
      {"maximum", 6, As::kDouble},
      {"exclusiveMaximum", 7, As::kBool},
      {"minimum", 8, As::kDouble},
      {"exclusiveMinimum", 9, As::kBool},
      {"maxLength", 10, As::kInt64},
      {"minLength", 11, As::kInt64},
      {"pattern", 12, As::kString},
      {"maxItems", 13, As::kInt64},
      {"minItems", 14, As::kInt64},
      {"uniqueItems", 15, As::kBool},
      {"enum", 16, As::kYamls},
      {"multipleOf", 17, As::kDouble},
      {"", 18, As::kVendor},
  };
  return message(v, kRules, p);
}

// Query and formData parameters share one layout; path and header parameters have the same one
// without allowEmptyValue (5), so every later field number is one lower.
constexpr Rule kQueryParameterRules[] = {
    {"required", 1, As::kBool},
    {"in", 2, As::kString},
    {"description", 3, As::kString},
    {"name", 4, As::kString},
    {"allowEmptyValue", 5, As::kBool},
    {"type", 6, As::kString},
    {"format", 7, As::kString},
    {"items", 8, As::kMessage, primitives_items},
    {"collectionFormat", 9, As::kString},
    {"default", 10, As::kYaml},
    {"maximum", 11, As::kDouble},
    {"exclusiveMaximum", 12, As::kBool},
    {"minimum", 13, As::kDouble},
    {"exclusiveMinimum", 14, As::kBool},
    {"maxLength", 15, As::kInt64},
    {"minLength", 16, As::kInt64},
    {"pattern", 17, As::kString},
    {"maxItems", 18, As::kInt64},
    {"minItems", 19, As::kInt64},
    {"uniqueItems", 20, As::kBool},
    {"enum", 21, As::kYamls},
    {"multipleOf", 22, As::kDouble},
    {"", 23, As::kVendor},
};

constexpr auto kPathParameterRules = [] {
  std::array<Rule, std::size(kQueryParameterRules) - 1> out{};
  size_t i = 0;
  for (Rule r : kQueryParameterRules) {
    if (r.number == 5) continue;
    if (r.number > 5) --r.number;
    out[i++] = r;
  }
  return out;
}();
static_assert(kPathParameterRules[4].key == "type" && kPathParameterRules[4].number == 5);

Encoded query_parameter(const json::value& v, const std::string& p) {
  return message(v, kQueryParameterRules, p);
}

Encoded path_parameter(const json::value& v, const std::string& p) {
  return message(v, kPathParameterRules, p);
}

Encoded body_parameter(const json::value& v, const std::string& p) {
  static constexpr Rule kRules[] = {
      {"description", 1, As::kString},
      {"name", 2, As::kString},
      {"in", 3, As::kString},
      {"required", 4, As::kBool},
      {"schema", 5, As::kMessage, schema},
      {"", 6, As::kVendor},
  };
  return message(v, kRules, p);
}

std::string in_of(const json::value& v) {
  const json::object* o = v.if_object();
  const json::value* in = o ? o->if_contains("in") : nullptr;
  return in && in->is_string() ? std::string(in->get_string()) : std::string();
}

// Parameter: oneof {1: BodyParameter, 2: NonBodyParameter{1: header, 2: formData, 3: query, 4: path}}.
Encoded parameter(const json::value& v, const std::string& p) {
  const std::string in = in_of(v);
  WireWriter w;
  if (in == "body") {
    PODNET_TRY(bytes, body_parameter(v, p));
    w.message(1, bytes);
    return std::move(w).bytes();
  }
  uint32_t member = in == "header" ? 1 : in == "formData" ? 2 : in == "query" ? 3 : in == "path" ? 4 : 0;
  if (member == 0) return bad(p, "parameter \"in\" is \"" + in + "\"");
  PODNET_TRY(bytes, (member == 1 || member == 4) ? path_parameter(v, p) : query_parameter(v, p));
  WireWriter non_body;
  non_body.message(member, bytes);
  w.message(2, non_body.bytes());
  return std::move(w).bytes();
}

bool is_reference(const json::value& v) {
  return v.is_object() && v.get_object().contains("$ref");
}

// ParametersItem: oneof {1: Parameter, 2: JsonReference}.
Encoded parameters_item(const json::value& v, const std::string& p) {
  WireWriter w;
  PODNET_TRY(bytes, is_reference(v) ? json_reference(v, p) : parameter(v, p));
  w.message(is_reference(v) ? 2 : 1, bytes);
  return std::move(w).bytes();
}

// SchemaItem: oneof {1: Schema, 2: FileSchema}.
Encoded schema_item(const json::value& v, const std::string& p) {
  bool file = v.is_object() && v.get_object().contains("type") && v.get_object().at("type") == "file";
  WireWriter w;
  PODNET_TRY(bytes, file ? file_schema(v, p) : schema(v, p));
  w.message(file ? 2 : 1, bytes);
  return std::move(w).bytes();
}

Encoded response(const json::value& v, const std::string& p) {
  static constexpr Rule kRules[] = {
      {"description", 1, As::kString},
      {"schema", 2, As::kMessage, schema_item},
      // 3: headers, 4: examples, not supported
      {"", 5, As::kVendor},
  };
  return message(v, kRules, p);
}

// ResponseValue: oneof {1: Response, 2: JsonReference}.
Encoded response_value(const json::value& v, const std::string& p) {
  WireWriter w;
  PODNET_TRY(bytes, is_reference(v) ? json_reference(v, p) : response(v, p));
  w.message(is_reference(v) ? 2 : 1, bytes);
  return std::move(w).bytes();
}

Encoded responses(const json::value& v, const std::string& p) {
  static constexpr Rule kRules[] = {{"", 1, As::kNamed, response_value}, {"", 2, As::kVendor}};
  return message(v, kRules, p);
}

Encoded operation(const json::value& v, const std::string& p) {
  static constexpr Rule kRules[] = {
      {"tags", 1, As::kStrings},
      {"summary", 2, As::kString},
      {"description", 3, As::kString},
      {"externalDocs", 4, As::kMessage, external_docs},
      {"operationId", 5, As::kString},
      {"produces", 6, As::kStrings},
      {"consumes", 7, As::kStrings},
      {"parameters", 8, As::kMessages, parameters_item},
      {"responses", 9, As::kMessage, responses},
      {"schemes", 10, As::kStrings},
      {"deprecated", 11, As::kBool},
      // 12: security, not supported
      {"", 13, As::kVendor},
  };
  return message(v, kRules, p);
}

Encoded path_item(const json::value& v, const std::string& p) {
  static constexpr Rule kRules[] = {
      {"$ref", 1, As::kString},
      {"get", 2, As::kMessage, operation},
      {"put", 3, As::kMessage, operation},
      {"post", 4, As::kMessage, operation},
      {"delete", 5, As::kMessage, operation},
      {"options", 6, As::kMessage, operation},
      {"head", 7, As::kMessage, operation},
      {"patch", 8, As::kMessage, operation},
      {"parameters", 9, As::kMessages, parameters_item},
      {"", 10, As::kVendor},
  };
  return message(v, kRules, p);
}

Encoded paths(const json::value& v, const std::string& p) {
  static constexpr Rule kRules[] = {{"", 1, As::kVendor}, {"", 2, As::kNamed, path_item}};
  return message(v, kRules, p);
}

Encoded definitions(const json::value& v, const std::string& p) {
  static constexpr Rule kRules[] = {{"", 1, As::kNamed, schema}};
  return message(v, kRules, p);
}

Encoded parameter_definitions(const json::value& v, const std::string& p) {
  static constexpr Rule kRules[] = {{"", 1, As::kNamed, parameter}};
  return message(v, kRules, p);
}

Encoded response_definitions(const json::value& v, const std::string& p) {
  static constexpr Rule kRules[] = {{"", 1, As::kNamed, response}};
  return message(v, kRules, p);
}

Encoded contact(const json::value& v, const std::string& p) {
  static constexpr Rule kRules[] = {
      {"name", 1, As::kString}, {"url", 2, As::kString}, {"email", 3, As::kString}, {"", 4, As::kVendor}};
  return message(v, kRules, p);
}

Encoded license(const json::value& v, const std::string& p) {
  static constexpr Rule kRules[] = {{"name", 1, As::kString}, {"url", 2, As::kString}, {"", 3, As::kVendor}};
  return message(v, kRules, p);
}

Encoded info(const json::value& v, const std::string& p) {
  static constexpr Rule kRules[] = {
      {"title", 1, As::kString},
      {"version", 2, As::kString},
      {"description", 3, As::kString},
      {"termsOfService", 4, As::kString},
      {"contact", 5, As::kMessage, contact},
      {"license", 6, As::kMessage, license},
      {"", 7, As::kVendor},
  };
  return message(v, kRules, p);
}

Encoded tag(const json::value& v, const std::string& p) {
  static constexpr Rule kRules[] = {{"name", 1, As::kString},
                                    {"description", 2, As::kString},
                                    {"externalDocs", 3, As::kMessage, external_docs},
                                    {"", 4, As::kVendor}};
  return message(v, kRules, p);
}

Encoded document(const json::value& v, const std::string& p) {
  static constexpr Rule kRules[] = {
      {"swagger", 1, As::kString},
      {"info", 2, As::kMessage, info},
      {"host", 3, As::kString},
      {"basePath", 4, As::kString},
      {"schemes", 5, As::kStrings},
      {"consumes", 6, As::kStrings},
      {"produces", 7, As::kStrings},
      {"paths", 8, As::kMessage, paths},
      {"definitions", 9, As::kMessage, definitions},
      {"parameters", 10, As::kMessage, parameter_definitions},
      {"responses", 11, As::kMessage, response_definitions},
      // 12: security, 13: securityDefinitions, not supported
      {"tags", 14, As::kMessages, tag},
      {"externalDocs", 15, As::kMessage, external_docs},
      {"", 16, As::kVendor},
  };
  return message(v, kRules, p);
}

}  // namespace

Result<std::string> encode_openapi_v2(const json::value& swagger) {
  return document(swagger, "$");
}

}  // namespace podnet::apiserver
