// Bringing a `podnet up` cluster up on this machine, the mirror of tear_down (teardown.h): the
// underlay, the API server, the node namespaces, cluster DNS's Service, node credentials, the agents
// (each under `podnet supervise`), then the wait for every node to be Ready. Every step keeps what
// exists, so the same steps make a new cluster and restore a stopped one. `podnet up`
// (cli/up_cmd.cpp) decides which, holds the locks and the signals, and undoes a failed run.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "cluster/layout.h"
#include "common/error.h"
#include "common/fd.h"

namespace podnet::cluster {

struct BringUpOptions {
  std::string self;  // the podnet executable: runs `server`, `supervise` and `agent`
  std::string cni;   // the podnet-cni executable the agents use
  // Passed to the agents this run starts (not recorded with the cluster); empty: the agent's default.
  std::string streaming_idle_timeout;
  int timeout_seconds = 180;  // for every node to become Ready
  // Progress, one line each ("* agent node1 in pn-1a2b-node1 (log ...)").
  std::function<void(const std::string&)> say = [](const std::string&) {};
  // Waits up to `d`; false once the run is to stop (a signal arrived, now or before). Empty: plain
  // sleeps, never interrupted.
  std::function<bool(std::chrono::milliseconds)> sleep;
};

class BringUp {
 public:
  // `underlay_lock`: the machine-wide lock held since the underlay was found free; released once
  // the underlay's address exists (another `up` then sees it taken).
  BringUp(Layout layout, BringUpOptions options, UniqueFd underlay_lock = {});
  ~BringUp();
  BringUp(const BringUp&) = delete;
  BringUp& operator=(const BringUp&) = delete;

  // Runs every step; the error names the step that failed (with the end of a daemon's log when
  // one exited), or says "interrupted".
  Status run();
  // Stops the supervisors this run started, and their daemons with them (a restore that failed).
  void stop_started();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace podnet::cluster
