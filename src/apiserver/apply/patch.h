// PATCH bodies: JSON merge patch (RFC 7386) and JSON patch (RFC 6902) applied to a JSON document.
// Strategic merge patch is in strategic_patch.h.
#pragma once

#include <boost/json/value.hpp>
#include <string>

#include "apiserver/api_error.h"

namespace podnet::apiserver {

// RFC 7386: objects merge recursively, null deletes, anything else replaces.
boost::json::value apply_merge_patch(const boost::json::value& target, const boost::json::value& patch);

// RFC 6902 operations add, remove, replace, move, copy, test. A failed test or a bad path is 422
// Invalid as kube answers it; a malformed patch document is 400.
ApiResult<boost::json::value> apply_json_patch(boost::json::value target, const boost::json::value& patch);

}  // namespace podnet::apiserver
