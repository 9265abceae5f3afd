// Node IPAM: gives every Node a pod range (spec.podCIDR and spec.podCIDRs) from the cluster CIDR,
// never the same range twice; a node's range returns to the pool when the node is deleted. A range
// already set on a node is kept. The allocation map is rebuilt from the nodes on start.
#pragma once

#include <map>
#include <string>

#include "controllers/controller.h"
#include "controllers/events.h"
#include "controllers/objects.h"
#include "controllers/prefix_allocator.h"

namespace podnet::controllers {

class NodeIpamController final : public Controller {
 public:
  // `cluster_cidr` "10.244.0.0/16", `node_cidr_mask` 24.
  static Result<std::unique_ptr<NodeIpamController>> make(Cache& nodes, k8s::EventRecorder events,
                                                          const std::string& cluster_cidr, int node_cidr_mask,
                                                          Clock clock);
  ~NodeIpamController() override { stop(); }

 protected:
  void resync() override;
  Outcome reconcile(const std::string& key) override;

 private:
  NodeIpamController(Cache& nodes, k8s::EventRecorder events, PrefixAllocator cidrs, Clock clock);
  // Keeps the allocation map in step with a range the node already has.
  void adopt(const std::string& node, const IpPrefix& cidr);
  void release(const std::string& node);
  Outcome write(const std::string& node, const IpPrefix& cidr);

  Cache& nodes_;
  k8s::EventRecorder events_;
  // Worker thread only (and resync() before it starts).
  PrefixAllocator cidrs_;
  std::map<std::string, IpPrefix> owned_;
};

}  // namespace podnet::controllers
