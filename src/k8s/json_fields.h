// Reading fields of API JSON, the one helper for it. The strict readers (object_at/array_at/string_at
// with a key and a path name) serve the lenient decoders (k8s/decode.cpp, policy/model.cpp): absent
// and null both mean "unset", as in the API; a value of the wrong type is an error naming the field's
// path ("spec.ports[0].port: expected an integer"). The path walkers (at, object_at, array_at,
// string_at, int_at with a Path) serve code that reads objects it does not decode (the API server,
// controllers, the agent): a missing step, a null or a value of another type all read as absent.
#pragma once

#include <boost/json/value.hpp>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

#include "common/error.h"

namespace podnet::k8s::fields {

inline std::unexpected<Error> field_error(const std::string& path, std::string_view what) {
  return fail_msg(path + ": " + std::string(what));
}

inline const boost::json::value* member(const boost::json::object& o, std::string_view key) {
  auto it = o.find(key);
  return it == o.end() || it->value().is_null() ? nullptr : &it->value();
}

inline Result<const boost::json::object*> object_at(const boost::json::object& o, std::string_view key,
                                                    const std::string& path) {
  const boost::json::value* v = member(o, key);
  if (!v) return nullptr;
  if (!v->is_object()) return field_error(path, "expected an object");
  return &v->get_object();
}

inline Result<const boost::json::array*> array_at(const boost::json::object& o, std::string_view key,
                                                  const std::string& path) {
  const boost::json::value* v = member(o, key);
  if (!v) return nullptr;
  if (!v->is_array()) return field_error(path, "expected an array");
  return &v->get_array();
}

inline Result<std::string> string_at(const boost::json::object& o, std::string_view key,
                                     const std::string& path) {
  const boost::json::value* v = member(o, key);
  if (!v) return std::string();
  if (!v->is_string()) return field_error(path, "expected a string");
  return std::string(v->get_string());
}

// {"metadata", "labels", "app"}: the keys from the outside in.
using Path = std::initializer_list<std::string_view>;

inline const boost::json::value* at(const boost::json::object& o, Path path) {
  const boost::json::object* cur = &o;
  const boost::json::value* v = nullptr;
  for (std::string_view key : path) {
    if (!cur) return nullptr;
    v = member(*cur, key);
    if (!v) return nullptr;
    cur = v->if_object();
  }
  return v;
}

inline const boost::json::value* at(const boost::json::value& v, Path path) {
  if (path.size() == 0) return v.is_null() ? nullptr : &v;
  const boost::json::object* o = v.if_object();
  return o ? at(*o, path) : nullptr;
}

inline const boost::json::object* object_at(const boost::json::value& v, Path path) {
  const boost::json::value* x = at(v, path);
  return x ? x->if_object() : nullptr;
}
inline const boost::json::object* object_at(const boost::json::object& o, Path path) {
  const boost::json::value* x = at(o, path);
  return x ? x->if_object() : nullptr;
}

inline const boost::json::array* array_at(const boost::json::value& v, Path path) {
  const boost::json::value* x = at(v, path);
  return x ? x->if_array() : nullptr;
}
inline const boost::json::array* array_at(const boost::json::object& o, Path path) {
  const boost::json::value* x = at(o, path);
  return x ? x->if_array() : nullptr;
}

// "" when absent or not a string.
inline std::string string_at(const boost::json::value& v, Path path) {
  const boost::json::value* x = at(v, path);
  return x && x->is_string() ? std::string(x->get_string()) : std::string();
}
inline std::string string_at(const boost::json::object& o, Path path) {
  const boost::json::value* x = at(o, path);
  return x && x->is_string() ? std::string(x->get_string()) : std::string();
}

// fallback when absent or not an integer (a double holding an integer counts, as JSON has one number).
inline int64_t int_at(const boost::json::value& v, Path path, int64_t fallback = 0) {
  const boost::json::value* x = at(v, path);
  if (!x) return fallback;
  if (x->is_int64()) return x->get_int64();
  if (x->is_uint64() && x->get_uint64() <= static_cast<uint64_t>(INT64_MAX))
    return static_cast<int64_t>(x->get_uint64());
  if (x->is_double()) {
    double d = x->get_double();
    if (d >= -9.2e18 && d <= 9.2e18 && d == static_cast<double>(static_cast<int64_t>(d)))
      return static_cast<int64_t>(d);
  }
  return fallback;
}

}  // namespace podnet::k8s::fields
