// Joins the API to the service proxy (used by `podnet proxy` and the agent): informer handlers decode
// Services and EndpointSlices into the Proxier, and run() syncs on one thread when changes are due. The
// Proxier is touched under one lock.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>

#include "client/informer.h"
#include "proxy/proxier.h"

namespace podnet::proxy {

class ProxyFeed {
 public:
  explicit ProxyFeed(Proxier& proxier) : proxier_(proxier), services_(*this, true), slices_(*this, false) {}

  client::InformerHandler& services() { return services_; }
  client::InformerHandler& slices() { return slices_; }

  // Syncs whenever changes are pending and the Proxier's rate limit allows, but not before both
  // informers have delivered a complete list (else the first sync would drop every endpoint).
  // Returns when stop() is called.
  void run();
  void stop();

  // Proxier::set_local_frontends under the feed's lock; the next sync applies it.
  void set_local_frontends(std::vector<Frontend> frontends);

  // Sync outcomes so far (tests, logs).
  uint64_t syncs() const;

 private:
  class Handler : public client::InformerHandler {
   public:
    Handler(ProxyFeed& feed, bool services) : feed_(feed), services_(services) {}
    void on_upsert(const boost::json::value& object) override;
    void on_delete(const boost::json::value& last_known) override;
    void on_synced() override;

   private:
    ProxyFeed& feed_;
    bool services_;
  };

  Proxier& proxier_;
  Handler services_, slices_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool services_synced_ = false, slices_synced_ = false, stop_ = false;
  uint64_t syncs_ = 0;
};

}  // namespace podnet::proxy
