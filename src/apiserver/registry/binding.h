// pods/<name>/binding: the scheduler's write of a pod's node (kube's BindingREST). Sets spec.nodeName
// and a PodScheduled=True condition in one compare-and-swap, which neither an update of the pod
// nor of its status may do; 409 Conflict when the pod is bound already or being deleted.
#pragma once

#include <boost/json/value.hpp>
#include <string>

#include "apiserver/api_error.h"
#include "apiserver/registry/object_store.h"

namespace podnet::apiserver {

// `binding` is the request body (a v1 Binding: metadata.name, target.kind Node, target.name).
// Answers kube's 201 Success Status.
ApiResult<boost::json::value> bind_pod(ObjectStore& objects, const ResourceType& pods, const std::string& ns,
                                       const std::string& name, const boost::json::value& binding);

}  // namespace podnet::apiserver
