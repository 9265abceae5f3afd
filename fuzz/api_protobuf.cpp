// API request bodies in Kubernetes' protobuf encoding ("k8s\0" + runtime.Unknown), which the server
// accepts for Namespace, Service and the access reviews: the schema-less wire reader and the
// decoders to JSON, then (for a Service) the defaults and validation a create runs.
#include <boost/json.hpp>

#include "apiserver/apply/type_check.h"
#include "apiserver/endpoints/protobuf_decode.h"
#include "apiserver/validation/service_validation.h"
#include "fuzz_target.h"

namespace json = boost::json;
using namespace podnet::apiserver;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > podnet::fuzz::kMaxInput) return 0;
  auto obj = decode_protobuf_object(podnet::fuzz::as_text(data, size));
  if (!obj) return 0;
  (void)json::serialize(*obj);
  json::object* o = obj->if_object();
  if (!o || !o->contains("kind") || o->at("kind") != "Service" || first_type_error(*obj, "Service")) return 0;
  default_service(*o);
  normalize_cluster_ips(nullptr, *o);
  (void)validate_service(*o, nullptr);
  return 0;
}
