// Node JSON in and out. Decoding is lenient about what other nodes lack (a node without a podCIDR
// or address simply gets no route) and strict about what is malformed.
#include "agent/node.h"

#include <boost/json.hpp>
#include <cstdio>
#include <ctime>

#include "agent/network.h"

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

namespace {

const json::value* at(const json::value& v, std::initializer_list<const char*> path) {
  const json::value* cur = &v;
  for (const char* p : path) {
    const auto* o = cur->if_object();
    cur = o ? o->if_contains(p) : nullptr;
    if (!cur) return nullptr;
  }
  return cur;
}

std::string string_at(const json::value& v, std::initializer_list<const char*> path) {
  const json::value* s = at(v, path);
  return s && s->is_string() ? std::string(s->get_string()) : std::string();
}

}  // namespace

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
        auto t = parse_time(hb);
        if (!t) return fail_msg(what + ": lastHeartbeatTime: " + t.error().message());
        n.heartbeat = *t;
      }
      if (auto t = parse_time(string_at(c, {"lastTransitionTime"})); t) n.ready_transition = *t;
    }
  return n;
}

bool node_ready(const NodeInfo& n, SystemTime now, std::chrono::milliseconds grace) {
  return n.ready_condition && n.heartbeat && now - *n.heartbeat <= grace;
}

std::string format_time(SystemTime t) {
  std::time_t secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  ::gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

Result<SystemTime> parse_time(std::string_view text) {
  std::tm tm{};
  int consumed = 0;
  std::string s(text);
  if (std::sscanf(s.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                  &tm.tm_min, &tm.tm_sec, &consumed) != 6)
    return fail_msg("time " + s + ": want RFC 3339");
  std::string_view rest = std::string_view(s).substr(consumed);
  if (!rest.empty() && rest[0] == '.') {  // fractional seconds: ignored
    size_t end = rest.find_first_not_of("0123456789", 1);
    rest = rest.substr(end == std::string_view::npos ? rest.size() : end);
  }
  long offset = 0;
  if (rest.size() == 6 && (rest[0] == '+' || rest[0] == '-')) {
    int h = 0, m = 0;
    if (std::sscanf(std::string(rest.substr(1)).c_str(), "%2d:%2d", &h, &m) != 2)
      return fail_msg("time " + s + ": bad offset");
    offset = (h * 3600L + m * 60L) * (rest[0] == '+' ? 1 : -1);
  } else if (rest != "Z") {
    return fail_msg("time " + s + ": want Z or an offset");
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return std::chrono::system_clock::from_time_t(::timegm(&tm) - offset);
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
                    {"lastHeartbeatTime", format_time(now)},
                    {"lastTransitionTime", format_time(transition)}};
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
