// Events from the controllers in the server's process, so that `kubectl describe` and `kubectl get
// events` show what they did and what they could not do: one k8s::EventBroadcaster (a queue and a
// writer thread, events.h's correlation) writing through the client interface, and a recorder per
// controller named as kube's components are (default-scheduler, node-controller, ...).
#pragma once

#include <memory>
#include <string>

#include "common/time.h"
#include "controllers/objects.h"
#include "controllers/work_queue.h"
#include "k8s/event_recorder.h"

namespace podnet::controllers {

// k8s::EventSink over the client interface: core/v1 events created and merge-patched.
class ApiEventSink final : public k8s::EventSink {
 public:
  explicit ApiEventSink(k8s::ApiClient& api) : api_(api) {}
  k8s::SinkResult<boost::json::value> create(const std::string& ns, const boost::json::value& event) override;
  k8s::SinkResult<boost::json::value> patch(const std::string& ns, const std::string& name,
                                            const boost::json::value& patch) override;

 private:
  k8s::ApiClient& api_;
};

class ControllerEvents {
 public:
  // `api` may be null: recorders then record nothing.
  ControllerEvents(k8s::ApiClient* api, Clock clock);
  k8s::EventRecorder recorder(const std::string& component);
  bool flush(std::chrono::milliseconds timeout) { return broadcaster_ ? broadcaster_->flush(timeout) : true; }

 private:
  std::unique_ptr<ApiEventSink> sink_;
  std::unique_ptr<k8s::EventBroadcaster> broadcaster_;
};

// Logs a warning (with the component's name) and records it as a Warning event about `object`.
void warn(const k8s::EventRecorder& events, const boost::json::value& object, const std::string& reason,
          const std::string& message);

// kube's component names, as `kubectl describe` shows them under From.
inline constexpr const char* kSchedulerComponent = "default-scheduler";
inline constexpr const char* kNodeControllerComponent = "node-controller";
inline constexpr const char* kCidrAllocatorComponent = "cidrAllocator";
inline constexpr const char* kLoadBalancerComponent = "service-lb-controller";

}  // namespace podnet::controllers
