// A simple scheduler: binds each pod without spec.nodeName to a Ready, schedulable node whose taints
// it tolerates and whose labels match its nodeSelector, the node with the fewest pods first. With no
// such node the pod stays Pending with PodScheduled=False (reason Unschedulable) until a node changes.
#pragma once

#include <map>
#include <mutex>
#include <string>

#include "controllers/controller.h"
#include "controllers/objects.h"
#include "k8s/event_recorder.h"

namespace podnet::controllers {

class Scheduler final : public Controller {
 public:
  // Records Scheduled and FailedScheduling on the pod, as kube-scheduler does.
  Scheduler(Cache& pods, Cache& nodes, Clock clock, k8s::EventRecorder events = {});
  ~Scheduler() override { stop(); }

 protected:
  void resync() override;
  Outcome reconcile(const std::string& key) override;

 private:
  void on_pod(const ObjectPtr& pod, const ObjectPtr& old, bool deleted);
  void enqueue_pending();
  int load(const std::string& node) const;  // under mu_
  Outcome mark_unschedulable(const std::string& key, const std::string& message);

  Cache& pods_;
  Cache& nodes_;
  k8s::EventRecorder events_;
  mutable std::mutex mu_;
  std::map<std::string, int> pods_per_node_;  // bound, non-terminal pods as the cache sees them
  // Pods bound here that the cache does not show bound yet, so back-to-back decisions spread.
  std::map<std::string, std::string> assumed_;
};

}  // namespace podnet::controllers
