// The OpenAPI documents, generated from schema.h: v3 (the /openapi/v3 index and one document per
// group version) and v2 (one document for all groups, /openapi/v2), each with the resources'
// operations (GVK, fieldValidation, patch types) and schemas. kubectl uses v3 for explain,
// strategic merge and validation probes, and v2 to validate what v3 cannot answer for (a List).
#pragma once

#include <boost/json/value.hpp>
#include <optional>
#include <string>

#include "apiserver/registry/resources.h"

namespace podnet::apiserver {

boost::json::value openapi_v3_index(const ResourceRegistry& registry);
// `gv_path` as the index names it: "api/v1", "apis/discovery.k8s.io/v1".
std::optional<boost::json::value> openapi_v3_document(const ResourceRegistry& registry,
                                                      const std::string& gv_path);
// Swagger 2.0, as kube-apiserver serves it in JSON; openapi_v2_proto.h encodes it for kubectl.
boost::json::value openapi_v2_document(const ResourceRegistry& registry);

}  // namespace podnet::apiserver
