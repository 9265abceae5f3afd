// What the node keeps about each pod it runs, in <state-dir>/pods/<uid>/state.json, so that an
// agent restart re-adopts containers instead of restarting them: the pod's netns, CNI result and
// per container the shim and container pid + start time and the restart count.
#pragma once

#include <boost/json/value.hpp>
#include <map>
#include <string>
#include <vector>

#include "common/error.h"
#include "runtime/container_process.h"

namespace podnet::runtime {

struct ContainerRecord {
  ProcessId container, shim;
  int64_t started_unix_ns = 0;
  int restart_count = 0;
  bool succeeded_init = false;  // init containers: ran to completion
};

struct PodRecord {
  std::string uid, namespace_, name;
  bool host_network = false;
  std::string netns;              // name under /run/netns; written before the netns is made
  std::string mntns;              // the pod's mount namespace file (pod_mounts.h); written before it is made
  boost::json::value cni_result;  // null until ADD succeeded
  bool network_released = false;  // CNI DEL done (terminal pod)
  std::vector<std::string> ips;
  int64_t start_unix_ns = 0;  // status.startTime
  std::map<std::string, ContainerRecord> containers;
};

class PodStateStore {
 public:
  // The record and the logs live in <state_dir>/pods/<uid>/ (kept across reboots, as containerd's
  // metadata and kubelet's /var/log/pods); what a pod's sandbox needs only while it exists (its
  // resolv.conf and hosts) in <run_dir>/pods/<uid>/ (a tmpfs, as containerd's /run/containerd);
  // no run_dir: both in the first.
  explicit PodStateStore(std::string state_dir, std::string run_dir = "")
      : dir_(std::move(state_dir) + "/pods"),
        run_dir_(run_dir.empty() ? dir_ : std::move(run_dir) + "/pods") {}

  std::string pod_dir(const std::string& uid) const { return dir_ + "/" + uid; }
  std::string run_pod_dir(const std::string& uid) const { return run_dir_ + "/" + uid; }
  std::string log_path(const std::string& uid, const std::string& container) const {
    return pod_dir(uid) + "/" + container + ".log";
  }
  std::string exit_path(const std::string& uid, const std::string& container) const {
    return pod_dir(uid) + "/" + container + ".exit";
  }
  // The container shim's attach socket (shim.h).
  std::string attach_path(const std::string& uid, const std::string& container) const {
    return pod_dir(uid) + "/" + container + ".attach";
  }

  Status save(const PodRecord& rec) const;
  Result<PodRecord> load(const std::string& uid) const;
  std::vector<std::string> list_uids() const;
  Status remove(const std::string& uid) const;

 private:
  std::string dir_, run_dir_;
};

}  // namespace podnet::runtime
