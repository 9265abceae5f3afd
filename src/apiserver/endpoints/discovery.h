// Discovery documents: /version, /api, /api/v1, /apis and /apis/<group>/<version>, in the legacy
// (unaggregated) format, which kubectl falls back to when aggregated discovery is not offered.
#pragma once

#include <boost/json/value.hpp>
#include <optional>
#include <string>

#include "apiserver/registry/resources.h"

namespace podnet::apiserver {

boost::json::value version_json();
boost::json::value api_versions_json(const std::string& server_address);   // /api
boost::json::value api_group_list_json(const ResourceRegistry& registry);  // /apis
// /api/v1 (group "") or /apis/<group>/<version>; nullopt for an unknown group version.
std::optional<boost::json::value> api_resource_list_json(const ResourceRegistry& registry,
                                                         const std::string& group,
                                                         const std::string& version);
// /apis/<group>: one APIGroup; nullopt when unknown.
std::optional<boost::json::value> api_group_json(const ResourceRegistry& registry, const std::string& group);

}  // namespace podnet::apiserver
