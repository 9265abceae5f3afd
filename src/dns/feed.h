// Informer handlers that keep a RecordStore current: Services and EndpointSlices decoded with the
// typed model; one that does not decode is logged and skipped.
#pragma once

#include "client/informer.h"
#include "dns/store.h"

namespace podnet::dns {

class StoreFeed {
 public:
  explicit StoreFeed(RecordStore& store) : services_(store, true), slices_(store, false) {}
  client::InformerHandler& services() { return services_; }
  client::InformerHandler& slices() { return slices_; }

 private:
  class Handler : public client::InformerHandler {
   public:
    Handler(RecordStore& s, bool services) : store_(s), services_(services) {}
    void on_upsert(const boost::json::value& object) override;
    void on_delete(const boost::json::value& last_known) override;
    void on_synced() override {}

   private:
    RecordStore& store_;
    bool services_;
  };
  Handler services_, slices_;
};

}  // namespace podnet::dns
