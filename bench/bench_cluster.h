// A `podnet up` cluster for benchmarks, driven through the real binary (tests/support/podnet_up.h,
// shared with the tests): a private state dir under /var/tmp, a random underlay /24 that overlaps
// nothing, and `podnet down` when the object goes away or (through the ScopedCleanup signal thread)
// when SIGINT/SIGTERM/SIGHUP arrives. Needs root.
#pragma once

#include <signal.h>
#include <stdlib.h>

#include <cstdio>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "support/podnet_up.h"

namespace podnet::bench {

using testing::CommandResult;
using testing::shell;

// Cleanups to run on a terminating signal, then _exit(130). Construct it in main() before any other
// thread starts: it blocks the signals so that only its own thread receives them.
class ScopedCleanup {
 public:
  ScopedCleanup() {
    sigset_t set;
    sigemptyset(&set);
    for (int s : {SIGINT, SIGTERM, SIGHUP}) sigaddset(&set, s);
    ::pthread_sigmask(SIG_BLOCK, &set, nullptr);
    std::thread([this, set] {
      int sig = 0;
      ::sigwait(&set, &sig);
      std::fprintf(stderr, "cluster_bench: signal %d, cleaning up\n", sig);
      std::lock_guard lock(mu_);
      for (auto& [id, fn] : actions_) fn();
      ::_exit(130);
    }).detach();
    instance_ = this;
  }
  static ScopedCleanup& get() { return *instance_; }
  int add(std::function<void()> fn) {
    std::lock_guard lock(mu_);
    actions_[++next_] = std::move(fn);
    return next_;
  }
  void remove(int id) {
    std::lock_guard lock(mu_);
    actions_.erase(id);
  }

 private:
  static inline ScopedCleanup* instance_ = nullptr;
  std::mutex mu_;
  std::map<int, std::function<void()>> actions_;
  int next_ = 0;
};

class BenchCluster : public testing::PodnetUp {
 public:
  explicit BenchCluster(std::string podnet) : PodnetUp(std::move(podnet), "pn-cbench", "192.168.198.0/24") {
    cleanup_id_ = ScopedCleanup::get().add([this] { teardown(); });
  }
  ~BenchCluster() {
    ScopedCleanup::get().remove(cleanup_id_);
    teardown();
  }

  // `podnet up` on a free underlay; prints its output on failure.
  bool up(int nodes, const std::string& overlay, const std::string& more_flags = "") {
    CommandResult r = run_up(nodes, "--overlay " + overlay + (more_flags.empty() ? "" : " " + more_flags));
    load_record();
    if (r.rc != 0 || !record_) {
      std::fprintf(stderr, "podnet up failed (%d):\n%s\n", r.rc, r.out.c_str());
      return false;
    }
    return true;
  }

 private:
  // `podnet down` and the state dir removed, once (from the destructor or the signal thread).
  void teardown() {
    std::lock_guard lock(down_mu_);
    if (state_dir_.empty()) return;
    // For a look at what the daemons did: PN_BENCH_LOGS=/var/tmp/pn-somewhere keeps their logs.
    if (const char* keep = ::getenv("PN_BENCH_LOGS"))
      shell("mkdir -p " + std::string(keep) + " && cp -r " + state_dir_ + "/logs " + keep + "/" +
            std::filesystem::path(state_dir_).filename().string());
    auto r = down();
    if (r.rc != 0) std::fprintf(stderr, "podnet down failed (%d):\n%s\n", r.rc, r.out.c_str());
    std::error_code ec;
    std::filesystem::remove_all(state_dir_, ec);
    state_dir_.clear();
  }

  std::mutex down_mu_;
  int cleanup_id_ = 0;
};

}  // namespace podnet::bench
