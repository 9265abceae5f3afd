// The injected clock decides when a delayed key is due; the real wait is capped so a test clock that
// jumps ahead is noticed within a few milliseconds.
#include "controllers/work_queue.h"

#include <algorithm>

namespace podnet::controllers {
namespace {
constexpr auto kMaxRealWait = std::chrono::milliseconds(20);
constexpr auto kBaseBackoff = std::chrono::milliseconds(5);
constexpr auto kMaxBackoff = std::chrono::milliseconds(10000);
}  // namespace

WorkQueue::WorkQueue(Clock clock) : clock_(std::move(clock)) {}

void WorkQueue::add_locked(const std::string& key) {
  if (shutdown_ || dirty_.contains(key)) return;
  dirty_.insert(key);
  if (processing_.contains(key)) return;  // done() queues it again
  queue_.push_back(key);
  cv_.notify_one();
}

void WorkQueue::add(const std::string& key) {
  std::lock_guard lock(mu_);
  add_locked(key);
}

void WorkQueue::add_after(const std::string& key, std::chrono::milliseconds delay) {
  std::lock_guard lock(mu_);
  if (shutdown_) return;
  if (delay.count() <= 0) return add_locked(key);
  delayed_.emplace(clock_() + delay, key);
  cv_.notify_one();
}

void WorkQueue::add_rate_limited(const std::string& key) {
  std::chrono::milliseconds delay;
  {
    std::lock_guard lock(mu_);
    int n = failures_[key]++;
    delay = n >= 12 ? kMaxBackoff : std::min(kMaxBackoff, kBaseBackoff * (1 << n));
  }
  add_after(key, delay);
}

void WorkQueue::forget(const std::string& key) {
  std::lock_guard lock(mu_);
  failures_.erase(key);
}

void WorkQueue::promote_delayed_locked() {
  auto now = clock_();
  while (!delayed_.empty() && delayed_.begin()->first <= now) {
    std::string key = delayed_.begin()->second;
    delayed_.erase(delayed_.begin());
    add_locked(key);
  }
}

std::optional<std::string> WorkQueue::pop_locked() {
  if (queue_.empty()) return std::nullopt;
  std::string key = std::move(queue_.front());
  queue_.pop_front();
  dirty_.erase(key);
  processing_.insert(key);
  return key;
}

std::optional<std::string> WorkQueue::get() {
  std::unique_lock lock(mu_);
  while (!shutdown_) {
    promote_delayed_locked();
    if (auto key = pop_locked()) return key;
    if (delayed_.empty()) {
      cv_.wait(lock);
    } else {
      auto due = delayed_.begin()->first - clock_();
      auto wait = std::clamp(std::chrono::duration_cast<std::chrono::milliseconds>(due),
                             std::chrono::milliseconds(1), kMaxRealWait);
      cv_.wait_for(lock, wait);
    }
  }
  return std::nullopt;
}

std::optional<std::string> WorkQueue::try_get() {
  std::lock_guard lock(mu_);
  if (shutdown_) return std::nullopt;
  promote_delayed_locked();
  return pop_locked();
}

void WorkQueue::done(const std::string& key) {
  std::lock_guard lock(mu_);
  processing_.erase(key);
  if (dirty_.contains(key)) {
    queue_.push_back(key);
    cv_.notify_one();
  }
}

void WorkQueue::shutdown() {
  std::lock_guard lock(mu_);
  shutdown_ = true;
  cv_.notify_all();
}

size_t WorkQueue::size() const {
  std::lock_guard lock(mu_);
  return queue_.size() + delayed_.size();
}

}  // namespace podnet::controllers
