// fieldValidation (Ignore, Warn, Strict): unknown fields by the kinds' schema (schema.h) and
// duplicate keys in a JSON body, named as kube's strict decoder names them.
#pragma once

#include <boost/json/value.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "apiserver/api_error.h"
#include "apiserver/apply/managed_fields.h"
#include "apiserver/registry/resources.h"

namespace podnet::apiserver {

// Unset means Warn, kube's default since v1.27 when the request names no directive.
enum class FieldValidation { kIgnore, kWarn, kStrict };
ApiResult<FieldValidation> parse_field_validation(const std::string& value);

enum class PathStyle {
  kDecoder,  // "spec.containers[0].foo", as in `strict decoding error: unknown field "..."`
  kApply,    // ".spec.containers[name=\"c\"].foo", as server-side apply prints field paths
};

// Fields of `object` that the schema at `shape` does not declare. Free-form values (`any`) and
// map entries are never unknown.
std::vector<std::string> unknown_fields(const boost::json::value& object, const Shape& shape,
                                        PathStyle style);
// The same fields, removed (what kube's decoder does under Ignore and Warn).
void drop_unknown_fields(boost::json::value& object, const Shape& shape);

// Keys that occur twice in one JSON object of `text`, by decoder path ("metadata.name").
std::vector<std::string> duplicate_fields(std::string_view text);

// Applies `validation` to an object about to be stored: Strict fails (400) with kube's message
// naming the unknown fields and `found` (e.g. duplicate fields); Warn appends them to `warnings`;
// Warn and Ignore drop the unknown fields. `decoding`: a create or update body, whose message
// kube prefixes with `<Kind> in version "v1" cannot be handled as a <Kind>`.
ApiResult<void> enforce_field_validation(const ResourceType& type, boost::json::value& object,
                                         FieldValidation validation, const std::vector<std::string>& found,
                                         std::vector<std::string>* warnings, bool decoding);

}  // namespace podnet::apiserver
