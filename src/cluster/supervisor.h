// `podnet supervise`: keeps one daemon of a `podnet up` cluster running, as daemontools' supervise
// or runit's runsv do for a service. It starts the daemon (in a node's namespace if asked), restarts
// it by the RestartPolicy when it fails, keeps its pid file and report current, forwards SIGTERM or
// SIGINT to it and exits once it is gone. It signals nothing but the process it runs.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "cluster/layout.h"
#include "cluster/supervision.h"

namespace podnet::cluster {

struct SuperviseOptions {
  std::string daemon;             // "server", "agent-node1", ...: names its log, pid file, report
  std::vector<std::string> argv;  // the daemon's command; argv[0] is a path
  std::string netns_path;         // empty: the supervisor's own namespace
  // Take over a daemon already running under the pid file (its supervisor died) instead of starting
  // one: it is watched through a pidfd, and restarted as this process's child when it ends.
  bool adopt = false;
  RestartPolicy policy;
  // After forwarding SIGTERM, how long the daemon may take before SIGKILL.
  std::chrono::milliseconds stop_grace{5000};
};

// Runs until told to stop (SIGTERM, SIGINT) or until the daemon exits cleanly; returns the exit
// code for the supervisor process. Blocks SIGTERM, SIGINT and SIGCHLD in the calling thread:
// call it from a process's main thread before any other thread exists.
int supervise(const Layout& layout, const SuperviseOptions& opts);

}  // namespace podnet::cluster
