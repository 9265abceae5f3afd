// core/v1 Events as client-go's record package makes and correlates them (tools/record/events_cache.go):
// an Event's shape, the reference to the object it is about, and the correlator that turns a stream of
// events into few API writes: a repeat of the same event bumps count and lastTimestamp of the one
// already written (a PATCH), more than a few similar events (same object and reason, other messages)
// within ten minutes become one "(combined from similar events)" event, and a token bucket per source
// and object drops the rest. Pure logic, no I/O; event_recorder.h writes what it decides.
#pragma once

#include <boost/json/value.hpp>
#include <chrono>
#include <cstdint>
#include <set>
#include <string>

#include "common/lru_cache.h"
#include "common/token_bucket.h"

namespace podnet::k8s {

using TimePoint = std::chrono::system_clock::time_point;

// core/v1 ObjectReference: involvedObject.
struct ObjectReference {
  std::string kind, api_version, ns, name, uid, resource_version;
  std::string field_path;  // a part of the object: "spec.containers{web}"
  boost::json::object to_json() const;
};
// The reference to an API object from its kind, apiVersion and metadata (client-go's GetReference).
ObjectReference reference_to(const boost::json::value& object);

// core/v1 EventSource: who reports (the component) and on which node (host, optional).
struct EventSource {
  std::string component;
  std::string host;
};

inline constexpr const char* kEventNormal = "Normal";
inline constexpr const char* kEventWarning = "Warning";

struct Event {
  std::string ns, name, resource_version;
  ObjectReference involved;
  std::string type;  // kEventNormal or kEventWarning
  std::string reason, message;
  EventSource source;
  TimePoint first{}, last{};
  int32_t count = 1;

  // The core/v1 Event object (reportingComponent/Instance from the source, as client-go sets them).
  boost::json::value to_json() const;
};

struct CorrelatorOptions {
  // client-go: defaultAggregateMaxEvents, defaultAggregateIntervalInSeconds.
  size_t max_similar = 10;
  std::chrono::seconds similar_window{600};
  // client-go: defaultSpamBurst, defaultSpamQPS (one token per five minutes).
  double spam_burst = 25;
  double spam_qps = 1.0 / 300;
  size_t cache_size = 4096;  // client-go: maxLruCacheEntries, for each of the three caches
};

class EventCorrelator {
 public:
  struct Result {
    Event event;
    boost::json::value patch;  // null: create `event`; else a merge patch of the existing one
    bool skip = false;         // dropped by the spam filter
  };

  explicit EventCorrelator(CorrelatorOptions options = {});
  // `event` as made for one occurrence (count 1, first = last = now, a fresh name). `unique_name`
  // names a combined event: the involved object's name and a suffix no other event of ours has.
  Result correlate(Event event, TimePoint now, const std::string& unique_suffix);
  // After a successful write: remember the stored name, count and resourceVersion for the next repeat.
  void written(const Event& event);

 private:
  struct Aggregate {
    std::set<std::string> messages;
    TimePoint last{};
  };
  struct Observed {
    int32_t count = 0;
    TimePoint first{};
    std::string name, resource_version;
  };

  CorrelatorOptions options_;
  LruCache<std::string, Aggregate> aggregates_;
  LruCache<std::string, Observed> observed_;
  LruCache<std::string, TokenBucket<TimePoint>> spam_;
};

// The keys client-go correlates by (exposed for tests): everything that makes two events the same;
// the same without the message (similar events); the source and object (the spam filter's bucket).
std::string event_key(const Event& e);
std::string aggregate_key(const Event& e);
std::string spam_key(const Event& e);

inline constexpr const char* kCombinedPrefix = "(combined from similar events): ";

}  // namespace podnet::k8s
