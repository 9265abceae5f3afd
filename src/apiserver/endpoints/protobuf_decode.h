// Request bodies in Kubernetes' protobuf encoding ("k8s\0" + runtime.Unknown), which kubectl's
// typed clients send for `kubectl create namespace`, `kubectl create service` and `kubectl auth
// can-i` / `whoami`. Decoded to the JSON the rest of the server works with. Only Namespace, Service
// and the access reviews are understood (what kubectl sends that way); other kinds are 415.
#pragma once

#include <boost/json/value.hpp>
#include <string_view>

#include "apiserver/api_error.h"

namespace podnet::apiserver {

inline constexpr std::string_view kProtobufMediaType = "application/vnd.kubernetes.protobuf";

ApiResult<boost::json::value> decode_protobuf_object(std::string_view body);

}  // namespace podnet::apiserver
