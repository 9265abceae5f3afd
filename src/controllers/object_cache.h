// An informer: lists one resource type, then follows its watch in a thread, keeping every object in
// memory for controllers to read and telling them what changed. Re-lists when the watch expires.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "controllers/object_client.h"

namespace podnet::controllers {

class ObjectCache {
 public:
  // Called on the cache's thread after the cache has changed. `old` is null for kAdded; for kDeleted
  // `object` is the last known state. Handlers should only enqueue work.
  using Handler = std::function<void(ObjectEvent::Type, const ObjectPtr& object, const ObjectPtr& old)>;

  explicit ObjectCache(ObjectClient& client);
  ~ObjectCache();
  ObjectCache(const ObjectCache&) = delete;
  ObjectCache& operator=(const ObjectCache&) = delete;

  // Handlers are registered before start().
  void add_handler(Handler handler);
  void start();
  void stop();
  // True once the first list is in the cache.
  bool wait_synced(std::chrono::milliseconds timeout);
  // True once the cache has seen every change up to `revision` (a write of this type's objects).
  bool wait_for_revision(int64_t revision, std::chrono::milliseconds timeout);

  ObjectPtr get(const std::string& key) const;  // "<ns>/<name>" or "<name>"; null when absent
  std::vector<ObjectPtr> list(const std::string& ns = "") const;  // ns "": everything
  int64_t revision() const;
  ObjectClient& client() { return client_; }

 private:
  void run();
  bool relist();  // false when the list failed
  void apply(const ObjectEvent& event);
  void notify(ObjectEvent::Type type, const ObjectPtr& object, const ObjectPtr& old);

  ObjectClient& client_;
  std::vector<Handler> handlers_;
  mutable std::mutex mu_;
  std::condition_variable changed_;
  std::map<std::string, ObjectPtr> objects_;
  int64_t revision_ = 0;
  bool synced_ = false;
  bool stopping_ = false;
  std::unique_ptr<ObjectStream> stream_;  // guarded by mu_ so stop() can cancel it
  std::thread thread_;
};

}  // namespace podnet::controllers
