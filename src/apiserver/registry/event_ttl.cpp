#include "apiserver/registry/event_ttl.h"

#include <spdlog/spdlog.h>

#include <boost/json.hpp>

#include "common/time.h"

namespace podnet::apiserver {
namespace json = boost::json;
namespace {

// The newest time an event states about itself: when it last happened.
std::optional<std::chrono::system_clock::time_point> stated_last(std::string_view value) {
  json::error_code ec;
  json::value v = json::parse(value, ec);
  const json::object* e = ec ? nullptr : v.if_object();
  if (!e) return std::nullopt;
  std::optional<std::chrono::system_clock::time_point> newest;
  auto consider = [&](const json::value* t) {
    if (!t || !t->is_string()) return;
    if (auto at = parse_rfc3339(t->get_string()); at && (!newest || *at > *newest)) newest = at;
  };
  consider(e->if_contains("lastTimestamp"));
  consider(e->if_contains("eventTime"));
  consider(e->if_contains("firstTimestamp"));
  if (const json::value* series = e->if_contains("series"); series && series->is_object())
    consider(series->get_object().if_contains("lastObservedTime"));
  if (!newest)
    if (const json::value* meta = e->if_contains("metadata"); meta && meta->is_object())
      consider(meta->get_object().if_contains("creationTimestamp"));
  return newest;
}

}  // namespace

EventTtl::EventTtl(ObjectStore& objects, const ResourceType& events, std::chrono::milliseconds ttl)
    : objects_(objects), type_(events), ttl_(ttl), prefix_(objects.prefix(events, "")) {
  thread_ = std::thread([this] { run(); });
}

EventTtl::~EventTtl() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    if (watch_) watch_->cancel();
  }
  wake_.notify_all();
  thread_.join();
}

size_t EventTtl::tracked() const {
  std::lock_guard lock(mu_);
  return entries_.size();
}

uint64_t EventTtl::expired() const {
  std::lock_guard lock(mu_);
  return expired_;
}

bool EventTtl::sleep(std::chrono::milliseconds d) {
  std::unique_lock lock(mu_);
  return !wake_.wait_for(lock, d, [this] { return stopping_; });
}

void EventTtl::track(const std::string& key, int64_t mod_revision, Steady::time_point deadline) {
  forget(key);
  auto due = deadlines_.emplace(deadline, key);
  entries_[key] = Entry{mod_revision, due};
}

void EventTtl::forget(const std::string& key) {
  auto it = entries_.find(key);
  if (it == entries_.end()) return;
  deadlines_.erase(it->second.due);
  entries_.erase(it);
}

bool EventTtl::relist() {
  auto now = Steady::now();
  auto wall = std::chrono::system_clock::now();
  std::map<std::string, std::pair<int64_t, Steady::time_point>> known;  // revision, deadline
  {
    std::lock_guard lock(mu_);
    for (const auto& [key, e] : entries_) known[key] = {e.mod_revision, e.due->first};
    entries_.clear();
    deadlines_.clear();
  }
  storage::ListOptions options;
  options.limit = 500;
  std::map<std::string, std::pair<int64_t, Steady::time_point>> found;
  do {
    auto page = objects_.store().list(prefix_, options);
    if (!page) {
      spdlog::warn("event-ttl: list events: {}", page.error().str());
      return false;
    }
    options.revision = page->revision;
    options.continue_token = page->continue_token;
    for (const auto& kv : page->items) {
      auto deadline = now + ttl_;
      if (auto old = known.find(kv.key); old != known.end() && old->second.first == kv.mod_revision) {
        deadline = old->second.second;  // unchanged since we last saw it
      } else if (!listed_once_) {
        // First sight after a start: the event's own account of when it last happened, never later
        // than now (a client's clock, or a lie, cannot keep an event longer than the TTL).
        if (auto stated = stated_last(kv.value); stated && *stated < wall)
          deadline = now + ttl_ -
                     std::min<std::chrono::milliseconds>(
                         ttl_, std::chrono::duration_cast<std::chrono::milliseconds>(wall - *stated));
      }
      found[kv.key] = {kv.mod_revision, deadline};
    }
    revision_ = page->revision;
  } while (!options.continue_token.empty());
  std::lock_guard lock(mu_);
  for (const auto& [key, v] : found) track(key, v.first, v.second);
  listed_once_ = true;
  return true;
}

void EventTtl::expire(Steady::time_point now) {
  for (;;) {
    std::string key;
    int64_t rev = 0;
    {
      std::lock_guard lock(mu_);
      if (stopping_ || deadlines_.empty() || deadlines_.begin()->first > now) return;
      key = deadlines_.begin()->second;
      rev = entries_.at(key).mod_revision;
      forget(key);
    }
    std::string rest = key.substr(prefix_.size());
    size_t slash = rest.find('/');
    if (slash == std::string::npos) continue;  // not a namespaced key: not ours to judge
    auto removed = objects_.remove(type_, rest.substr(0, slash), rest.substr(slash + 1), std::to_string(rev));
    if (removed) {
      std::lock_guard lock(mu_);
      ++expired_;
    } else if (removed.error().code != 404 && removed.error().code != 409) {
      // 409: written since (the watch brings its new deadline). Anything else: try again later.
      spdlog::warn("event-ttl: delete {}: {}", key, removed.error().message);
      std::lock_guard lock(mu_);
      track(key, rev, now + std::chrono::seconds(10));
    }
  }
}

void EventTtl::run() {
  while (true) {
    {
      std::lock_guard lock(mu_);
      if (stopping_) return;
    }
    if (!relist()) {
      if (!sleep(std::chrono::seconds(1))) return;
      continue;
    }
    auto w = objects_.store().watch(prefix_, revision_);
    if (!w) {
      spdlog::warn("event-ttl: watch events: {}", w.error().str());
      if (!sleep(std::chrono::seconds(1))) return;
      continue;
    }
    storage::Watch* watch = w->get();
    {
      std::lock_guard lock(mu_);
      if (stopping_) return;
      watch_ = std::move(*w);
    }
    for (;;) {
      expire(Steady::now());
      std::chrono::milliseconds timeout{1000};
      {
        std::lock_guard lock(mu_);
        if (stopping_) return;
        if (!deadlines_.empty()) {
          auto left = std::chrono::ceil<std::chrono::milliseconds>(deadlines_.begin()->first - Steady::now());
          timeout = std::clamp(left, std::chrono::milliseconds(0), timeout);
        }
      }
      auto events = watch->next(timeout);
      if (!events) {
        // Compacted past us, or closed: list again (or stop).
        if (events.error().code != storage::Errc::kClosed && events.error().code != storage::Errc::kCompacted)
          spdlog::warn("event-ttl: watch events: {}", events.error().str());
        break;
      }
      auto now = Steady::now();
      std::lock_guard lock(mu_);
      for (const auto& e : *events) {
        if (e->type == storage::EventType::kDeleted)
          forget(e->kv.key);
        else
          track(e->kv.key, e->kv.mod_revision, now + ttl_);
      }
    }
    std::lock_guard lock(mu_);
    watch_.reset();
  }
}

}  // namespace podnet::apiserver
