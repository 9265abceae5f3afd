// The EndpointSlice controller, after kube-controller-manager's: for each Service with a selector,
// discovery.k8s.io/v1 slices of the matching pods that have an IP (one address type per IP family,
// named targetPorts resolved per pod, pods with different resolved ports in different slices, at most
// 100 endpoints per slice), with ready/serving/terminating conditions. Slices are changed minimally:
// endpoints stay where they are and unchanged slices are not written. Services without a selector
// are left alone; the slices of deleted services are removed.
#pragma once

#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "controllers/controller.h"
#include "controllers/objects.h"

namespace podnet::controllers {

inline constexpr const char* kServiceNameLabel = "kubernetes.io/service-name";
inline constexpr const char* kManagedByLabel = "endpointslice.kubernetes.io/managed-by";
inline constexpr const char* kManagedByValue = "endpointslice-controller.k8s.io";

class EndpointSliceController final : public Controller {
 public:
  EndpointSliceController(Cache& services, Cache& pods, Cache& slices, Clock clock,
                          size_t max_endpoints_per_slice = 100);
  ~EndpointSliceController() override { stop(); }

 protected:
  void resync() override;
  Outcome reconcile(const std::string& key) override;

 private:
  void on_pod(const ObjectPtr& pod, const ObjectPtr& old);
  void wrote(const std::string& service_key, const boost::json::value& result);
  void deleted(const std::string& service_key, const std::string& slice_key);

  Cache& services_;
  Cache& pods_;
  Cache& slices_;
  size_t max_endpoints_;
  std::mutex mu_;
  // Our last slice writes per service: a reconcile waits until the slice cache has seen them, or it
  // would not see the slices it just created (and create them again) or deleted.
  struct Written {
    std::string resource_version;      // of the last create or update
    std::vector<std::string> deleted;  // slice keys deleted since
  };
  std::map<std::string, Written> last_write_;
};

}  // namespace podnet::controllers
