// A minimal OpenAPI v3 surface: the /openapi/v3 index and one document per group version listing
// each resource's PATCH operation with its GVK and the fieldValidation parameter. That is what
// kubectl (create/apply/replace with --validate) probes before trusting server-side validation.
// No schemas yet: `kubectl explain` and client-side apply's strategic merge need them.
#pragma once

#include <boost/json/value.hpp>
#include <optional>
#include <string>

#include "apiserver/resources.h"

namespace podnet::apiserver {

boost::json::value openapi_v3_index(const ResourceRegistry& registry);
// `gv_path` as the index names it: "api/v1", "apis/discovery.k8s.io/v1".
std::optional<boost::json::value> openapi_v3_document(const ResourceRegistry& registry,
                                                      const std::string& gv_path);

}  // namespace podnet::apiserver
