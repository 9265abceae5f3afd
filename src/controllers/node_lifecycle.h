// Node lifecycle, a simplified kube node lifecycle controller: a node whose agent stopped posting
// (no new Ready lastHeartbeatTime for the grace period) gets its conditions set to Unknown, the
// node.kubernetes.io/unreachable:NoSchedule taint, and the Ready condition of its pods set to False,
// so EndpointSlices stop sending traffic there and the scheduler skips it. When the agent posts again
// (its status patch sets Ready=True) the taint goes. No NoExecute taints and no evictions.
#pragma once

#include <chrono>
#include <map>
#include <string>

#include "controllers/controller.h"
#include "controllers/objects.h"
#include "k8s/event_recorder.h"

namespace podnet::controllers {

inline constexpr const char* kUnreachableTaint = "node.kubernetes.io/unreachable";
inline constexpr const char* kNotReadyTaint = "node.kubernetes.io/not-ready";

class NodeLifecycleController final : public Controller {
 public:
  // kube-controller-manager's --node-monitor-grace-period default.
  static constexpr std::chrono::milliseconds kDefaultGracePeriod{40000};

  // Records RegisteredNode, RemovingNode and NodeNotReady on nodes and NodeNotReady on their pods,
  // as kube's node lifecycle controller does.
  NodeLifecycleController(Cache& nodes, Cache& pods, Clock clock,
                          std::chrono::milliseconds grace_period = kDefaultGracePeriod,
                          k8s::EventRecorder events = {});
  ~NodeLifecycleController() override { stop(); }

 protected:
  void resync() override;
  Outcome reconcile(const std::string& key) override;  // key: a node name

 private:
  enum class Marked { kWritten, kHeartbeatCame, kGone, kRetry };
  Marked mark_unknown(const std::string& node, const std::string& observed_heartbeat);
  Outcome sync_taints(const std::string& node, const std::string& ready_status);
  Outcome mark_pods_not_ready(const std::string& node);

  Cache& nodes_;
  Cache& pods_;
  std::chrono::milliseconds grace_;
  k8s::EventRecorder events_;
  // Per node, the last lastHeartbeatTime seen and when this controller saw it change. As in kube, the
  // grace period runs on this controller's clock from that moment, so a node's clock skew does not
  // matter (and after a restart every node gets a full grace period). Worker thread only.
  struct Probe {
    std::string heartbeat;
    std::chrono::system_clock::time_point seen;
    std::string uid;  // for the RemovingNode event once the node is gone
  };
  std::map<std::string, Probe> probes_;
};

}  // namespace podnet::controllers
