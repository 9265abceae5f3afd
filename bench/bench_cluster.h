// A `podnet up` cluster for benchmarks, driven through the real binary (tests/support/podnet_up.h,
// shared with the tests): a private state dir under /var/tmp, a random underlay /24 that overlaps
// nothing, and `podnet down` when the object goes away or (through StopSignal, bench/stop_signal.h)
// when SIGINT/SIGTERM/SIGHUP arrives. Needs root.
#pragma once

#include <stdlib.h>

#include <cstdio>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "stop_signal.h"
#include "support/podnet_up.h"

namespace podnet::bench {

using testing::CommandResult;
using testing::shell;

class BenchCluster : public testing::PodnetUp {
 public:
  explicit BenchCluster(std::string podnet) : PodnetUp(std::move(podnet), "pn-cbench", "192.168.198.0/24") {
    cleanup_id_ = StopSignal::add_cleanup([this] { teardown(); });
  }
  ~BenchCluster() {
    StopSignal::remove_cleanup(cleanup_id_);
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
