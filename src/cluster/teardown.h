// Removing a `podnet up` cluster, whatever state it is in: supervisors and recorded daemons, then
// every process living in one of the cluster's network namespaces, then pod and node namespaces,
// root-side veths, the bridge and finally the state directory. Each step tolerates what is already
// gone, so running it twice, or after a crash half-way through `up`, is fine.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "cluster/layout.h"
#include "common/error.h"

namespace podnet::cluster {

// A pod the agent of `node` ran: its uid (the directory name under nodes/<node>/pods/) and, when
// the agent recorded it there, the path of its network namespace.
struct PodRecord {
  std::string node;
  std::string uid;
  std::string netns_path;  // may be empty
};

// Names under /run/netns that belong to the cluster, out of `existing`: its node namespaces,
// anything named pn-<cid>-..., and the pod namespaces pn-<node>-<first 8 hex of uid> of recorded
// pods (agents that know no cluster id name them after their node).
std::vector<std::string> cluster_netns(const Layout& layout, const std::vector<std::string>& existing,
                                       const std::vector<PodRecord>& pods);

// The pods recorded under STATE/nodes/*/pods/<uid>/ (netns path from a `netns` file if present).
std::vector<PodRecord> recorded_pods(const Layout& layout);

// Unmounts every file system mounted below `dir` (the agents' bpffs instances), deepest first.
Status unmount_below(const std::string& dir);

using Progress = std::function<void(const std::string&)>;

// Tears the cluster down. Errors of single steps are reported through `progress` and the rest
// still runs; the returned error is the first one, after everything was tried.
Status tear_down(const Layout& layout, const Progress& progress);

}  // namespace podnet::cluster
