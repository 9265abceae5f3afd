// What every controller shares: a work queue of object keys and one worker thread that reconciles a
// key from the current state (level-triggered), retrying failures with backoff. start() first runs
// the controller's full resync (rebuild in-memory state from the caches, queue every object).
#pragma once

#include <atomic>
#include <string>
#include <thread>

#include "controllers/work_queue.h"

namespace podnet::controllers {

enum class Outcome {
  kDone,   // the key is in its desired state (or cannot get there without a new event)
  kRetry,  // a transient failure (409 Conflict, storage): try again after a backoff
};

class Controller {
 public:
  Controller(std::string name, Clock clock);
  virtual ~Controller();
  Controller(const Controller&) = delete;
  Controller& operator=(const Controller&) = delete;

  // Caches must be synced before: resync() reads them.
  void start();
  // Derived classes call stop() in their destructor, so the worker never runs a half-destroyed object.
  void stop();
  void enqueue(const std::string& key) { queue_.add(key); }
  const std::string& name() const { return name_; }

 protected:
  virtual void resync() = 0;
  virtual Outcome reconcile(const std::string& key) = 0;

  Clock clock_;
  WorkQueue queue_;

 private:
  void work();

  std::string name_;
  std::thread worker_;
};

}  // namespace podnet::controllers
