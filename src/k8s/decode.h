// Decoding of Service and EndpointSlice objects from Kubernetes API JSON (what the API server sends
// and `kubectl get -o json` prints). Errors name the object and the field: "spec.ports[1].protocol".
#pragma once

#include <boost/json/value.hpp>
#include <string_view>

#include "common/error.h"
#include "k8s/model.h"

namespace podnet::k8s {

Result<Service> decode_service(const boost::json::value& json);
Result<Service> decode_service(std::string_view json_text);
Result<EndpointSlice> decode_endpoint_slice(const boost::json::value& json);
Result<EndpointSlice> decode_endpoint_slice(std::string_view json_text);

}  // namespace podnet::k8s
