// The request target as the API server dispatches on it: path and query split and percent-decoded,
// the resource path, and the query parameters the handlers read (booleans as kube parses them,
// fieldValidation, label and field selectors), and a proxy subresource's `scheme:name:port`.
#include "apiserver/apply/field_validation.h"
#include "apiserver/endpoints/proxy_target.h"
#include "apiserver/http/request_info.h"
#include "apiserver/registry/selectors.h"
#include "fuzz_target.h"

using namespace podnet::apiserver;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > podnet::fuzz::kMaxInput) return 0;
  Target target = parse_target(podnet::fuzz::as_text(data, size));
  if (auto rp = parse_resource_path(target.path)) (void)split_scheme_name_port(rp->name);
  for (const char* flag : {"watch", "allowWatchBookmarks", "sendInitialEvents", "force"})
    (void)query_flag(target.query, flag);
  auto param = [&](const std::string& key) {
    auto it = target.query.find(key);
    return it == target.query.end() ? std::string() : it->second;
  };
  (void)parse_field_validation(param("fieldValidation"));
  (void)parse_label_selector(param("labelSelector"));
  (void)parse_field_selector(param("fieldSelector"), {"spec.nodeName", "status.phase"});
  return 0;
}
