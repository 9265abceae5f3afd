// What the kubelet role needs from the Kubernetes API, as a small interface: list/watch the pods
// bound to one node, write a pod's status, and remove a pod object once its containers are gone.
// ClientPodApi implements it over the one client interface, k8s::ApiClient (HttpsApiClient on a
// node), with at most a few pod writes at a time.
#pragma once

#include <boost/json/value.hpp>
#include <memory>
#include <semaphore>
#include <string>

#include "common/error.h"
#include "k8s/api_client.h"
#include "k8s/event_recorder.h"

namespace podnet::runtime {

// Error code of a write that hit a newer resourceVersion (HTTP 409) and of a missing object (404).
inline constexpr int kConflict = k8s::kConflict;
inline constexpr int kNotFound = k8s::kNotFound;

class PodApi {
 public:
  virtual ~PodApi() = default;
  // LIST/WATCH over /api/v1/pods?fieldSelector=spec.nodeName=<node>: what an Informer consumes.
  virtual k8s::ApiClient& pods_client() = 0;
  virtual std::string pods_path() const = 0;
  virtual Result<boost::json::value> get_pod(const std::string& ns, const std::string& name) = 0;
  // PUT .../pods/<name>/status with `pod` (metadata.resourceVersion set): kConflict when stale.
  virtual Result<boost::json::value> update_status(const boost::json::value& pod) = 0;
  // DELETE with gracePeriodSeconds=0 and a uid precondition; a pod already gone is success.
  virtual Status delete_pod(const std::string& ns, const std::string& name, const std::string& uid) = 0;
  // POST of a core/v1 Event, and a strategic merge patch of one (the node's event recorder).
  virtual Result<boost::json::value> create_event(const std::string& ns, const boost::json::value& event) = 0;
  virtual Result<boost::json::value> patch_event(const std::string& ns, const std::string& name,
                                                 const boost::json::value& patch) = 0;
};

class ClientPodApi : public PodApi {
 public:
  ClientPodApi(k8s::ApiClient& api, std::string node_name) : api_(api), node_(std::move(node_name)) {}

  k8s::ApiClient& pods_client() override { return api_; }
  std::string pods_path() const override;
  Result<boost::json::value> get_pod(const std::string& ns, const std::string& name) override;
  Result<boost::json::value> update_status(const boost::json::value& pod) override;
  Status delete_pod(const std::string& ns, const std::string& name, const std::string& uid) override;
  Result<boost::json::value> create_event(const std::string& ns, const boost::json::value& event) override;
  Result<boost::json::value> patch_event(const std::string& ns, const std::string& name,
                                         const boost::json::value& patch) override;

 private:
  // Runs `call` in one of the in-flight slots.
  template <typename F>
  auto limited(F call) -> decltype(call());

  k8s::ApiClient& api_;
  std::string node_;
  // A burst of pod starts (one worker thread each) would otherwise open a connection, and pay a
  // TLS handshake, per concurrent request: a few kept-alive ones in turn are faster.
  std::counting_semaphore<64> in_flight_{6};
};

// The node's events go to the API through PodApi. Errors the server answered with are final; a
// system error (no connection, a timeout) is worth another try.
class PodApiEventSink final : public k8s::EventSink {
 public:
  explicit PodApiEventSink(PodApi& api) : api_(api) {}
  k8s::SinkResult<boost::json::value> create(const std::string& ns, const boost::json::value& event) override;
  k8s::SinkResult<boost::json::value> patch(const std::string& ns, const std::string& name,
                                            const boost::json::value& patch) override;

 private:
  PodApi& api_;
};

}  // namespace podnet::runtime
