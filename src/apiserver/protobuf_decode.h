// Request bodies in Kubernetes' protobuf encoding ("k8s\0" + runtime.Unknown), which kubectl's
// typed clients send for `kubectl create namespace` and `kubectl create service`. Decoded to the
// JSON the rest of the server works with. Only Namespace and Service are understood (the kinds
// served here that kubectl creates that way); other kinds are 415, as before.
#pragma once

#include <boost/json/value.hpp>
#include <string_view>

#include "apiserver/api_error.h"

namespace podnet::apiserver {

inline constexpr std::string_view kProtobufMediaType = "application/vnd.kubernetes.protobuf";

ApiResult<boost::json::value> decode_protobuf_object(std::string_view body);

}  // namespace podnet::apiserver
