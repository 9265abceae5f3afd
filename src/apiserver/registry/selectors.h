// Label and field selectors as the list and watch query parameters spell them:
// labelSelector "app=web,tier!=db,env in (a,b),!legacy" and fieldSelector "metadata.name=x".
#pragma once

#include <boost/json/value.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "apiserver/api_error.h"

namespace podnet::apiserver {

struct Requirement {
  enum class Op { kEquals, kNotEquals, kIn, kNotIn, kExists, kDoesNotExist };
  std::string key;
  Op op = Op::kEquals;
  std::vector<std::string> values;
};

// A conjunction of requirements; empty matches everything.
struct LabelSelector {
  std::vector<Requirement> requirements;
  bool matches(const boost::json::value& object) const;  // reads metadata.labels
};

// Syntax errors are 400 BadRequest, as kube answers them.
ApiResult<LabelSelector> parse_label_selector(std::string_view text);

// Field requirements support =, == and != only (kube's field selector grammar).
struct FieldSelector {
  std::vector<Requirement> requirements;  // key is a dotted path: metadata.name, spec.nodeName
  bool matches(const boost::json::value& object) const;
  // The value required for `field` by an equality term, if any (narrows a list to one key).
  const std::string* required_value(std::string_view field) const;
};

// `allowed` lists the selectable paths besides metadata.name and metadata.namespace; others are 400.
ApiResult<FieldSelector> parse_field_selector(std::string_view text, const std::vector<std::string>& allowed);

}  // namespace podnet::apiserver
