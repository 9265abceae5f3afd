// Fan-out of committed events: one pass over the subscriptions per committed batch, a prefix test and
// a queue push each. Watch threads are woken per subscription, never by polling.
#include "storage/watch_hub.h"

#include <algorithm>
#include <utility>

namespace podnet::storage {

Subscription::Taken Subscription::take(std::chrono::milliseconds timeout) {
  std::unique_lock lk(mu_);
  if (timeout.count() > 0)
    cv_.wait_for(lk, timeout, [&] { return !queue_.empty() || overflowed_ || closed_; });
  Taken out;
  out.overflowed = std::exchange(overflowed_, false);
  out.closed = closed_;
  out.events.assign(std::make_move_iterator(queue_.begin()), std::make_move_iterator(queue_.end()));
  queue_.clear();
  return out;
}

void Subscription::set_ready_callback(std::function<void()> ready) {
  std::lock_guard lk(callback_mu_);
  ready_ = std::move(ready);
}

void Subscription::notify_ready() {
  cv_.notify_all();
  std::lock_guard lk(callback_mu_);
  if (ready_) ready_();
}

void Subscription::push(const std::vector<EventPtr>& batch) {
  bool added = false;
  {
    std::lock_guard lk(mu_);
    if (closed_) return;
    for (const auto& ev : batch) {
      if (!ev->kv.key.starts_with(prefix_)) continue;
      added = true;
      // Dropped events are read back from storage by the watch (see Subscription), so nothing is lost.
      if (overflowed_) continue;
      if (queue_.size() >= limit_) {
        queue_.clear();
        overflowed_ = true;
        continue;
      }
      queue_.push_back(ev);
    }
  }
  if (added) notify_ready();
}

void Subscription::close() {
  {
    std::lock_guard lk(mu_);
    if (closed_) return;
    closed_ = true;
  }
  notify_ready();
}

std::shared_ptr<Subscription> WatchHub::subscribe(std::string prefix, size_t queue_limit) {
  auto sub = std::make_shared<Subscription>(std::move(prefix), queue_limit);
  std::lock_guard lk(mu_);
  if (closed_)
    sub->close();
  else
    subs_.push_back(sub);
  return sub;
}

void WatchHub::unsubscribe(const Subscription* sub) {
  std::lock_guard lk(mu_);
  std::erase_if(subs_, [&](const auto& s) { return s.get() == sub; });
}

void WatchHub::publish(const std::vector<EventPtr>& batch) {
  if (batch.empty()) return;
  std::lock_guard lk(mu_);
  for (const auto& sub : subs_) sub->push(batch);
}

void WatchHub::close_all() {
  std::vector<std::shared_ptr<Subscription>> subs;
  {
    std::lock_guard lk(mu_);
    closed_ = true;
    subs.swap(subs_);
  }
  for (const auto& sub : subs) sub->close();
}

size_t WatchHub::size() {
  std::lock_guard lk(mu_);
  return subs_.size();
}

}  // namespace podnet::storage
