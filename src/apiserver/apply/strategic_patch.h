// Strategic merge patch, the PATCH type kubectl uses for apply, edit and set: a JSON merge patch
// whose lists with a merge key (containers by name, ports by port...) merge element-wise, with the
// $patch, $retainKeys, $deleteFromPrimitiveList and $setElementOrder directives.
// The merge keys come from a table of the paths of the kinds podnet serves, not from OpenAPI.
#pragma once

#include <boost/json/value.hpp>

#include "apiserver/api_error.h"

namespace podnet::apiserver {

ApiResult<boost::json::value> apply_strategic_merge_patch(const boost::json::value& target,
                                                          const boost::json::value& patch);

}  // namespace podnet::apiserver
