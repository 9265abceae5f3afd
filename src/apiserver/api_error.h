// The API server's errors are the Kubernetes Status errors of k8s/api_error.h; what only the server
// needs on top of them is the mapping of storage failures to their API meaning.
#pragma once

#include "k8s/api_error.h"
#include "storage/store.h"

namespace podnet::apiserver {

using k8s::already_exists;
using k8s::api_fail;
using k8s::ApiError;
using k8s::ApiResult;
using k8s::bad_request;
using k8s::conflict;
using k8s::entity_too_large;
using k8s::expired;
using k8s::internal_error;
using k8s::invalid;
using k8s::method_not_allowed;
using k8s::not_found;
using k8s::status_json;
using k8s::StatusCause;
using k8s::success_status_json;
using k8s::unauthorized;
using k8s::unsupported_media_type;

// A storage failure on `resource/name` mapped to its API meaning.
ApiError from_store(const storage::StoreError& e, const std::string& group, const std::string& resource,
                    const std::string& name);

}  // namespace podnet::apiserver
