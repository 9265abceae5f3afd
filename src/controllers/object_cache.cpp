// One thread per cache: handlers run on it in the order of the store's revisions, so a controller
// never sees an object go back in time.
#include "controllers/object_cache.h"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace podnet::controllers {

ObjectCache::ObjectCache(ObjectClient& client) : client_(client) {}
ObjectCache::~ObjectCache() {
  stop();
}

void ObjectCache::add_handler(Handler handler) {
  handlers_.push_back(std::move(handler));
}

void ObjectCache::start() {
  if (thread_.joinable()) return;
  thread_ = std::thread([this] { run(); });
}

void ObjectCache::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    if (stream_) stream_->cancel();
  }
  changed_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool ObjectCache::wait_synced(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  return changed_.wait_for(lock, timeout, [this] { return synced_ || stopping_; }) && synced_;
}

bool ObjectCache::wait_for_revision(int64_t revision, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  return changed_.wait_for(lock, timeout, [&] { return revision_ >= revision || stopping_; }) &&
         revision_ >= revision;
}

ObjectPtr ObjectCache::get(const std::string& key) const {
  std::lock_guard lock(mu_);
  auto it = objects_.find(key);
  return it == objects_.end() ? nullptr : it->second;
}

std::vector<ObjectPtr> ObjectCache::list(const std::string& ns) const {
  std::lock_guard lock(mu_);
  std::vector<ObjectPtr> out;
  std::string prefix = ns.empty() ? "" : ns + "/";
  for (auto it = objects_.lower_bound(prefix); it != objects_.end() && it->first.starts_with(prefix); ++it)
    out.push_back(it->second);
  return out;
}

int64_t ObjectCache::revision() const {
  std::lock_guard lock(mu_);
  return revision_;
}

void ObjectCache::notify(ObjectEvent::Type type, const ObjectPtr& object, const ObjectPtr& old) {
  for (const auto& h : handlers_) h(type, object, old);
}

// A re-list after an expired watch reports the difference to what the cache held, so handlers see
// deletions that happened while the watch was gone.
bool ObjectCache::relist() {
  auto list = client_.list();
  if (!list) {
    spdlog::warn("controllers: list {}: {}", client_.resource(), list.error().message);
    return false;
  }
  std::map<std::string, ObjectPtr> fresh;
  for (auto& item : list->items) fresh[key_of(*item)] = item;
  std::map<std::string, ObjectPtr> old;
  {
    std::lock_guard lock(mu_);
    old.swap(objects_);
    objects_ = fresh;
    revision_ = list->revision;
    synced_ = true;
  }
  changed_.notify_all();
  for (const auto& [key, obj] : fresh) {
    auto it = old.find(key);
    if (it == old.end())
      notify(ObjectEvent::Type::kAdded, obj, nullptr);
    else if (*it->second != *obj)
      notify(ObjectEvent::Type::kModified, obj, it->second);
  }
  for (const auto& [key, obj] : old)
    if (!fresh.contains(key)) notify(ObjectEvent::Type::kDeleted, obj, obj);
  return true;
}

void ObjectCache::apply(const ObjectEvent& event) {
  std::string key = key_of(*event.object);
  ObjectPtr old;
  {
    std::lock_guard lock(mu_);
    auto it = objects_.find(key);
    if (it != objects_.end()) old = it->second;
    if (event.type == ObjectEvent::Type::kDeleted)
      objects_.erase(key);
    else
      objects_[key] = event.object;
    revision_ = std::max(revision_, event.revision);
  }
  changed_.notify_all();
  if (event.type == ObjectEvent::Type::kDeleted)
    notify(event.type, old ? old : event.object, old);
  else
    notify(old ? ObjectEvent::Type::kModified : ObjectEvent::Type::kAdded, event.object, old);
}

// stream_ is only replaced on this thread; stop() merely cancels it under the lock.
void ObjectCache::run() {
  // Failed lists and watches are retried after 1 s, doubling to 30 s, reset by a good watch.
  constexpr auto kFirstBackoff = std::chrono::seconds(1), kMaxBackoff = std::chrono::seconds(30);
  std::chrono::milliseconds backoff = kFirstBackoff;
  auto wait_backoff = [&](std::unique_lock<std::mutex>& lock) {
    changed_.wait_for(lock, backoff, [this] { return stopping_; });
    backoff = std::min<std::chrono::milliseconds>(backoff * 2, kMaxBackoff);
  };
  while (true) {
    {
      std::lock_guard lock(mu_);
      if (stopping_) return;
    }
    if (!stream_) {
      ApiResult<std::unique_ptr<ObjectStream>> w = api_fail(ApiError{});
      if (relist()) w = client_.watch(revision());
      if (!w) {
        // Storage trouble (or an object that cannot be read): try again later rather than spin.
        std::unique_lock lock(mu_);
        wait_backoff(lock);
        continue;
      }
      std::lock_guard lock(mu_);
      stream_ = std::move(*w);
      if (stopping_) stream_->cancel();
    }
    auto events = stream_->next(std::chrono::milliseconds(500));
    if (!events) {
      std::unique_lock lock(mu_);
      if (stopping_) return;
      stream_.reset();
      if (events.error().code != 410) {
        spdlog::warn("controllers: watch {}: {}", client_.resource(), events.error().message);
        wait_backoff(lock);
      }
      continue;
    }
    backoff = kFirstBackoff;
    for (const auto& e : *events) apply(e);
  }
}

}  // namespace podnet::controllers
