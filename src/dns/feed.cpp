#include "dns/feed.h"

#include <spdlog/spdlog.h>

#include "client/watch_decoder.h"
#include "k8s/decode.h"

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

void StoreFeed::Handler::on_delete(const boost::json::value& last_known) {
  if (services_) {
    auto svc = k8s::decode_service(last_known);
    if (!svc) return;
    store_.delete_service(svc->meta.namespace_, svc->meta.name);
  } else {
    auto slice = k8s::decode_endpoint_slice(last_known);
    if (!slice) return;
    store_.delete_slice(*slice);
  }
}

}  // namespace podnet::dns
