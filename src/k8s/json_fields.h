// Reading fields of API JSON, for every lenient decoder (k8s/decode.cpp, policy/model.cpp):
// absent and null both mean "unset", as in the API; a value of the wrong type is an error naming
// the field's path ("spec.ports[0].port: expected an integer").
#pragma once

#include <boost/json/value.hpp>
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

}  // namespace podnet::k8s::fields
