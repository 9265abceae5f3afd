// A controller's work queue, keyed by object: a key waiting is queued once however often it is
// added, a key being worked on is not handed out twice (it comes back once done), and failed keys
// return after an exponential backoff measured on the injected clock.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>

namespace podnet::controllers {

using Clock = std::function<std::chrono::system_clock::time_point()>;

class WorkQueue {
 public:
  explicit WorkQueue(Clock clock);

  void add(const std::string& key);
  void add_after(const std::string& key, std::chrono::milliseconds delay);
  // Backoff per key: 5 ms doubling up to 10 s, reset by forget().
  void add_rate_limited(const std::string& key);
  void forget(const std::string& key);
  // Blocks until a key is ready; nullopt once shut down.
  std::optional<std::string> get();
  // Like get() but returns nullopt at once when no key is ready (tests drive controllers with it).
  std::optional<std::string> try_get();
  void done(const std::string& key);
  void shutdown();
  size_t size() const;

 private:
  void add_locked(const std::string& key);
  void promote_delayed_locked();
  std::optional<std::string> pop_locked();

  Clock clock_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::string> queue_;
  std::set<std::string> dirty_;       // queued or to be queued when processing ends
  std::set<std::string> processing_;  // handed out, not done yet
  std::multimap<std::chrono::system_clock::time_point, std::string> delayed_;
  std::map<std::string, int> failures_;
  bool shutdown_ = false;
};

}  // namespace podnet::controllers
