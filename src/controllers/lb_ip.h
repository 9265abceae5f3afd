// LoadBalancer addresses: Services of type LoadBalancer get status.loadBalancer.ingress [{ip}] from
// the pool (--lb-pool), spec.loadBalancerIP honoured when it is in the pool and free. An address is
// never given twice and returns to the pool when the service is deleted or changes type. The
// allocation map is rebuilt from the services' status on start.
#pragma once

#include <map>
#include <string>

#include "controllers/controller.h"
#include "controllers/events.h"
#include "controllers/objects.h"
#include "controllers/prefix_allocator.h"

namespace podnet::controllers {

class LoadBalancerIpController final : public Controller {
 public:
  // `pool` a CIDR ("192.168.213.240/28"); for IPv4 its network and broadcast addresses are not used.
  static Result<std::unique_ptr<LoadBalancerIpController>> make(Cache& services, k8s::EventRecorder events,
                                                                const std::string& pool, Clock clock);
  ~LoadBalancerIpController() override { stop(); }

 protected:
  void resync() override;
  Outcome reconcile(const std::string& key) override;

 private:
  LoadBalancerIpController(Cache& services, k8s::EventRecorder events, PrefixAllocator pool, Clock clock);
  void release(const std::string& key);
  // Makes the stored service's load balancer status say `ip` (none when empty).
  Outcome write_status(const std::string& key, const std::string& ip);

  Cache& services_;
  k8s::EventRecorder events_;
  PrefixAllocator pool_;
  std::map<std::string, IpAddress> owned_;  // service key -> address
};

}  // namespace podnet::controllers
