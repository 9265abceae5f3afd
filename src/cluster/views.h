// What `podnet up` and `podnet status` show of the cluster's API objects: nodes, pods and services
// reduced to the fields worth a glance, decoded from API JSON (tolerant of missing fields).
#pragma once

#include <boost/json/value.hpp>
#include <memory>
#include <string>
#include <vector>

#include "client/https_client.h"
#include "cluster/layout.h"
#include "common/error.h"

namespace podnet::cluster {

struct NodeView {
  std::string name;
  bool ready = false;
  std::string ready_heartbeat;  // the Ready condition's lastHeartbeatTime, as the API wrote it
  std::string internal_ip;
  std::string pod_cidr;
};

struct PodView {
  std::string ns, name, node, ip, phase;
  int ready = 0, containers = 0, restarts = 0;
};

struct ServiceView {
  std::string ns, name, type, cluster_ip;
  std::string ports;  // "80/TCP", "80:30080/TCP" with a node port, comma-separated
  std::vector<std::string> lb_ips;
};

NodeView node_view(const boost::json::value& node);
PodView pod_view(const boost::json::value& pod);
ServiceView service_view(const boost::json::value& service);

// The items of a LIST response ("items" of a *List object).
std::vector<NodeView> node_views(const boost::json::value& list);
std::vector<PodView> pod_views(const boost::json::value& list);
std::vector<ServiceView> service_views(const boost::json::value& list);

// A client for the cluster's API server with the admin credential.
Result<std::unique_ptr<client::HttpsApiClient>> admin_client(const Layout& layout,
                                                             std::chrono::seconds request_timeout);

}  // namespace podnet::cluster
