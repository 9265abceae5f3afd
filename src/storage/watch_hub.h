// In-process fan-out of committed events to watches. The writer publishes each committed batch once;
// every subscription whose prefix matches gets shared pointers to the events (no copies, no DB reads).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "storage/store.h"

namespace podnet::storage {

// The queue between the hub and one watch. A watch that falls more than `queue_limit` events behind
// is not allowed to hold the writer up or grow without bound: its queue is dropped and flagged
// `overflowed`, and the watch catches up from storage instead.
class Subscription {
 public:
  Subscription(std::string prefix, size_t queue_limit) : prefix_(std::move(prefix)), limit_(queue_limit) {}

  const std::string& prefix() const { return prefix_; }

  struct Taken {
    std::vector<EventPtr> events;
    bool overflowed = false;  // events were dropped: read them back from storage
    bool closed = false;
  };
  // Everything queued, waiting up to `timeout` for something to happen.
  Taken take(std::chrono::milliseconds timeout);
  void set_ready_callback(std::function<void()> ready);

  // Hub side.
  void push(const std::vector<EventPtr>& batch);
  void close();

 private:
  void notify_ready();

  const std::string prefix_;
  const size_t limit_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<EventPtr> queue_;
  bool overflowed_ = false;
  bool closed_ = false;
  // Held while the callback runs, so that once set_ready_callback() returns the old one is not running.
  std::mutex callback_mu_;
  std::function<void()> ready_;
};

class WatchHub {
 public:
  // Subscriptions of a closed hub start out closed.
  std::shared_ptr<Subscription> subscribe(std::string prefix, size_t queue_limit);
  void unsubscribe(const Subscription* sub);
  // Called by the single writer after commit, in revision order.
  void publish(const std::vector<EventPtr>& batch);
  // Ends every subscription (store shutdown).
  void close_all();
  size_t size();

 private:
  std::mutex mu_;
  std::vector<std::shared_ptr<Subscription>> subs_;
  bool closed_ = false;
};

}  // namespace podnet::storage
