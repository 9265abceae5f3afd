// GET /openapi/v2 as kube-apiserver (kube-openapi's handler) serves it: JSON or gnostic protobuf
// chosen by Accept (406 when neither is acceptable), one ETag for the document in both encodings,
// Last-Modified, and 304 Not Modified for a client that already holds it.
#pragma once

#include <mutex>
#include <string>

#include "apiserver/http/http_types.h"
#include "apiserver/registry/resources.h"

namespace podnet::apiserver {

class OpenApiV2Endpoint {
 public:
  explicit OpenApiV2Endpoint(const ResourceRegistry& registry) : registry_(registry) {}

  Reply serve(const Request& request);

 private:
  struct Document {
    std::string json, protobuf;
    std::string etag;           // quoted: "<SHA-512 of the JSON, upper-case hex>", as kube-openapi
    std::string last_modified;  // IMF-fixdate of when it was built
    std::string error;          // non-empty: the protobuf encoding failed (a bug: 503, as kube)
  };
  // Built on first use (the document only changes with the binary), then served from memory.
  const Document& document();

  const ResourceRegistry& registry_;
  std::once_flag built_;
  Document doc_;
};

}  // namespace podnet::apiserver
