// `podnet up`, `podnet down`, `podnet status`: a whole cluster on this machine (API server in the
// root namespace, one network namespace per node with its agent) as CONTRACTS.md lays it out; `up`
// returns once every node is Ready and leaves it running; `down` and `status` use what it recorded.
#pragma once

#include <set>
#include <string>
#include <vector>

#include "cluster/layout.h"

namespace podnet::cli {

struct UpOptions {
  std::string state_dir = cluster::kDefaultStateDir;
  int nodes = 3;
  std::string overlay = "vxlan";
  std::string underlay_cidr = cluster::kDefaultUnderlay;
  bool fast_path = true;
  bool dns = true;  // false: no cluster DNS (agents --dns=off, no --cluster-dns, no kube-dns Service)
  uint16_t api_port = 6443;
  int timeout_seconds = 180;  // for every node to become Ready
  std::string cni_binary;     // empty: podnet-cni next to this executable
  bool agents = true;         // false: control plane and node namespaces only (agents run by hand)
  bool fresh = false;         // an existing cluster in the state dir is removed first
  // Passed to the agents this run starts (not recorded with the cluster); empty: the agent's default.
  std::string streaming_idle_timeout;
  // The options given on the command line ("--nodes", ...): on a state dir that holds a cluster, only
  // these are compared with its record, the rest come from it.
  std::set<std::string> given;
};

int run_up(const UpOptions& opts);

struct StateDirOptions {
  std::string state_dir = cluster::kDefaultStateDir;
  std::string graph;  // status: also draw the cluster into this SVG file
};

int run_down(const StateDirOptions& opts);
int run_status(const StateDirOptions& opts);

// `podnet supervise`, which `up` starts for each daemon (docs/up.md).
struct SuperviseFlags {
  std::string state_dir;
  std::string daemon;
  std::string netns;
  bool adopt = false;
  int restart_delay_ms = 1000;
  int max_restart_delay_ms = 30000;
  int healthy_after_ms = 60000;
  int stop_grace_ms = 5000;
  std::vector<std::string> command;
};

int run_supervise(const SuperviseFlags& flags);

}  // namespace podnet::cli
