#include "cluster/views.h"

#include <boost/json.hpp>

#include "client/kubeconfig.h"
#include "k8s/json_fields.h"

namespace podnet::cluster {
namespace {

namespace json = boost::json;

using k8s::fields::at;
using k8s::fields::int_at;

std::string str(const json::value& v, k8s::fields::Path path) {
  return k8s::fields::string_at(v, path);
}

// An absent list reads as an empty one.
const json::array& arr(const json::value& v, k8s::fields::Path path) {
  static const json::array empty;
  const json::array* f = k8s::fields::array_at(v, path);
  return f ? *f : empty;
}

template <class View, class Fn>
std::vector<View> views(const json::value& list, Fn fn) {
  std::vector<View> out;
  for (const auto& item : arr(list, {"items"})) out.push_back(fn(item));
  return out;
}

}  // namespace

NodeView node_view(const json::value& node) {
  NodeView v;
  v.name = str(node, {"metadata", "name"});
  v.pod_cidr = str(node, {"spec", "podCIDR"});
  for (const auto& c : arr(node, {"status", "conditions"}))
    if (str(c, {"type"}) == "Ready") {
      v.ready = str(c, {"status"}) == "True";
      v.ready_heartbeat = str(c, {"lastHeartbeatTime"});
    }
  for (const auto& a : arr(node, {"status", "addresses"}))
    if (str(a, {"type"}) == "InternalIP" && v.internal_ip.empty()) v.internal_ip = str(a, {"address"});
  return v;
}

PodView pod_view(const json::value& pod) {
  PodView v;
  v.ns = str(pod, {"metadata", "namespace"});
  v.name = str(pod, {"metadata", "name"});
  v.node = str(pod, {"spec", "nodeName"});
  v.ip = str(pod, {"status", "podIP"});
  v.phase = str(pod, {"status", "phase"});
  if (str(pod, {"metadata", "deletionTimestamp"}) != "") v.phase = "Terminating";
  v.containers = static_cast<int>(arr(pod, {"spec", "containers"}).size());
  for (const auto& c : arr(pod, {"status", "containerStatuses"})) {
    const json::value* ready = at(c, {"ready"});
    if (ready && ready->is_bool() && ready->as_bool()) ++v.ready;
    v.restarts += static_cast<int>(int_at(c, {"restartCount"}));
  }
  return v;
}

ServiceView service_view(const json::value& service) {
  ServiceView v;
  v.ns = str(service, {"metadata", "namespace"});
  v.name = str(service, {"metadata", "name"});
  v.type = str(service, {"spec", "type"});
  if (v.type.empty()) v.type = "ClusterIP";
  v.cluster_ip = str(service, {"spec", "clusterIP"});
  for (const auto& p : arr(service, {"spec", "ports"})) {
    if (!v.ports.empty()) v.ports += ",";
    v.ports += std::to_string(int_at(p, {"port"}));
    if (int64_t np = int_at(p, {"nodePort"}); np != 0) v.ports += ":" + std::to_string(np);
    std::string proto = str(p, {"protocol"});
    v.ports += "/" + (proto.empty() ? std::string("TCP") : proto);
  }
  for (const auto& i : arr(service, {"status", "loadBalancer", "ingress"}))
    if (auto ip = str(i, {"ip"}); !ip.empty()) v.lb_ips.push_back(ip);
  return v;
}

std::vector<NodeView> node_views(const json::value& list) {
  return views<NodeView>(list, node_view);
}
std::vector<PodView> pod_views(const json::value& list) {
  return views<PodView>(list, pod_view);
}
std::vector<ServiceView> service_views(const json::value& list) {
  return views<ServiceView>(list, service_view);
}

Result<std::unique_ptr<client::HttpsApiClient>> admin_client(const Layout& layout,
                                                             std::chrono::seconds request_timeout) {
  PODNET_TRY(access, client::load_kubeconfig(layout.admin_kubeconfig()));
  client::HttpsClientOptions options;
  options.request_timeout = request_timeout;
  options.user_agent = "podnet-up";
  return client::HttpsApiClient::create(access, options);
}

}  // namespace podnet::cluster
