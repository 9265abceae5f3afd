// Kubernetes' NetworkPolicy semantics, rule by rule, as the planner applies them (peers are pods
// that are policy subjects, or addresses in an ipBlock; named ports resolve on the destination pod).
#include "policy/explain.h"

namespace podnet::policy {
namespace {

bool in_block(const IpBlock& b, const IpAddress& ip) {
  if (b.cidr.is_v4() != ip.is_v4() || !b.cidr.network().contains(ip)) return false;
  for (const auto& e : b.except)
    if (e.is_v4() == ip.is_v4() && e.network().contains(ip)) return false;
  return true;
}

bool peer_matches(const PolicyPeer& p, const std::string& policy_ns, const PolicyEnd& end) {
  if (p.ip_block) return in_block(*p.ip_block, end.ip);
  if (!end.pod || !end.pod->is_subject()) return false;  // selectors name pods, never nodes
  if (p.namespace_selector) {
    if (!p.namespace_selector->matches(end.namespace_labels)) return false;
  } else if (end.pod->namespace_ != policy_ns) {
    return false;
  }
  return !p.pod_selector || p.pod_selector->matches(end.pod->labels);
}

bool port_matches(const PolicyPort& pp, const PolicyEnd& destination, Protocol proto, int32_t port) {
  if (pp.protocol != proto) return false;
  if (!pp.port) return true;
  if (const auto* n = std::get_if<int32_t>(&*pp.port))
    return pp.end_port ? port >= *n && port <= *pp.end_port : port == *n;
  const auto& name = std::get<std::string>(*pp.port);
  if (!destination.pod) return false;
  for (const auto& cp : destination.pod->ports)
    if (cp.name == name && cp.protocol == proto && cp.port == port) return true;
  return false;
}

}  // namespace

DirectionVerdict explain(const std::vector<NetworkPolicy>& policies, bool ingress, const PolicyEnd& subject,
                         const PolicyEnd& peer, Protocol proto, int32_t port) {
  DirectionVerdict v;
  v.direction = ingress ? "ingress" : "egress";
  if (!subject.pod || !subject.pod->is_subject()) return v;
  const PolicyEnd& destination = ingress ? subject : peer;
  for (const auto& np : policies) {
    if (np.namespace_ != subject.pod->namespace_ || !(ingress ? np.ingress : np.egress)) continue;
    if (!np.pod_selector.matches(subject.pod->labels)) continue;
    v.isolated = true;
    v.selecting.push_back(np.key());
    const auto& rules = ingress ? np.ingress_rules : np.egress_rules;
    for (size_t i = 0; i < rules.size(); ++i) {
      const PolicyRule& r = rules[i];
      bool peer_ok = r.peers.empty();
      for (const auto& p : r.peers) peer_ok = peer_ok || peer_matches(p, np.namespace_, peer);
      bool port_ok = r.ports.empty();
      for (const auto& pp : r.ports) port_ok = port_ok || port_matches(pp, destination, proto, port);
      if (peer_ok && port_ok) v.allowed_by.push_back({np.key(), v.direction, static_cast<int>(i)});
    }
  }
  v.allowed = !v.isolated || !v.allowed_by.empty();
  return v;
}

}  // namespace podnet::policy
