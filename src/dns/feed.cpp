#include "dns/feed.h"

#include <spdlog/spdlog.h>

#include "client/watch_decoder.h"
#include "k8s/decode.h"
#include "k8s/json_fields.h"

namespace podnet::dns {

void StoreFeed::Handler::on_upsert(const boost::json::value& object) {
  if (services_) {
    auto svc = k8s::decode_service(object);
    if (!svc) return spdlog::warn("dns: service {}: {}", client::object_key(object), svc.error().message());
    store_.upsert_service(*svc);
  } else {
    auto slice = k8s::decode_endpoint_slice(object);
    if (!slice)
      return spdlog::warn("dns: endpointslice {}: {}", client::object_key(object), slice.error().message());
    store_.upsert_slice(*slice);
  }
}

// By namespace and name: what vanished in a relist arrives as its metadata alone.
void StoreFeed::Handler::on_delete(const boost::json::value& last_known) {
  std::string ns = k8s::fields::string_at(last_known, {"metadata", "namespace"});
  std::string name = k8s::fields::string_at(last_known, {"metadata", "name"});
  if (name.empty()) return;
  if (services_)
    store_.delete_service(ns, name);
  else
    store_.delete_slice(ns, name);
}

}  // namespace podnet::dns
