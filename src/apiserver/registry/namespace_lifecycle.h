// Deleting a namespace deletes what is in it. kube does this asynchronously (a Terminating phase
// and the namespace controller); here it happens within the DELETE request: mark Terminating (new
// content is refused from then on), delete every namespaced object in it, then the namespace.
#pragma once

#include <boost/json/value.hpp>
#include <string>

#include "apiserver/api_error.h"
#include "apiserver/registry/object_store.h"
#include "apiserver/registry/resources.h"

namespace podnet::apiserver {

// default, kube-system and kube-public cannot be deleted (403 Forbidden, as in kube).
ApiResult<boost::json::value> delete_namespace(ObjectStore& objects, const ResourceRegistry& registry,
                                               const std::string& name, const std::string& precondition_rv);

}  // namespace podnet::apiserver
