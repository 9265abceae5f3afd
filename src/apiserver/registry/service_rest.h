// The Service registry's write logic, as kube-apiserver's Service REST: defaults and validation,
// then clusterIP(s) from --service-cidr and nodePorts / healthCheckNodePort from --node-port-range.
// Allocation state lives in memory and is rebuilt from the stored Services at start: a value is
// marked before the store write and given back if the write fails, released only after a delete
// or an update that drops it is stored, so no IP or port is handed out twice, even across kill -9.
#pragma once

#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include "apiserver/registry/ip_allocator.h"
#include "apiserver/registry/object_store.h"
#include "apiserver/registry/port_allocator.h"
#include "apiserver/registry/write_hook.h"

namespace podnet::apiserver {

class ServiceRest : public WriteHook {
 public:
  // `service_cidr`: one range, or two comma-separated ranges of different families (dual-stack;
  // the first is the default family). `node_port_range`: "30000-32767".
  static Result<std::unique_ptr<ServiceRest>> create(const std::string& service_cidr,
                                                     const std::string& node_port_range,
                                                     uint64_t random_seed);

  // Marks every clusterIP and node port the stored Services hold. Run before serving. Returns
  // how many values were claimed twice in storage (0 unless storage was edited by hand).
  Result<size_t> rebuild(ObjectStore& objects, const ResourceType& services);

  ApiResult<std::unique_ptr<WriteTxn>> before_write(const boost::json::object* old,
                                                    boost::json::object& obj) override;
  void after_delete(const boost::json::object& removed) override;

  bool ip_allocated(const IpAddress& ip);
  bool port_allocated(int port);
  size_t ips_used();
  size_t ports_used();

  class Txn;  // the values one write took and will give back

 private:
  ServiceRest(std::vector<IpAllocator> ips, PortAllocator ports, uint64_t seed);
  IpAllocator* allocator_for(const std::string& family);
  // initIPFamilyFields: ipFamilyPolicy and ipFamilies from the request and the cluster's ranges.
  std::vector<StatusCause> init_ip_families(const boost::json::object* old_spec, boost::json::object& spec);
  ApiResult<void> allocate(const std::string& name, const boost::json::object* old_spec,
                           boost::json::object& spec, Txn& txn);
  ApiResult<void> allocate_cluster_ips(const std::string& name, boost::json::object& spec, size_t first,
                                       Txn& txn);
  ApiResult<void> allocate_node_ports(const std::string& name, const boost::json::object* old_spec,
                                      boost::json::object& spec, Txn& txn);
  ApiResult<void> allocate_health_check(const boost::json::object* old_spec, boost::json::object& spec,
                                        Txn& txn);
  void release_ip(const std::string& ip);

  std::mutex mu_;  // guards the allocators and random_
  std::vector<IpAllocator> ips_;
  PortAllocator ports_;
  std::mt19937_64 random_;
};

}  // namespace podnet::apiserver
