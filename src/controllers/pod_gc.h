// Pod garbage collection, after kube-controller-manager's PodGC: pods bound to a node that no longer
// exists (orphaned, terminating or not) are deleted with grace 0, and so are terminating pods that
// were never bound. Nobody else would: the node's agent that would finish them is gone with it.
#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <string>

#include "controllers/controller.h"
#include "controllers/objects.h"

namespace podnet::controllers {

class PodGcController final : public Controller {
 public:
  // kube waits a fixed 40 s quarantine after a node went missing before it deletes the node's pods,
  // so that a node being (re-)registered is not raced. On one machine registration takes well under a
  // second, so podnet defaults to 5 s (ControllerOptions::pod_gc_quarantine, --pod-gc-quarantine).
  static constexpr std::chrono::milliseconds kDefaultQuarantine{5000};

  PodGcController(Cache& pods, Cache& nodes, Clock clock,
                  std::chrono::milliseconds quarantine = kDefaultQuarantine);
  ~PodGcController() override { stop(); }

 protected:
  void resync() override;
  Outcome reconcile(const std::string& key) override;  // key: a pod's "<ns>/<name>"

 private:
  void on_node_deleted(const std::string& node);
  Outcome remove(const std::string& key, const boost::json::value& pod, const char* node);

  Cache& pods_;
  Cache& nodes_;
  std::chrono::milliseconds quarantine_;
  std::mutex mu_;
  // When this controller first found each node missing; the quarantine counts from there. Cleared
  // when the node (re)appears.
  std::map<std::string, std::chrono::system_clock::time_point> missing_since_;
};

}  // namespace podnet::controllers
