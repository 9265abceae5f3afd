// Service defaults (kube's SetDefaults_Service), the fix-ups kube's Service REST applies to an update
// (patchAllocatedValues, normalizeClusterIPs, dropTypeDependentFields) and ValidateService /
// ValidateServiceUpdate with kube's field messages. Allocating IPs and ports is service_rest's job.
#pragma once

#include <boost/json/object.hpp>
#include <vector>

#include "apiserver/api_error.h"

namespace podnet::apiserver {

void default_service(boost::json::object& svc);

// Keeps clusterIP and clusterIPs in step (`old` null on create), as kube's normalizeClusterIPs.
void normalize_cluster_ips(const boost::json::object* old, boost::json::object& svc);
// An update that leaves out allocated values (clusterIP(s), nodePorts, healthCheckNodePort) keeps
// the stored ones, so a client can PUT what it wrote without them.
void patch_allocated_values(const boost::json::object& old, boost::json::object& svc);
// A type change wipes the values the old type had and the new one does not take, when the client
// left them as they were (NodePort -> ClusterIP drops the nodePorts, which are then released).
void drop_type_dependent_fields(const boost::json::object& old, boost::json::object& svc);

// The causes of an invalid Service (empty when valid); `old` for updates. Values the allocators
// fill in afterwards (clusterIPs, nodePorts, healthCheckNodePort) may still be unset.
std::vector<StatusCause> validate_service(const boost::json::object& svc, const boost::json::object* old);

}  // namespace podnet::apiserver
