// The OpenAPI v2 document in gnostic's protobuf form (message openapi.v2.Document of
// gnostic-models' openapiv2/OpenAPIv2.proto), which kubectl asks /openapi/v2 for and cannot take
// as JSON. Encodes a Swagger 2.0 JSON document as gnostic's ParseDocument + proto.Marshal would.
#pragma once

#include <boost/json/value.hpp>
#include <string>

#include "common/error.h"

namespace podnet::apiserver {

// Fails, naming the JSON path, on what the encoder does not know (security definitions, XML
// objects, headers, examples) or on a value of the wrong JSON type: nothing is silently dropped.
Result<std::string> encode_openapi_v2(const boost::json::value& swagger);

}  // namespace podnet::apiserver
