// Node JSON in and out. Decoding is lenient about what other nodes lack (a node without a podCIDR
// or address simply gets no route) and strict about what is malformed.
#include "agent/node.h"

#include <boost/json.hpp>

#include "agent/network.h"
#include "common/time.h"
#include "k8s/json_fields.h"

namespace podnet::agent {

namespace json = boost::json;

Result<Overlay> parse_overlay(std::string_view text) {
  if (text == "vxlan") return Overlay::kVxlan;
  if (text == "host-gw") return Overlay::kHostGw;
  return fail_msg("overlay " + std::string(text) + ": want vxlan or host-gw");
}

const char* overlay_name(Overlay o) {
  return o == Overlay::kVxlan ? "vxlan" : "host-gw";
}

using k8s::fields::at;
using k8s::fields::string_at;

Result<NodeInfo> decode_node(const json::value& node) {
  NodeInfo n;
  n.name = string_at(node, {"metadata", "name"});
  if (n.name.empty()) return fail_msg("node without metadata.name");
  const std::string what = "node " + n.name;
  std::vector<std::string> cidrs;
  if (const json::value* list = at(node, {"spec", "podCIDRs"}); list && list->is_array())
    for (const auto& c : list->get_array())
      if (c.is_string()) cidrs.emplace_back(c.get_string());
  if (cidrs.empty()) {
    std::string one = string_at(node, {"spec", "podCIDR"});
    if (!one.empty()) cidrs.push_back(one);
  }
  for (const auto& c : cidrs) {
    auto p = parse_prefix(c);
    if (!p) return fail_msg(what + ": spec.podCIDRs: " + p.error().message());
    n.pod_cidrs.push_back(p->network());
  }
  if (const json::value* addrs = at(node, {"status", "addresses"}); addrs && addrs->is_array())
    for (const auto& a : addrs->get_array()) {
      if (string_at(a, {"type"}) != "InternalIP" || n.internal_ip) continue;
      auto ip = parse_ip(string_at(a, {"address"}));
      if (!ip) return fail_msg(what + ": InternalIP: " + ip.error().message());
      n.internal_ip = *ip;
    }
  if (std::string mac = string_at(node, {"metadata", "annotations", kVtepMacAnnotation}); !mac.empty()) {
    auto m = netlink::parse_mac(mac);
    if (!m) return fail_msg(what + ": annotation " + kVtepMacAnnotation + ": " + m.error().message());
    n.vtep_mac = *m;
  }
  if (const json::value* conds = at(node, {"status", "conditions"}); conds && conds->is_array())
    for (const auto& c : conds->get_array()) {
      if (string_at(c, {"type"}) != "Ready") continue;
      n.ready_condition = string_at(c, {"status"}) == "True";
      if (std::string hb = string_at(c, {"lastHeartbeatTime"}); !hb.empty()) {
        auto t = parse_rfc3339(hb);
        if (!t) return fail_msg(what + ": lastHeartbeatTime: time " + hb + ": want RFC 3339");
        n.heartbeat = *t;
      }
      if (auto t = parse_rfc3339(string_at(c, {"lastTransitionTime"})); t) n.ready_transition = *t;
    }
  return n;
}

bool node_ready(const NodeInfo& n, SystemTime now, std::chrono::milliseconds grace) {
  return n.ready_condition && n.heartbeat && now - *n.heartbeat <= grace;
}

json::value node_object(const LocalNode& n) {
  json::value patch = metadata_patch(n);
  json::object& meta = patch.as_object()["metadata"].as_object();
  meta["name"] = n.name;
  return json::object{{"apiVersion", "v1"}, {"kind", "Node"}, {"metadata", std::move(meta)}};
}

json::value metadata_patch(const LocalNode& n) {
  json::object annotations{{kOverlayAnnotation, overlay_name(n.overlay)}};
  if (n.vtep_mac) annotations[kVtepMacAnnotation] = netlink::format_mac(*n.vtep_mac);
  json::object labels{{"kubernetes.io/hostname", n.hostname.empty() ? n.name : n.hostname},
                      {"kubernetes.io/os", "linux"}};
  return json::object{{"metadata", {{"labels", std::move(labels)}, {"annotations", std::move(annotations)}}}};
}

json::value status_patch(const LocalNode& n, SystemTime now, SystemTime transition, bool ready) {
  json::array addresses{
      json::object{{"type", "InternalIP"}, {"address", n.ip.to_string()}},
      json::object{{"type", "Hostname"}, {"address", n.hostname.empty() ? n.name : n.hostname}}};
  json::object cond{{"type", "Ready"},
                    {"status", ready ? "True" : "False"},
                    {"reason", ready ? "KubeletReady" : "KubeletNotReady"},
                    {"message", ready ? "podnet agent is posting ready status"
                                      : "network not ready: waiting for the pod CIDR, the CNI config and "
                                        "the first network sync"},
                    {"lastHeartbeatTime", rfc3339(now)},
                    {"lastTransitionTime", rfc3339(transition)}};
  json::object status{{"addresses", std::move(addresses)},
                      {"conditions", json::array{std::move(cond)}},
                      {"daemonEndpoints", {{"kubeletEndpoint", {{"Port", kKubeletPort}}}}}};
  if (const auto& i = n.system_info)
    status["nodeInfo"] = {{"machineID", i->machine_id},
                          {"systemUUID", i->system_uuid},
                          {"bootID", i->boot_id},
                          {"kernelVersion", i->kernel_version},
                          {"osImage", i->os_image},
                          {"containerRuntimeVersion", i->container_runtime_version},
                          {"kubeletVersion", i->kubelet_version},
                          {"kubeProxyVersion", i->kube_proxy_version},
                          {"operatingSystem", i->operating_system},
                          {"architecture", i->architecture}};
  return json::object{{"status", std::move(status)}};
}

std::string cni_conflist(const CniConfigSpec& spec) {
  json::object ipam{
      {"type", "podnet"},
      {"ranges", json::array{json::array{json::object{{"subnet", spec.pod_cidr.network().str()}}}}},
      {"dataDir", spec.ipam_dir}};
  json::object plugin{{"type", "podnet"},         {"bridge", kPodBridge},   {"isGateway", true},
                      {"isDefaultGateway", true}, {"ipMasq", false},        {"hairpinMode", true},
                      {"mtu", spec.mtu},          {"ipam", std::move(ipam)}};
  // Each node's own, not the default /var/lib/cni/podnet that every node namespace of a
  // `podnet up` cluster would share (and `podnet down` would leave behind).
  if (!spec.state_dir.empty()) plugin["stateDir"] = spec.state_dir;
  if (!spec.bpf_dir.empty()) {
    json::object fp{{"bpfDir", spec.bpf_dir}};
    if (spec.policy) fp["policy"] = true;
    plugin["fastPath"] = std::move(fp);
  }
  json::object list{{"cniVersion", "1.1.0"}, {"name", "podnet"}, {"plugins", json::array{std::move(plugin)}}};
  return json::serialize(list) + "\n";
}

}  // namespace podnet::agent
