// SIGTERM/SIGINT as ordinary code: the signals are blocked in every thread made after the waiter
// and taken by sigwait on a thread of its own, so no handler runs inside library code.
#pragma once

#include <pthread.h>
#include <signal.h>
#include <spdlog/spdlog.h>

#include <thread>

namespace podnet::cli {

// The signals SignalWaiter takes (SIGUSR1 is its own wake-up), blocked in the calling thread and so
// in every thread it makes afterwards. Call it before starting threads that exist before the waiter.
inline sigset_t block_stop_signals() {
  sigset_t set;
  sigemptyset(&set);
  for (int sig : {SIGTERM, SIGINT, SIGUSR1}) sigaddset(&set, sig);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  return set;
}

// Blocks SIGTERM/SIGINT in every thread made after it; a waiter thread turns them into a callback.
class SignalWaiter {
 public:
  template <class F>
  explicit SignalWaiter(F on_signal) : set_(block_stop_signals()) {
    thread_ = std::thread([this, on_signal] {
      int sig = 0;
      sigwait(&set_, &sig);
      if (sig != SIGUSR1) spdlog::info("signal {}: stopping", sig);
      on_signal();
    });
  }
  ~SignalWaiter() {
    pthread_kill(thread_.native_handle(), SIGUSR1);  // no-op if a signal already ended the wait
    thread_.join();
  }

 private:
  sigset_t set_;
  std::thread thread_;
};

}  // namespace podnet::cli
