// Objects that fail to decode are logged and skipped: one bad Service must not stop the proxy
// from serving the others (the API server validated them; this is defence, not policy).
#include "proxy/feed.h"

#include <spdlog/spdlog.h>

#include "client/watch_decoder.h"
#include "k8s/decode.h"
#include "k8s/json_fields.h"

namespace podnet::proxy {

void ProxyFeed::Handler::on_upsert(const boost::json::value& object) {
  std::lock_guard l(feed_.mu_);
  if (services_) {
    auto svc = k8s::decode_service(object);
    if (!svc) return spdlog::warn("service {}: {}", client::object_key(object), svc.error().message());
    feed_.proxier_.upsert_service(std::move(*svc));
  } else {
    auto slice = k8s::decode_endpoint_slice(object);
    if (!slice)
      return spdlog::warn("endpointslice {}: {}", client::object_key(object), slice.error().message());
    feed_.proxier_.upsert_slice(*slice);
  }
  feed_.cv_.notify_all();
}

// By namespace and name only: the informers keep no objects (the Proxier keeps what it needs,
// typed), so what vanished in a relist arrives as its metadata alone.
void ProxyFeed::Handler::on_delete(const boost::json::value& last_known) {
  namespace f = k8s::fields;
  std::string ns = f::string_at(last_known, {"metadata", "namespace"});
  std::string name = f::string_at(last_known, {"metadata", "name"});
  if (name.empty()) return;
  std::lock_guard l(feed_.mu_);
  if (services_)
    feed_.proxier_.delete_service(ns, name);
  else
    feed_.proxier_.delete_slice(ns, name);
  feed_.cv_.notify_all();
}

void ProxyFeed::Handler::on_synced() {
  std::lock_guard l(feed_.mu_);
  (services_ ? feed_.services_synced_ : feed_.slices_synced_) = true;
  feed_.cv_.notify_all();
}

void ProxyFeed::run() {
  using Clock = Proxier::Clock;
  std::unique_lock l(mu_);
  Clock::time_point retry_at{};  // after a failed sync: the kernel refusing is rarely fixed at once
  while (!stop_) {
    if (!services_synced_ || !slices_synced_ || !proxier_.pending()) {
      cv_.wait(l);
      continue;
    }
    auto now = Clock::now();
    auto due = std::max(proxier_.next_sync_at(), retry_at);
    if (now < due) {
      cv_.wait_until(l, due);
      continue;
    }
    auto synced = proxier_.sync(now);
    if (!synced) {
      spdlog::error("sync: {}", synced.error().message());
      retry_at = now + std::chrono::seconds(1);
      continue;
    }
    if (*synced) {
      ++syncs_;
      const auto& m = proxier_.metrics();
      spdlog::debug("synced: {} services, {} frontends, {} endpoints", m.services, m.frontends, m.endpoints);
    }
  }
}

void ProxyFeed::set_local_frontends(std::vector<Frontend> frontends) {
  std::lock_guard l(mu_);
  proxier_.set_local_frontends(std::move(frontends));
  cv_.notify_all();
}

void ProxyFeed::stop() {
  std::lock_guard l(mu_);
  stop_ = true;
  cv_.notify_all();
}

uint64_t ProxyFeed::syncs() const {
  std::lock_guard l(mu_);
  return syncs_;
}

}  // namespace podnet::proxy
