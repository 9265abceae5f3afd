// Go's decoder keeps only the first type error it meets and names the field by its JSON path from
// the root without list indices, prefixed with the Go struct that holds it.
#include "apiserver/apply/type_check.h"

#include <boost/json.hpp>
#include <cstdint>

#include "apiserver/apply/schema.h"

namespace podnet::apiserver {
namespace json = boost::json;
namespace {

using schema::Kind;

std::string go_type(const schema::Type& t) {
  switch (t.kind) {
    case Kind::kString:
      return "string";
    case Kind::kInteger:
      return t.format.empty() ? "int64" : t.format;
    case Kind::kNumber:
      return "float64";
    case Kind::kBoolean:
      return "bool";
    case Kind::kIntOrString:
      return "intstr.IntOrString";
    case Kind::kQuantity:
      return "resource.Quantity";
    case Kind::kTime:
      return "v1.Time";
    case Kind::kStruct:
      return "v1." + t.ref;
    case Kind::kArray:
      return "[]" + (t.elem ? go_type(*t.elem) : std::string("interface {}"));
    case Kind::kMap:
      return "map[string]" + (t.elem ? go_type(*t.elem) : std::string("interface {}"));
    case Kind::kAny:
      break;
  }
  return "interface {}";
}

// How Go's decoder names a JSON value it cannot store ("number 1.5" only for integer targets).
std::string describe(const json::value& v, bool with_literal) {
  switch (v.kind()) {
    case json::kind::string:
      return "string";
    case json::kind::bool_:
      return "bool";
    case json::kind::object:
      return "object";
    case json::kind::array:
      return "array";
    default:
      return with_literal ? "number " + json::serialize(v) : "number";
  }
}

bool integer_fits(const json::value& v, const std::string& format) {
  int64_t lo = format == "int32" ? INT32_MIN : INT64_MIN, hi = format == "int32" ? INT32_MAX : INT64_MAX;
  if (v.is_int64()) return v.get_int64() >= lo && v.get_int64() <= hi;
  if (v.is_uint64()) return v.get_uint64() <= static_cast<uint64_t>(hi);
  return false;
}

struct Walker {
  std::optional<std::string> error;

  void misfit(const json::value& v, const schema::Type& t, const std::string& owner, const std::string& path,
              bool with_literal) {
    error = "json: cannot unmarshal " + describe(v, with_literal) + " into Go struct field " + owner + "." +
            path + " of type " + go_type(t);
  }

  // `owner`: the Go struct holding the field at `path`.
  void walk(const json::value& v, const schema::Type& t, const std::string& owner, const std::string& path) {
    if (error || v.is_null()) return;
    switch (t.kind) {
      case Kind::kString:
        if (!v.is_string()) misfit(v, t, owner, path, false);
        return;
      case Kind::kBoolean:
        if (!v.is_bool()) misfit(v, t, owner, path, false);
        return;
      case Kind::kNumber:
        if (!v.is_number()) misfit(v, t, owner, path, false);
        return;
      case Kind::kInteger:
        if (!integer_fits(v, t.format)) misfit(v, t, owner, path, v.is_number());
        return;
      case Kind::kIntOrString:
        // IntOrString decodes itself: anything but a string goes into an int32, and that error
        // has no field name.
        if (!v.is_string() && !integer_fits(v, "int32"))
          error = "json: cannot unmarshal " + describe(v, true) + " into Go value of type int32";
        return;
      case Kind::kStruct: {
        const auto* o = v.if_object();
        if (!o) return misfit(v, t, owner, path, false);
        const schema::StructType* st = schema::Schema::builtin().find(t.ref);
        if (!st) return;
        for (const auto& [key, member] : *o) {
          const schema::Field* f = st->field(std::string(key));
          if (f)
            walk(member, f->type, st->name, path.empty() ? std::string(key) : path + "." + std::string(key));
          if (error) return;
        }
        return;
      }
      case Kind::kArray: {
        const auto* a = v.if_array();
        if (!a) return misfit(v, t, owner, path, false);
        for (const auto& item : *a)
          if (t.elem) walk(item, *t.elem, owner, path);
        return;
      }
      case Kind::kMap: {
        const auto* o = v.if_object();
        if (!o) return misfit(v, t, owner, path, false);
        for (const auto& [key, member] : *o)
          if (t.elem) walk(member, *t.elem, owner, path);
        return;
      }
      case Kind::kQuantity:
      case Kind::kTime:
      case Kind::kAny:
        return;
    }
  }
};

}  // namespace

std::optional<std::string> first_type_error(const json::value& object, const std::string& struct_name) {
  const schema::StructType* st = schema::Schema::builtin().find(struct_name);
  if (!st) return std::nullopt;
  Walker w;
  w.walk(object, st->self, st->name, "");
  return w.error;
}

}  // namespace podnet::apiserver
