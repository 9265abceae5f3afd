// Periodic compaction of the store's history, as kube-apiserver does for etcd: each tick compacts
// to the revision that was current one tick earlier, so watchers get a full interval to catch up
// before their resourceVersion expires (410), and the history does not grow without bound.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "storage/store.h"

namespace podnet::apiserver {

class Compactor {
 public:
  Compactor(storage::Store& store, std::chrono::milliseconds interval);
  ~Compactor();  // stops and joins; a compaction in progress finishes first
  Compactor(const Compactor&) = delete;
  Compactor& operator=(const Compactor&) = delete;

 private:
  void run();

  storage::Store& store_;
  std::chrono::milliseconds interval_;
  std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace podnet::apiserver
