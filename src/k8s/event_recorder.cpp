#include "k8s/event_recorder.h"

#include <spdlog/spdlog.h>

#include <boost/json.hpp>
#include <cstdio>
#include <optional>

#include "common/time.h"
#include "k8s/api_client.h"

namespace podnet::k8s {

SinkError sink_error(const Error& e) {
  SinkError::Kind kind = SinkError::Kind::kRejected;
  if (e.code == kNotFound)
    kind = SinkError::Kind::kNotFound;
  else if (e.code != 0 && e.code != kConflict && e.code != kAlreadyExists && e.code != kExpired &&
           e.code != EACCES && e.code != EINVAL && e.code != ECANCELED)
    kind = SinkError::Kind::kUnavailable;
  return SinkError{kind, e.message()};
}
namespace json = boost::json;
namespace {

// What the write returned, for the correlator's next repeat.
void take_stored(Event& e, const json::value& stored) {
  const json::object* o = stored.if_object();
  const json::value* m = o ? o->if_contains("metadata") : nullptr;
  const json::value* rv = m && m->is_object() ? m->get_object().if_contains("resourceVersion") : nullptr;
  if (rv && rv->is_string()) e.resource_version = std::string(rv->get_string());
}

}  // namespace

EventBroadcaster::EventBroadcaster(EventSink& sink, BroadcasterOptions options)
    : sink_(sink), options_(std::move(options)), correlator_(options_.correlator) {
  if (!options_.clock) options_.clock = [] { return std::chrono::system_clock::now(); };
  if (options_.max_tries < 1) options_.max_tries = 1;
  thread_ = std::thread([this] { run(); });
}

EventBroadcaster::~EventBroadcaster() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

EventRecorder EventBroadcaster::recorder(EventSource source) {
  return EventRecorder(this, std::move(source));
}

uint64_t EventRecorder::event(const ObjectReference& involved, const char* type, std::string reason,
                              std::string message) const {
  if (!broadcaster_) return 0;
  return broadcaster_->enqueue(EventBroadcaster::Item{involved, type, std::move(reason), std::move(message),
                                                      source_, broadcaster_->options_.clock()});
}

uint64_t EventBroadcaster::enqueue(Item item) {
  uint64_t ticket;
  {
    std::lock_guard lock(mu_);
    ++stats_.recorded;
    if (stopping_) return 0;
    if (queue_.size() >= options_.queue_limit) {
      ++stats_.dropped_full;
      auto now = std::chrono::steady_clock::now();
      if (now - last_drop_log_ > std::chrono::seconds(10)) {
        last_drop_log_ = now;
        spdlog::warn("events: queue full ({} waiting), dropping {} {} about {}/{}", queue_.size(), item.type,
                     item.reason, item.involved.kind, item.involved.name);
      }
      return 0;
    }
    queue_.push_back(std::move(item));
    ticket = ++queued_seq_;
  }
  cv_.notify_one();
  return ticket;
}

bool EventBroadcaster::wait(uint64_t ticket, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  return idle_.wait_for(lock, timeout, [&] { return done_seq_ >= ticket; });
}

bool EventBroadcaster::flush(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  return idle_.wait_for(lock, timeout, [this] { return queue_.empty() && !busy_; });
}

BroadcasterStats EventBroadcaster::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

void EventBroadcaster::run() {
  std::optional<std::chrono::steady_clock::time_point> drain_deadline;
  for (;;) {
    Item item;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (stopping_ && !drain_deadline)
        drain_deadline = std::chrono::steady_clock::now() + options_.drain_timeout;
      if (queue_.empty() || (drain_deadline && std::chrono::steady_clock::now() > *drain_deadline)) {
        stats_.failed += queue_.size();
        done_seq_ += queue_.size();
        queue_.clear();
        idle_.notify_all();
        if (stopping_) return;
        continue;
      }
      item = std::move(queue_.front());
      queue_.pop_front();
      busy_ = true;
    }
    write(std::move(item));
    {
      std::lock_guard lock(mu_);
      busy_ = false;
      ++done_seq_;
    }
    idle_.notify_all();
  }
}

// client-go names events <object>.<UnixNano in hex>; one broadcaster never repeats a suffix, even
// when its clock stands still (tests) or two events come in the same nanosecond.
std::string EventBroadcaster::unique_suffix(TimePoint now) {
  int64_t ns = std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count();
  if (ns <= last_suffix_) ns = last_suffix_ + 1;
  last_suffix_ = ns;
  char buf[24];
  std::snprintf(buf, sizeof buf, "%llx", static_cast<unsigned long long>(ns));
  return buf;
}

void EventBroadcaster::write(Item item) {
  Event e;
  e.involved = std::move(item.involved);
  // Events about cluster-scoped objects (nodes) live in "default", as client-go puts them.
  e.ns = e.involved.ns.empty() ? "default" : e.involved.ns;
  e.name = e.involved.name + "." + unique_suffix(item.at);
  e.type = std::move(item.type);
  e.reason = std::move(item.reason);
  e.message = std::move(item.message);
  e.source = std::move(item.source);
  e.first = e.last = item.at;
  auto now = options_.clock();
  auto result = correlator_.correlate(std::move(e), now, unique_suffix(now));
  if (result.skip) {
    std::lock_guard lock(mu_);
    ++stats_.dropped_spam;
    return;
  }
  Event& ev = result.event;
  for (int attempt = 1;; ++attempt) {
    bool patching = !result.patch.is_null();
    SinkResult<json::value> r;
    if (patching) {
      r = sink_.patch(ev.ns, ev.name, result.patch);
      // A patched event that is gone (its TTL ran out) is written anew, as client-go does.
      if (!r && r.error().kind == SinkError::Kind::kNotFound) patching = false;
    }
    if (!patching) {
      ev.resource_version.clear();
      r = sink_.create(ev.ns, ev.to_json());
    }
    if (r) {
      take_stored(ev, *r);
      correlator_.written(ev);
      std::lock_guard lock(mu_);
      ++(patching ? stats_.patched : stats_.created);
      return;
    }
    bool retry = r.error().kind == SinkError::Kind::kUnavailable && attempt < options_.max_tries;
    {
      std::unique_lock lock(mu_);
      if (retry && !stopping_) {
        cv_.wait_for(lock, options_.retry_delay * attempt, [this] { return stopping_; });
        if (!stopping_) continue;
      }
      ++stats_.failed;
    }
    spdlog::debug("events: {} {} about {} {}/{} not written: {}", ev.type, ev.reason, ev.involved.kind,
                  ev.involved.ns, ev.involved.name, r.error().message);
    return;
  }
}

}  // namespace podnet::k8s
