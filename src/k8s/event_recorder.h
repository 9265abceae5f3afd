// Recording Events without blocking the recorder's caller, as client-go's EventBroadcaster and
// EventRecorder do: event() queues (a bounded queue; a full one drops, as client-go's
// DropIfChannelFull does) and one thread per broadcaster correlates (events.h) and writes through an
// EventSink: the API over HTTPS for the node agent, the object layer for the server's controllers.
// A refused write is dropped; a write that could not reach the server is tried again a few times.
#pragma once

#include <boost/json/value.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <expected>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "common/error.h"
#include "k8s/events.h"

namespace podnet::k8s {

struct SinkError {
  enum class Kind {
    kNotFound,     // the event to patch is gone (its TTL ran out): create it again
    kRejected,     // the server answered with an error: final
    kUnavailable,  // no answer (connection, timeout): worth another try
  };
  Kind kind = Kind::kRejected;
  std::string message;
};
template <class T>
using SinkResult = std::expected<T, SinkError>;
// A client interface error (api_client.h) as a SinkError: the codes of HTTP answers and 0 (another
// status) are the server's word; other system errors are the connection's.
SinkError sink_error(const Error& e);

class EventSink {
 public:
  virtual ~EventSink() = default;
  // POST to the namespace's events; the stored Event.
  virtual SinkResult<boost::json::value> create(const std::string& ns, const boost::json::value& event) = 0;
  // A merge patch (count, lastTimestamp, message) of an existing Event; the stored Event.
  virtual SinkResult<boost::json::value> patch(const std::string& ns, const std::string& name,
                                               const boost::json::value& patch) = 0;
};

struct BroadcasterOptions {
  CorrelatorOptions correlator;
  size_t queue_limit = 1000;  // client-go: maxQueuedEvents
  int max_tries = 3;          // per event, for kUnavailable only
  std::chrono::milliseconds retry_delay{1000};
  // When the broadcaster goes: how long the queue may still be written out.
  std::chrono::milliseconds drain_timeout{2000};
  std::function<TimePoint()> clock;  // empty: the system clock
};

struct BroadcasterStats {
  uint64_t recorded = 0;      // event() calls
  uint64_t dropped_full = 0;  // the queue was full
  uint64_t dropped_spam = 0;  // the spam filter said no
  uint64_t created = 0;       // POSTs that succeeded
  uint64_t patched = 0;       // PATCHes that succeeded
  uint64_t failed = 0;        // given up on (refused, or unreachable after every try)
};

class EventRecorder;

class EventBroadcaster {
 public:
  explicit EventBroadcaster(EventSink& sink, BroadcasterOptions options = {});
  // Writes what is queued for at most drain_timeout (no retries), then stops.
  ~EventBroadcaster();
  EventBroadcaster(const EventBroadcaster&) = delete;
  EventBroadcaster& operator=(const EventBroadcaster&) = delete;

  // A recorder for one component (and node); it must not outlive the broadcaster.
  EventRecorder recorder(EventSource source);
  // Waits until everything queued so far is written or dropped; false on timeout (tests).
  bool flush(std::chrono::milliseconds timeout);
  // Waits until the event with this ticket (EventRecorder::event's) is written or dropped.
  bool wait(uint64_t ticket, std::chrono::milliseconds timeout);
  BroadcasterStats stats() const;

 private:
  friend class EventRecorder;
  struct Item {
    ObjectReference involved;
    std::string type, reason, message;
    EventSource source;
    TimePoint at;
  };
  uint64_t enqueue(Item item);
  void run();
  void write(Item item);
  std::string unique_suffix(TimePoint now);

  EventSink& sink_;
  BroadcasterOptions options_;
  EventCorrelator correlator_;  // worker thread only
  int64_t last_suffix_ = 0;     // worker thread only
  mutable std::mutex mu_;
  std::condition_variable cv_, idle_;
  std::deque<Item> queue_;
  bool busy_ = false, stopping_ = false;
  uint64_t queued_seq_ = 0, done_seq_ = 0;  // tickets handed out; tickets done with
  BroadcasterStats stats_;
  std::chrono::steady_clock::time_point last_drop_log_{};
  std::thread thread_;
};

// What a component records with: cheap to copy; a default-constructed one records nothing.
class EventRecorder {
 public:
  EventRecorder() = default;

  // Never blocks on the API: the event is queued (or dropped when the queue is full). The ticket
  // is for wait() (0: nothing was queued).
  uint64_t event(const ObjectReference& involved, const char* type, std::string reason,
                 std::string message) const;
  uint64_t event(const boost::json::value& object, const char* type, std::string reason,
                 std::string message) const {
    return event(reference_to(object), type, std::move(reason), std::move(message));
  }
  // Waits (at most `timeout`) until the event with `ticket` has been written or given up on: for a
  // caller about to remove the object an event is about (the server refuses events about it then).
  bool wait(uint64_t ticket, std::chrono::milliseconds timeout) const {
    return !broadcaster_ || ticket == 0 || broadcaster_->wait(ticket, timeout);
  }
  uint64_t normal(const ObjectReference& o, std::string reason, std::string message) const {
    return event(o, kEventNormal, std::move(reason), std::move(message));
  }
  uint64_t warning(const ObjectReference& o, std::string reason, std::string message) const {
    return event(o, kEventWarning, std::move(reason), std::move(message));
  }
  uint64_t normal(const boost::json::value& object, std::string reason, std::string message) const {
    return event(reference_to(object), kEventNormal, std::move(reason), std::move(message));
  }
  uint64_t warning(const boost::json::value& object, std::string reason, std::string message) const {
    return event(reference_to(object), kEventWarning, std::move(reason), std::move(message));
  }
  bool enabled() const { return broadcaster_ != nullptr; }
  const EventSource& source() const { return source_; }

 private:
  friend class EventBroadcaster;
  EventRecorder(EventBroadcaster* b, EventSource s) : broadcaster_(b), source_(std::move(s)) {}
  EventBroadcaster* broadcaster_ = nullptr;
  EventSource source_;
};

}  // namespace podnet::k8s
