// kube's deletion semantics on the ObjectStore: DeleteOptions (gracePeriodSeconds, preconditions),
// finalizers (deletionTimestamp set, the object kept until its finalizers are gone), graceful pod
// deletion (a bound, running pod is marked and kept until its node deletes it with grace 0), and
// deletecollection. The update path's finalizer and generation rules are in object_meta.h.
#pragma once

#include <boost/json/value.hpp>
#include <cstdint>
#include <optional>
#include <string>

#include "apiserver/api_error.h"
#include "apiserver/http/request_info.h"
#include "apiserver/registry/object_store.h"

namespace podnet::apiserver {

struct DeleteOptions {
  std::optional<int64_t> grace_period_seconds;
  std::optional<std::string> precondition_uid;
  std::optional<std::string> precondition_rv;
};

// From a meta/v1 DeleteOptions body (may be empty) and the gracePeriodSeconds query parameter,
// which wins when both are given as in kube.
ApiResult<DeleteOptions> parse_delete_options(const std::string& body, const QueryParams& query);

struct DeleteOutcome {
  boost::json::value object;  // the object as deleted, or as kept (deletion pending)
  bool deleted = false;
};

ApiResult<DeleteOutcome> delete_object(ObjectStore& objects, const ResourceType& type, const std::string& ns,
                                       const std::string& name, const DeleteOptions& options);

// Deletes every object of `type` in `ns` matching the selectors, each as delete_object would; the
// answer is a <Kind>List of the objects deleted or marked.
ApiResult<boost::json::value> delete_collection(ObjectStore& objects, const ResourceType& type,
                                                const std::string& ns, const ListQuery& query,
                                                const DeleteOptions& options);

}  // namespace podnet::apiserver
