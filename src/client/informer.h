// The informer pattern on one resource path: LIST (paged), then WATCH from the list's
// resourceVersion, resume after a dropped watch, re-LIST on 410 Expired; changes go to a handler.
#pragma once

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <string>

#include "k8s/api_client.h"

namespace podnet::client {

// Called on the informer's thread, in event order.
class InformerHandler {
 public:
  virtual ~InformerHandler() = default;
  virtual void on_upsert(const boost::json::value& object) = 0;  // added, changed, or seen in a relist
  virtual void on_delete(const boost::json::value& last_known) = 0;
  // After each complete LIST has been delivered: from the first one on, the handler's view is whole.
  virtual void on_synced() {}
};

struct InformerOptions {
  std::string path;  // "/api/v1/services"
  size_t page_size = 500;
  // Keep each object's JSON so that a relist can deliver what vanished as the object last seen.
  // A handler that keeps the objects itself (Cache) turns this off: such deletes then carry only
  // metadata.name, namespace and resourceVersion, and the informer keeps only the versions.
  bool remember_objects = true;
  std::chrono::milliseconds initial_backoff{200}, max_backoff{30000};
};

class Informer {
 public:
  Informer(k8s::ApiClient& client, InformerHandler& handler, InformerOptions options)
      : client_(client), handler_(handler), opts_(std::move(options)), backoff_(opts_.initial_backoff) {}

  // step() until stop(), waiting with exponential backoff after failures.
  void run();
  // Thread-safe; wakes a waiting run() and cancels a watch in progress.
  void stop();

  // One unit of work: a whole LIST when one is needed, else one WATCH connection until it ends
  // (server timeout, drop, or 410, after which the next step lists). Errors are what run() backs
  // off from; the informer's position (resourceVersion) survives them.
  Status step();

  bool synced() const { return synced_; }
  bool needs_list() const { return needs_list_; }
  const std::string& resource_version() const { return rv_; }
  size_t size() const { return store_.size(); }

 private:
  Status list();
  Status watch();
  bool stopped();

  k8s::ApiClient& client_;
  InformerHandler& handler_;
  InformerOptions opts_;
  // The last known object by key, for relists: what is gone from a fresh LIST is delivered as a
  // delete of this, and an unchanged resourceVersion is not delivered again. Kept serialized (a
  // compact string is about a quarter of the parsed tree's memory: the agent keeps one per Service
  // and EndpointSlice) and parsed again only for such a delete.
  struct Known {
    std::string resource_version;
    std::string json;
  };
  Known remember(const boost::json::value& object) const;
  std::map<std::string, Known> store_;
  std::string rv_;
  bool needs_list_ = true;
  bool synced_ = false;
  std::chrono::milliseconds backoff_;

  std::mutex mu_;  // guards the two below, which stop() touches from another thread
  std::condition_variable cv_;
  bool stop_ = false;
  k8s::WatchStream* active_ = nullptr;
};

}  // namespace podnet::client
