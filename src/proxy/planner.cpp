// Frontends and endpoint selection per Service, following kube-proxy's semantics for ClusterIP,
// NodePort, externalIPs, LoadBalancer ingress, traffic policies and session affinity.
#include "proxy/planner.h"

#include <algorithm>
#include <set>

namespace podnet::proxy {
namespace {

// The slice port serving a service port: same name (both may be empty) and protocol. The slice
// carries the number, already resolved from a named targetPort for the endpoints it lists.
std::optional<uint16_t> slice_port_for(const SliceInfo& slice, const k8s::ServicePort& sp) {
  for (const auto& p : slice.ports)
    if (p.name == sp.name && p.protocol == sp.protocol && p.port) return static_cast<uint16_t>(*p.port);
  return std::nullopt;
}

void sort_unique(std::vector<Backend>& v) {
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
}

void add_frontends(ServicePlan& plan, const std::vector<Ip>& addrs, const k8s::ServicePort& sp, uint16_t port,
                   const std::vector<Backend>* backends_by_family[2], bool masquerade, uint32_t affinity) {
  for (const Ip& addr : addrs) {
    FrontendPlan fp;
    fp.frontend = {addr, k8s::ip_proto_number(sp.protocol), port};
    fp.backends = *backends_by_family[addr.v6 ? 1 : 0];
    fp.masquerade = masquerade && !fp.backends.empty();
    fp.affinity_timeout = fp.backends.empty() ? 0 : affinity;
    plan.frontends.push_back(std::move(fp));
  }
}

std::vector<Ip> to_ips(const std::vector<IpAddress>& in) {
  std::vector<Ip> out;
  for (const auto& a : in) out.push_back(Ip::from(a));
  return out;
}

}  // namespace

SliceInfo summarize_slice(const k8s::EndpointSlice& slice, const std::string& node_name) {
  SliceInfo info;
  if (slice.address_type == k8s::AddressType::kFQDN) return info;
  info.family = slice.address_type == k8s::AddressType::kIPv4 ? Family::kIPv4 : Family::kIPv6;
  for (const auto& ep : slice.endpoints) {
    // Endpoints list one address in practice; kube-proxy also uses only the first.
    auto ip =
        ep.addresses.empty() ? Result<IpAddress>(fail_msg("no address")) : parse_ip(ep.addresses.front());
    if (!ip || ip->is_v6() != (info.family == Family::kIPv6)) continue;  // decode rejects these
    info.endpoints.push_back({Ip::from(*ip), ep.conditions.is_ready(), ep.conditions.is_serving(),
                              ep.conditions.is_terminating(), ep.node_name == node_name});
  }
  info.endpoints.shrink_to_fit();
  info.ports = slice.ports;
  return info;
}

std::vector<Backend> select_backends(const k8s::ServicePort& port, Family family,
                                     std::span<const SliceInfo* const> slices, bool local_only) {
  std::vector<Backend> ready, terminating;
  for (const SliceInfo* slice : slices) {
    if (slice->family != family) continue;
    auto number = slice_port_for(*slice, port);
    if (!number) continue;
    for (const auto& ep : slice->endpoints) {
      if (local_only && !ep.local) continue;
      Backend b{ep.addr, *number};
      if (ep.ready)
        ready.push_back(b);
      else if (ep.serving && ep.terminating)
        terminating.push_back(b);
    }
  }
  // Terminating endpoints only serve when nothing else can, so connections drain instead of failing.
  auto& chosen = ready.empty() ? terminating : ready;
  sort_unique(chosen);
  return std::move(chosen);
}

ServicePlan plan_service(const k8s::Service& svc, std::span<const k8s::EndpointSlice* const> slices,
                         const NodeInfo& node) {
  std::vector<SliceInfo> infos;
  for (const auto* s : slices) infos.push_back(summarize_slice(*s, node.name));
  std::vector<const SliceInfo*> ptrs;
  for (const auto& i : infos) ptrs.push_back(&i);
  return plan_service(svc, ptrs, node);
}

ServicePlan plan_service(const k8s::Service& svc, std::span<const SliceInfo* const> slices,
                         const NodeInfo& node) {
  ServicePlan plan;
  if (svc.headless || svc.type == k8s::ServiceType::kExternalName) return plan;
  const uint32_t affinity = svc.affinity_client_ip ? static_cast<uint32_t>(svc.affinity_timeout_seconds) : 0;
  const bool internal_local = svc.internal_traffic_policy == k8s::TrafficPolicy::kLocal;
  const bool external_local = svc.external_traffic_policy == k8s::TrafficPolicy::kLocal;
  const bool has_node_ports =
      svc.type == k8s::ServiceType::kNodePort || svc.type == k8s::ServiceType::kLoadBalancer;
  const auto cluster_ips = to_ips(svc.cluster_ips);
  const auto node_ips = to_ips(node.addresses);
  const auto external_ips = to_ips(svc.external_ips);
  const auto lb_ips =
      svc.type == k8s::ServiceType::kLoadBalancer ? to_ips(svc.load_balancer_ips) : std::vector<Ip>{};

  for (const auto& sp : svc.ports) {
    std::vector<Backend> internal[2], external[2];
    for (Family f : kFamilies) {
      int i = f == Family::kIPv6;
      internal[i] = select_backends(sp, f, slices, internal_local);
      external[i] =
          external_local == internal_local ? internal[i] : select_backends(sp, f, slices, external_local);
    }
    const std::vector<Backend>* in_ptrs[2] = {&internal[0], &internal[1]};
    const std::vector<Backend>* ex_ptrs[2] = {&external[0], &external[1]};
    const uint16_t port = static_cast<uint16_t>(sp.port);
    add_frontends(plan, cluster_ips, sp, port, in_ptrs, false, affinity);
    // External traffic with policy Cluster may be sent to another node: masquerade so replies come
    // back through this one. Policy Local keeps the client's address and only uses local endpoints.
    if (has_node_ports && sp.node_port != 0)
      add_frontends(plan, node_ips, sp, static_cast<uint16_t>(sp.node_port), ex_ptrs, !external_local,
                    affinity);
    add_frontends(plan, external_ips, sp, port, ex_ptrs, !external_local, affinity);
    add_frontends(plan, lb_ips, sp, port, ex_ptrs, !external_local, affinity);
  }
  std::set<Ip> local;
  for (const SliceInfo* slice : slices)
    for (const auto& ep : slice->endpoints)
      if (ep.local) local.insert(ep.addr);
  std::set<Ip> used_local;
  for (const auto& fp : plan.frontends)
    for (const auto& b : fp.backends)
      if (local.count(b.addr)) used_local.insert(b.addr);
  plan.local_backends.assign(used_local.begin(), used_local.end());

  std::sort(plan.frontends.begin(), plan.frontends.end(),
            [](const FrontendPlan& a, const FrontendPlan& b) { return a.frontend < b.frontend; });
  // Two ports of one service cannot share a frontend (the API forbids it); node addresses listed twice can.
  plan.frontends.erase(std::unique(plan.frontends.begin(), plan.frontends.end(),
                                   [](const auto& a, const auto& b) { return a.frontend == b.frontend; }),
                       plan.frontends.end());
  return plan;
}

}  // namespace podnet::proxy
