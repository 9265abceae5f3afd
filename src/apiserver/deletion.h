// kube's deletion semantics on the ObjectStore: DeleteOptions (gracePeriodSeconds, preconditions),
// finalizers (deletionTimestamp set, the object kept until its finalizers are gone), graceful pod
// deletion (a bound, running pod is marked and kept until its node deletes it with grace 0), and
// deletecollection. The update path calls the two finalizer hooks at the bottom.
#pragma once

#include <boost/json/value.hpp>
#include <cstdint>
#include <optional>
#include <string>

#include "apiserver/api_error.h"
#include "apiserver/object_store.h"
#include "apiserver/request_info.h"

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

// Update hooks. Finalizers may only be removed once deletion started (422 otherwise):
std::optional<StatusCause> check_finalizers_update(const boost::json::object& old_meta,
                                                   const boost::json::object& new_meta);
// True when an update leaves a deleting object without finalizers and without a pending grace
// period: the update then deletes it.
bool deletion_completes(const boost::json::object& old_meta, const boost::json::object& new_meta);

// metadata.generation after an update: +1 when spec changed, else the old value; 1 for objects
// stored before generations existed.
void carry_generation(const boost::json::object& old_obj, boost::json::object& new_obj);

}  // namespace podnet::apiserver
