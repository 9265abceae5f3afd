// OpenAPI v3: the /openapi/v3 index and one document per group version with each resource's
// operations (GVK, fieldValidation, patch types) and component schemas generated from schema.h,
// which kubectl uses for explain, client-side apply's strategic merge and validation probes.
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
