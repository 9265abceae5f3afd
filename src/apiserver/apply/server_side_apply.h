// Server-side apply and field ownership: merging an applied configuration into the live object
// by the schema (list-maps by their keys), removing what the manager applied before but no
// longer does, conflicts with other managers (409 unless forced), and the Update entries that
// every other write records in metadata.managedFields.
#pragma once

#include <boost/json/value.hpp>
#include <string>

#include "apiserver/api_error.h"
#include "apiserver/registry/resources.h"

namespace podnet::apiserver {

struct FieldOwner {
  std::string manager;
  bool status = false;  // written through the /status subresource
  std::string now;      // RFC 3339, for the entry's time
};

// The object `config` applied by `owner` onto `live` (null: the object does not exist yet),
// with metadata.managedFields updated. 409 Conflict names each conflicting field and its manager
// unless `force`; 400 for fields the schema does not declare.
ApiResult<boost::json::value> server_side_apply(const ResourceType& type, const boost::json::value* live,
                                                const boost::json::value& config, const FieldOwner& owner,
                                                bool force);

// Records `owner`'s Update from `before` (an empty object for a create) to `after` in after's
// metadata.managedFields: it owns what it changed, others lose it, removed fields lose owners.
void record_update(const ResourceType& type, const boost::json::value& before, boost::json::value& after,
                   const FieldOwner& owner);

// The manager kube derives from a User-Agent when the request names none: "kubectl/v1.32..." is
// "kubectl".
std::string manager_from_user_agent(std::string_view user_agent);

}  // namespace podnet::apiserver
