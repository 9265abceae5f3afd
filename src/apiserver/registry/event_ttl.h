// Event TTL, as kube-apiserver's --event-ttl (default 1 h): an Event is deleted that long after its
// last write. kube attaches an etcd lease to every event write; here one thread watches the events
// in the store, keeps each one's deadline (last write seen + TTL) and deletes it when the deadline
// passes, with a resourceVersion precondition so that an event written meanwhile stays. After a
// restart the time of an event's last write is not known: its own lastTimestamp (or the newest time
// it states, never one in the future) stands in for it.
#pragma once

#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "apiserver/registry/object_store.h"
#include "apiserver/registry/resources.h"

namespace podnet::apiserver {

class EventTtl {
 public:
  EventTtl(ObjectStore& objects, const ResourceType& events, std::chrono::milliseconds ttl);
  ~EventTtl();  // stops and joins
  EventTtl(const EventTtl&) = delete;
  EventTtl& operator=(const EventTtl&) = delete;

  size_t tracked() const;    // events with a deadline (tests)
  uint64_t expired() const;  // events deleted so far

 private:
  using Steady = std::chrono::steady_clock;
  struct Entry {
    int64_t mod_revision = 0;
    std::multimap<Steady::time_point, std::string>::iterator due;
  };

  void run();
  bool relist();
  void track(const std::string& key, int64_t mod_revision, Steady::time_point deadline);
  void forget(const std::string& key);
  void expire(Steady::time_point now);
  bool sleep(std::chrono::milliseconds d);  // false: stopping

  ObjectStore& objects_;
  const ResourceType& type_;
  std::chrono::milliseconds ttl_;
  std::string prefix_;
  storage::Revision revision_ = 0;
  bool listed_once_ = false;

  mutable std::mutex mu_;  // guards the members below and watch_ for cancel()
  std::condition_variable wake_;
  bool stopping_ = false;
  std::unique_ptr<storage::Watch> watch_;
  std::map<std::string, Entry> entries_;
  std::multimap<Steady::time_point, std::string> deadlines_;
  uint64_t expired_ = 0;
  std::thread thread_;
};

}  // namespace podnet::apiserver
