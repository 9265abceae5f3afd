// Decoding of NetworkPolicy, Pod and Namespace JSON for the node side. Every check here is one
// kube-apiserver makes too, so a well-behaved server never sends what is refused; a policy that
// fails is skipped whole by the caller (a partial policy could allow more or less than written).
#include "policy/model.h"

#include <algorithm>
#include <boost/json/serialize.hpp>
#include <limits>

#include "k8s/json_fields.h"

namespace podnet::policy {
namespace json = boost::json;
namespace {

using k8s::fields::array_at;
using k8s::fields::member;
using k8s::fields::object_at;
using k8s::fields::string_at;
constexpr auto* bad = &k8s::fields::field_error;

Result<Labels> labels_at(const json::object& o, std::string_view key, const std::string& path) {
  PODNET_TRY(obj, object_at(o, key, path));
  Labels out;
  if (!obj) return out;
  for (const auto& kv : *obj) {
    if (!kv.value().is_string()) return bad(path + "." + std::string(kv.key()), "expected a string");
    out.emplace(std::string(kv.key()), std::string(kv.value().get_string()));
  }
  return out;
}

Result<Protocol> protocol_at(const json::object& o, const std::string& path) {
  PODNET_TRY(p, string_at(o, "protocol", path + ".protocol"));
  if (p.empty() || p == "TCP") return Protocol::kTcp;
  if (p == "UDP") return Protocol::kUdp;
  if (p == "SCTP") return Protocol::kSctp;
  return bad(path + ".protocol", "unsupported protocol \"" + p + "\"");
}

Result<int32_t> port_number(const json::value& v, const std::string& path) {
  if (!v.is_int64() && !v.is_uint64()) return bad(path, "expected an integer");
  int64_t n =
      v.is_int64() ? v.get_int64() : static_cast<int64_t>(std::min<uint64_t>(v.get_uint64(), 1u << 20));
  if (n < 1 || n > 65535) return bad(path, "must be between 1 and 65535, inclusive");
  return static_cast<int32_t>(n);
}

// An IANA_SVC_NAME as kube validates it: 1-15 of [a-z0-9-], a letter, no leading, trailing or
// double hyphen.
bool valid_port_name(const std::string& s) {
  if (s.empty() || s.size() > 15 || s.front() == '-' || s.back() == '-') return false;
  if (s.find("--") != std::string::npos) return false;
  bool letter = false;
  for (char c : s) {
    if (c >= 'a' && c <= 'z')
      letter = true;
    else if (!(c >= '0' && c <= '9') && c != '-')
      return false;
  }
  return letter;
}

Result<LabelSelector> decode_selector(const json::object& o, const std::string& path) {
  LabelSelector sel;
  PODNET_TRY(ml, labels_at(o, "matchLabels", path + ".matchLabels"));
  sel.match_labels = std::move(ml);
  PODNET_TRY(exprs, array_at(o, "matchExpressions", path + ".matchExpressions"));
  if (!exprs) return sel;
  for (size_t i = 0; i < exprs->size(); ++i) {
    std::string p = path + ".matchExpressions[" + std::to_string(i) + "]";
    if (!(*exprs)[i].is_object()) return bad(p, "expected an object");
    const auto& e = (*exprs)[i].get_object();
    SelectorRequirement r;
    PODNET_TRY(key, string_at(e, "key", p + ".key"));
    if (key.empty()) return bad(p + ".key", "must not be empty");
    r.key = std::move(key);
    PODNET_TRY(op, string_at(e, "operator", p + ".operator"));
    if (op == "In")
      r.op = SelectorRequirement::Op::kIn;
    else if (op == "NotIn")
      r.op = SelectorRequirement::Op::kNotIn;
    else if (op == "Exists")
      r.op = SelectorRequirement::Op::kExists;
    else if (op == "DoesNotExist")
      r.op = SelectorRequirement::Op::kDoesNotExist;
    else
      return bad(p + ".operator", "not a valid selector operator \"" + op + "\"");
    PODNET_TRY(values, array_at(e, "values", p + ".values"));
    if (values)
      for (const auto& v : *values) {
        if (!v.is_string()) return bad(p + ".values", "expected strings");
        r.values.emplace_back(v.get_string());
      }
    bool set_op = r.op == SelectorRequirement::Op::kIn || r.op == SelectorRequirement::Op::kNotIn;
    if (set_op && r.values.empty())
      return bad(p + ".values", "must be specified when `operator` is 'In' or 'NotIn'");
    if (!set_op && !r.values.empty())
      return bad(p + ".values", "may not be specified when `operator` is 'Exists' or 'DoesNotExist'");
    std::sort(r.values.begin(), r.values.end());
    sel.expressions.push_back(std::move(r));
  }
  return sel;
}

Result<std::optional<LabelSelector>> selector_at(const json::object& o, std::string_view key,
                                                 const std::string& path) {
  PODNET_TRY(obj, object_at(o, key, path));
  if (!obj) return std::optional<LabelSelector>();
  PODNET_TRY(sel, decode_selector(*obj, path));
  return std::optional<LabelSelector>(std::move(sel));
}

Result<IpPrefix> cidr_at(const json::value& v, const std::string& path) {
  if (!v.is_string()) return bad(path, "expected a string");
  auto p = parse_prefix(std::string(v.get_string()));
  if (!p) return bad(path, "must be a valid CIDR: \"" + std::string(v.get_string()) + "\"");
  return p->network();
}

Result<PolicyPeer> decode_peer(const json::value& v, const std::string& path) {
  if (!v.is_object()) return bad(path, "expected an object");
  const auto& o = v.get_object();
  PolicyPeer peer;
  PODNET_TRY(ps, selector_at(o, "podSelector", path + ".podSelector"));
  PODNET_TRY(ns, selector_at(o, "namespaceSelector", path + ".namespaceSelector"));
  peer.pod_selector = std::move(ps);
  peer.namespace_selector = std::move(ns);
  PODNET_TRY(ib, object_at(o, "ipBlock", path + ".ipBlock"));
  if (ib) {
    if (peer.pod_selector || peer.namespace_selector)
      return bad(path, "may not specify more than 1 peer type when ipBlock is set");
    const json::value* c = member(*ib, "cidr");
    if (!c) return bad(path + ".ipBlock.cidr", "Required value");
    PODNET_TRY(cidr, cidr_at(*c, path + ".ipBlock.cidr"));
    IpBlock block{cidr, {}};
    PODNET_TRY(ex, array_at(*ib, "except", path + ".ipBlock.except"));
    if (ex)
      for (size_t i = 0; i < ex->size(); ++i) {
        std::string p = path + ".ipBlock.except[" + std::to_string(i) + "]";
        PODNET_TRY(e, cidr_at((*ex)[i], p));
        if (e.is_v4() != cidr.is_v4() || e.len <= cidr.len || !cidr.contains(e.addr))
          return bad(p, "must be a strict subset of `cidr`");
        block.except.push_back(e);
      }
    peer.ip_block = std::move(block);
  } else if (!peer.pod_selector && !peer.namespace_selector) {
    return bad(path, "must specify a peer");
  }
  return peer;
}

Result<PolicyPort> decode_port(const json::value& v, const std::string& path) {
  if (!v.is_object()) return bad(path, "expected an object");
  const auto& o = v.get_object();
  PolicyPort port;
  PODNET_TRY(proto, protocol_at(o, path));
  port.protocol = proto;
  if (const json::value* p = member(o, "port")) {
    if (p->is_string()) {
      std::string name(p->get_string());
      if (!valid_port_name(name)) return bad(path + ".port", "not a valid port name \"" + name + "\"");
      port.port = name;
    } else {
      PODNET_TRY(n, port_number(*p, path + ".port"));
      port.port = n;
    }
  }
  if (const json::value* e = member(o, "endPort")) {
    PODNET_TRY(n, port_number(*e, path + ".endPort"));
    if (!port.port || !std::holds_alternative<int32_t>(*port.port))
      return bad(path + ".endPort", "may not be specified when `port` is not a number");
    if (n < std::get<int32_t>(*port.port))
      return bad(path + ".endPort", "must be greater than or equal to `port`");
    port.end_port = n;
  }
  return port;
}

Result<std::vector<PolicyRule>> decode_rules(const json::object& spec, std::string_view key,
                                             std::string_view peers_key, const std::string& path) {
  std::vector<PolicyRule> rules;
  PODNET_TRY(arr, array_at(spec, key, path));
  if (!arr) return rules;
  for (size_t i = 0; i < arr->size(); ++i) {
    std::string p = path + "[" + std::to_string(i) + "]";
    if (!(*arr)[i].is_object()) return bad(p, "expected an object");
    const auto& r = (*arr)[i].get_object();
    PolicyRule rule;
    PODNET_TRY(peers, array_at(r, peers_key, p + "." + std::string(peers_key)));
    if (peers)
      for (size_t j = 0; j < peers->size(); ++j) {
        PODNET_TRY(
            peer, decode_peer((*peers)[j], p + "." + std::string(peers_key) + "[" + std::to_string(j) + "]"));
        rule.peers.push_back(std::move(peer));
      }
    PODNET_TRY(ports, array_at(r, "ports", p + ".ports"));
    if (ports)
      for (size_t j = 0; j < ports->size(); ++j) {
        PODNET_TRY(port, decode_port((*ports)[j], p + ".ports[" + std::to_string(j) + "]"));
        rule.ports.push_back(std::move(port));
      }
    rules.push_back(std::move(rule));
  }
  return rules;
}

Result<std::pair<std::string, std::string>> meta_of(const json::value& v, std::string_view kind) {
  if (!v.is_object()) return fail_msg(std::string(kind) + ": expected an object");
  PODNET_TRY(meta, object_at(v.get_object(), "metadata", "metadata"));
  if (!meta) return fail_msg(std::string(kind) + ": metadata: Required value");
  PODNET_TRY(name, string_at(*meta, "name", "metadata.name"));
  PODNET_TRY(ns, string_at(*meta, "namespace", "metadata.namespace"));
  if (name.empty()) return fail_msg(std::string(kind) + ": metadata.name: Required value");
  return std::pair{ns, name};
}

}  // namespace

const char* nft_proto(Protocol p) {
  return p == Protocol::kTcp ? "tcp" : p == Protocol::kUdp ? "udp" : "sctp";
}

bool LabelSelector::matches(const Labels& labels) const {
  for (const auto& [k, v] : match_labels) {
    auto it = labels.find(k);
    if (it == labels.end() || it->second != v) return false;
  }
  for (const auto& r : expressions) {
    auto it = labels.find(r.key);
    bool has = it != labels.end();
    bool in = has && std::binary_search(r.values.begin(), r.values.end(), it->second);
    switch (r.op) {
      case SelectorRequirement::Op::kIn:
        if (!in) return false;
        break;
      case SelectorRequirement::Op::kNotIn:
        if (in) return false;
        break;
      case SelectorRequirement::Op::kExists:
        if (!has) return false;
        break;
      case SelectorRequirement::Op::kDoesNotExist:
        if (has) return false;
        break;
    }
  }
  return true;
}

std::string LabelSelector::canonical() const {
  std::string s = "{";
  for (const auto& [k, v] : match_labels) s += k + "=" + v + ",";
  std::vector<std::string> exprs;
  for (const auto& r : expressions) {
    std::string e = r.key + "#" + std::to_string(static_cast<int>(r.op)) + "(";
    for (const auto& v : r.values) e += v + ",";
    exprs.push_back(e + ")");
  }
  std::sort(exprs.begin(), exprs.end());
  for (const auto& e : exprs) s += e + ";";
  return s + "}";
}

Result<NetworkPolicy> decode_network_policy(const json::value& v) {
  PODNET_TRY(id, meta_of(v, "NetworkPolicy"));
  NetworkPolicy np;
  np.namespace_ = id.first;
  np.name = id.second;
  auto fail_in = [&](const Error& e) { return fail_msg("NetworkPolicy " + np.key() + ": " + e.context); };
  auto spec = object_at(v.get_object(), "spec", "spec");
  if (!spec) return fail_in(spec.error());
  if (!*spec) return fail_msg("NetworkPolicy " + np.key() + ": spec: Required value");
  const json::object& s = **spec;
  auto ps = selector_at(s, "podSelector", "spec.podSelector");
  if (!ps) return fail_in(ps.error());
  if (*ps) np.pod_selector = std::move(**ps);  // absent: {} (every pod of the namespace)
  auto ingress = decode_rules(s, "ingress", "from", "spec.ingress");
  if (!ingress) return fail_in(ingress.error());
  auto egress = decode_rules(s, "egress", "to", "spec.egress");
  if (!egress) return fail_in(egress.error());
  np.ingress_rules = std::move(*ingress);
  np.egress_rules = std::move(*egress);
  auto types = array_at(s, "policyTypes", "spec.policyTypes");
  if (!types) return fail_in(types.error());
  if (*types && !(*types)->empty()) {
    np.ingress = np.egress = false;
    for (const auto& t : **types) {
      if (t == "Ingress")
        np.ingress = true;
      else if (t == "Egress")
        np.egress = true;
      else
        return fail_msg("NetworkPolicy " + np.key() + ": spec.policyTypes: unsupported value " +
                        json::serialize(t));
    }
  } else {
    // The API's default: Ingress always, Egress when there are egress rules.
    np.ingress = true;
    np.egress = !np.egress_rules.empty();
  }
  if (np.namespace_.empty())
    return fail_msg("NetworkPolicy " + np.key() + ": metadata.namespace: Required value");
  return np;
}

Result<Pod> decode_pod(const json::value& v) {
  PODNET_TRY(id, meta_of(v, "Pod"));
  Pod pod;
  pod.namespace_ = id.first;
  pod.name = id.second;
  const auto& o = v.get_object();
  auto in = [&](const Error& e) { return fail_msg("Pod " + pod.key() + ": " + e.context); };
  auto meta = object_at(o, "metadata", "metadata");
  auto labels = labels_at(**meta, "labels", "metadata.labels");
  if (!labels) return in(labels.error());
  pod.labels = std::move(*labels);
  if (auto* uid = member(**meta, "uid"); uid && uid->is_string()) pod.uid = std::string(uid->get_string());
  auto spec = object_at(o, "spec", "spec");
  if (!spec) return in(spec.error());
  if (*spec) {
    const json::object& s = **spec;
    if (auto* n = member(s, "nodeName"); n && n->is_string()) pod.node = std::string(n->get_string());
    if (auto* h = member(s, "hostNetwork"); h && h->is_bool()) pod.host_network = h->get_bool();
    // Container ports are informative only: one that cannot be used is left out, not the pod.
    if (auto* cs = member(s, "containers"); cs && cs->is_array())
      for (const auto& c : cs->get_array()) {
        if (!c.is_object()) continue;
        auto* ports = member(c.get_object(), "ports");
        if (!ports || !ports->is_array()) continue;
        for (const auto& p : ports->get_array()) {
          if (!p.is_object()) continue;
          const auto& po = p.get_object();
          auto name = string_at(po, "name", "name");
          auto* num = member(po, "containerPort");
          auto proto = protocol_at(po, "port");
          if (!name || name->empty() || !num || !proto) continue;
          auto n = port_number(*num, "containerPort");
          if (!n) continue;
          pod.ports.push_back({*name, *proto, *n});
        }
      }
  }
  auto status = object_at(o, "status", "status");
  if (!status) return in(status.error());
  if (*status) {
    const json::object& st = **status;
    if (auto* ph = member(st, "phase"); ph && ph->is_string())
      pod.terminal = ph->get_string() == "Succeeded" || ph->get_string() == "Failed";
    auto add_ip = [&](const json::value& ip) -> Status {
      if (!ip.is_string()) return bad("status.podIPs", "expected a string");
      auto a = parse_ip(std::string(ip.get_string()));
      if (!a) return bad("status.podIPs", "not an IP address \"" + std::string(ip.get_string()) + "\"");
      if (std::find(pod.ips.begin(), pod.ips.end(), *a) == pod.ips.end()) pod.ips.push_back(*a);
      return {};
    };
    if (auto* ips = member(st, "podIPs"); ips && ips->is_array()) {
      for (const auto& e : ips->get_array())
        if (e.is_object())
          if (auto* ip = member(e.get_object(), "ip"))
            if (auto s = add_ip(*ip); !s) return in(s.error());
    }
    if (pod.ips.empty())
      if (auto* ip = member(st, "podIP"))
        if (auto s = add_ip(*ip); !s) return in(s.error());
  }
  if (pod.namespace_.empty()) return fail_msg("Pod " + pod.key() + ": metadata.namespace: Required value");
  return pod;
}

Result<Namespace> decode_namespace(const json::value& v) {
  PODNET_TRY(id, meta_of(v, "Namespace"));
  Namespace ns;
  ns.name = id.second;
  auto meta = object_at(v.get_object(), "metadata", "metadata");
  auto labels = labels_at(**meta, "labels", "metadata.labels");
  if (!labels) return fail_msg("Namespace " + ns.name + ": " + labels.error().context);
  ns.labels = std::move(*labels);
  // kube-apiserver always sets it; an object written before it did still selects by name.
  ns.labels.emplace("kubernetes.io/metadata.name", ns.name);
  return ns;
}

}  // namespace podnet::policy
