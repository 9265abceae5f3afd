// The object cache on top of the one Informer (informer.h): the informer lists, watches, resumes
// and re-lists; this keeps every object it delivered (shared, immutable), answers reads by key,
// namespace and index (node, label, ... as the consumer defines them), and tells handlers what
// changed with the object before and after. What the controllers use (client-go's
// SharedIndexInformer: a reflector and an indexer; here the Informer and this cache).
#pragma once

#include <boost/json/value.hpp>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "client/informer.h"
#include "k8s/api_client.h"

namespace podnet::client {

// Objects are shared between the cache and every reader, never mutated.
using ObjectPtr = std::shared_ptr<const boost::json::value>;

enum class Change { kAdded, kModified, kDeleted };

class Cache final : public InformerHandler {
 public:
  // Called on the cache's thread after the cache has changed. `old` is null for kAdded; for
  // kDeleted `object` is the last known state. Handlers should only enqueue work.
  using Handler = std::function<void(Change, const ObjectPtr& object, const ObjectPtr& old)>;
  // The values an object is indexed under (empty: none).
  using IndexFunc = std::function<std::vector<std::string>(const boost::json::value& object)>;

  // `path` is the collection of every namespace: "/api/v1/pods", "/apis/discovery.k8s.io/v1/endpointslices".
  // Failed lists and watches are retried after 1 s, doubling to 30 s.
  Cache(k8s::ApiClient& client, std::string path);
  ~Cache() override;
  Cache(const Cache&) = delete;
  Cache& operator=(const Cache&) = delete;

  // Handlers and indexes are added before start().
  void add_handler(Handler handler);
  void add_index(const std::string& name, IndexFunc func);
  void start();
  void stop();
  // True once the first list is in the cache.
  bool wait_synced(std::chrono::milliseconds timeout);
  // True once the cache has seen every change up to `resource_version` (of a write to this
  // collection; podnet's resourceVersions are the store's revision numbers).
  bool wait_for_revision(const std::string& resource_version, std::chrono::milliseconds timeout);
  // True once none of `keys` is in the cache (deletions this process made have been seen).
  bool wait_gone(const std::vector<std::string>& keys, std::chrono::milliseconds timeout);

  ObjectPtr get(const std::string& key) const;  // "<ns>/<name>" or "<name>"; null when absent
  std::vector<ObjectPtr> list(const std::string& ns = "") const;  // ns "": everything
  // The objects `name`'s IndexFunc put under `value`.
  std::vector<ObjectPtr> by_index(const std::string& name, const std::string& value) const;

  k8s::ApiClient& client() { return client_; }
  const std::string& path() const { return path_; }
  // REST paths of this resource: one object, and the collection of one namespace (for a create).
  std::string object_path(const std::string& ns, const std::string& name) const;
  std::string collection_path(const std::string& ns) const;

  // InformerHandler, on the cache's thread.
  void on_upsert(const boost::json::value& object) override;
  void on_delete(const boost::json::value& last_known) override;
  void on_synced() override;

 private:
  void index(const std::string& key, const ObjectPtr& object, bool add);  // under mu_
  void notify(Change type, const ObjectPtr& object, const ObjectPtr& old);

  k8s::ApiClient& client_;
  std::string path_;
  std::string prefix_, plural_;  // path_ = prefix_ + "/" + plural_
  Informer informer_;
  std::vector<Handler> handlers_;
  std::map<std::string, IndexFunc> index_funcs_;
  mutable std::mutex mu_;
  std::condition_variable changed_;
  std::map<std::string, ObjectPtr> objects_;
  // index name -> value -> keys
  std::map<std::string, std::map<std::string, std::set<std::string>>> indexes_;
  int64_t revision_ = 0;
  bool synced_ = false;
  bool stopping_ = false;
  std::thread thread_;
};

// Indexes of the kinds controllers look up by: a pod's node (spec.nodeName), an object's value of
// label `key`.
std::vector<std::string> pod_node_index(const boost::json::value& pod);
Cache::IndexFunc label_index(std::string key);

}  // namespace podnet::client
