// A failed compaction is retried at the next tick: it only delays reclaiming space.
#include "apiserver/registry/compactor.h"

namespace podnet::apiserver {

Compactor::Compactor(storage::Store& store, std::chrono::milliseconds interval)
    : store_(store), interval_(interval), thread_([this] { run(); }) {}

Compactor::~Compactor() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void Compactor::run() {
  storage::Revision previous = store_.current_revision();
  std::unique_lock lock(mu_);
  while (!wake_.wait_for(lock, interval_, [this] { return stopping_; })) {
    lock.unlock();
    if (previous > store_.compacted_revision()) (void)store_.compact(previous);
    previous = store_.current_revision();
    lock.lock();
  }
}

}  // namespace podnet::apiserver
