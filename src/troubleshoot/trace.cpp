// Each node is asked only what the trace needs (a route, a fast-path lookup, the FDB, the proxy's
// element for one frontend, a policy's counters): a handful of small node-API requests, issued in
// parallel as soon as the endpoints are known, so a trace costs about one round trip per step.
#include "troubleshoot/trace.h"

#include <algorithm>
#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <tuple>

#include "client/https_client.h"
#include "client/kubeconfig.h"
#include "common/ip.h"
#include "k8s/json_fields.h"
#include "policy/explain.h"
#include "troubleshoot/check.h"

namespace podnet::troubleshoot {
namespace json = boost::json;
using k8s::fields::at;
using k8s::fields::string_at;

namespace {

struct Endpoint {
  std::string kind;  // pod, node, service, outside
  std::string ns, name, node, ip;
  json::value object;
};

std::string node_api(const std::string& node, const std::string& query) {
  return "/api/v1/nodes/" + node + "/proxy/podnet/v1/" + query;
}

std::string node_ip(const json::value& node) {
  if (const json::value* addrs = at(node, {"status", "addresses"}); addrs && addrs->is_array())
    for (const auto& a : addrs->get_array())
      if (string_at(a, {"type"}) == "InternalIP") return string_at(a, {"address"});
  return {};
}

int64_t int_or(const json::value* v, int64_t otherwise) {
  return v && (v->is_int64() || v->is_uint64()) ? v->to_number<int64_t>() : otherwise;
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// GETs issued ahead in parallel and remembered: the trace asks each thing once, and what it will
// need is asked for before the answers before it are in.
class Fetcher {
 public:
  explicit Fetcher(const ApiGet& get) : get_(get) {}
  ~Fetcher() {
    for (auto& [_, f] : pending_)
      if (f.valid()) f.wait();
  }
  void prefetch(const std::string& path) {
    std::lock_guard l(mu_);
    if (pending_.contains(path)) return;
    pending_[path] = std::async(std::launch::async, [this, path] { return timed(path); }).share();
  }
  Result<json::value> get(const std::string& path) {
    std::shared_future<Result<json::value>> f;
    {
      std::lock_guard l(mu_);
      auto it = pending_.find(path);
      if (it == pending_.end()) {
        std::promise<Result<json::value>> p;
        p.set_value(timed(path));
        it = pending_.emplace(path, p.get_future().share()).first;
      }
      f = it->second;
    }
    return f.get();
  }
  ApiGet as_get() {
    return [this](const std::string& p) { return get(p); };
  }

 private:
  Result<json::value> timed(const std::string& path) {
    auto t0 = std::chrono::steady_clock::now();
    auto r = get_(path);
    if (std::getenv("PODNET_TRACE_DEBUG"))
      std::fprintf(stderr, "%8.1f ms +%6.1f %s\n",
                   std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count(),
                   std::chrono::duration<double, std::milli>(t0 - born_).count(), path.c_str());
    return r;
  }
  std::chrono::steady_clock::time_point born_ = std::chrono::steady_clock::now();
  const ApiGet& get_;
  std::mutex mu_;
  std::map<std::string, std::shared_future<Result<json::value>>> pending_;
};

Result<Endpoint> pod_endpoint(Fetcher& f, const std::string& ns, const std::string& name) {
  PODNET_TRY(pod, f.get("/api/v1/namespaces/" + ns + "/pods/" + name));
  Endpoint e{"pod", ns, name, string_at(pod, {"spec", "nodeName"}), string_at(pod, {"status", "podIP"}), pod};
  if (e.ip.empty() || e.node.empty()) return fail_msg("pod " + ns + "/" + name + " has no IP or node yet");
  return e;
}

// "a/b/c" -> parts
std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    size_t slash = s.find('/', start);
    out.push_back(s.substr(start, slash - start));
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  return out;
}

Endpoint service_endpoint(const json::value& svc, const std::string& ip) {
  return Endpoint{
      "service", string_at(svc, {"metadata", "namespace"}), string_at(svc, {"metadata", "name"}), "", ip,
      svc};
}

bool array_has(const json::value* a, const std::string& s, const char* field = nullptr) {
  if (!a || !a->is_array()) return false;
  for (const auto& v : a->get_array())
    if (field ? string_at(v, {field}) == s : (v.is_string() && v.get_string() == s)) return true;
  return false;
}

Result<Endpoint> resolve(Fetcher& f, const std::string& spec, bool destination) {
  auto p = split(spec);
  if (!destination && (spec == "outside" || (p.size() == 2 && p[0] == "outside"))) {
    // A client outside the cluster; its address matters to ipBlock rules and Local services.
    std::string ip = p.size() == 2 ? p[1] : "192.0.2.1";
    if (!parse_ip(ip)) return fail_msg("\"" + spec + "\": want outside or outside/IP");
    return Endpoint{"outside", "", p.size() == 2 ? "outside " + ip : "outside", "", ip, nullptr};
  }
  if (p.size() == 3 && p[0] == "pod") return pod_endpoint(f, p[1], p[2]);
  if (p.size() == 2 && p[0] == "node") {
    PODNET_TRY(node, f.get("/api/v1/nodes/" + p[1]));
    return Endpoint{"node", "", p[1], p[1], node_ip(node), node};
  }
  if (p.size() == 3 && (p[0] == "svc" || p[0] == "service") && destination) {
    PODNET_TRY(svc, f.get("/api/v1/namespaces/" + p[1] + "/services/" + p[2]));
    return service_endpoint(svc, string_at(svc, {"spec", "clusterIP"}));
  }
  if (p.size() == 2) return pod_endpoint(f, p[0], p[1]);
  if (p.size() == 1 && destination && (spec == "localhost" || spec == "127.0.0.1"))
    return Endpoint{"loopback", "", "localhost", "", "127.0.0.1", nullptr};
  if (p.size() == 1 && destination && parse_ip(spec)) {
    // A pod IP, a ClusterIP, a node's address (NodePort), an LB IP or an external IP: found by
    // listing (fieldSelector status.podIP is not served everywhere).
    f.prefetch("/api/v1/services");
    f.prefetch("/api/v1/nodes");
    PODNET_TRY(pods, f.get("/api/v1/pods"));
    if (const json::value* items = at(pods, {"items"}); items && items->is_array())
      for (const auto& pod : items->get_array())
        if (string_at(pod, {"status", "podIP"}) == spec && !string_at(pod, {"spec", "nodeName"}).empty() &&
            !at(pod, {"spec", "hostNetwork"}))
          return pod_endpoint(f, string_at(pod, {"metadata", "namespace"}),
                              string_at(pod, {"metadata", "name"}));
    PODNET_TRY(svcs, f.get("/api/v1/services"));
    if (const json::value* items = at(svcs, {"items"}); items && items->is_array())
      for (const auto& svc : items->get_array()) {
        if (string_at(svc, {"spec", "clusterIP"}) == spec) return service_endpoint(svc, spec);
        Endpoint e = service_endpoint(svc, spec);
        if (array_has(at(svc, {"status", "loadBalancer", "ingress"}), spec, "ip") &&
            string_at(svc, {"spec", "type"}) == "LoadBalancer") {
          e.kind = "loadbalancer";
          return e;
        }
        if (array_has(at(svc, {"spec", "externalIPs"}), spec)) {
          e.kind = "externalip";
          return e;
        }
      }
    PODNET_TRY(nodes, f.get("/api/v1/nodes"));
    if (const json::value* items = at(nodes, {"items"}); items && items->is_array())
      for (const auto& n : items->get_array())
        if (node_ip(n) == spec) {
          std::string name = string_at(n, {"metadata", "name"});
          return Endpoint{"nodeport", "", name, name, spec, n};
        }
    return fail_msg(spec + " is no pod's IP, ClusterIP, LoadBalancer IP, external IP or node address");
  }
  return fail_msg("\"" + spec + "\": want " +
                  (destination ? std::string("NS/POD, pod/NS/POD, node/NAME, svc/NS/NAME, localhost or an IP")
                               : std::string("NS/POD, pod/NS/POD, node/NAME, outside or outside/IP")));
}

json::object describe(const Endpoint& e) {
  json::object o{{"kind", e.kind}, {"name", e.ns.empty() ? e.name : e.ns + "/" + e.name}, {"ip", e.ip}};
  if (!e.node.empty()) o["node"] = e.node;
  return o;
}

// What the service proxy does with one frontend: the Service's port, the kind of address, where
// the rule runs, which endpoints it may pick and whether it masquerades (kube-proxy's semantics, as
// proxy/planner.cpp programs them).
struct Frontend {
  std::string kind;  // clusterIP, nodePort, loadBalancer, externalIP
  std::string ip;
  int port = 0;
  json::value service_port;
  bool local_only = false;  // externalTrafficPolicy (or internalTrafficPolicy for a ClusterIP) Local
  bool masquerade = false;  // external traffic with policy Cluster
};

class Tracer {
 public:
  Tracer(Fetcher& f) : f_(f) {}

  json::array hops;
  std::string lost_at, reason;

  void hop(const std::string& name, const std::string& node, const std::string& detail,
           json::value evidence) {
    hops.push_back(
        json::object{{"hop", name}, {"node", node}, {"detail", detail}, {"evidence", std::move(evidence)}});
  }
  bool lose(const std::string& at_hop, const std::string& why) {
    if (lost_at.empty()) {
      lost_at = at_hop;
      reason = why;
    }
    return false;
  }
  Result<json::value> ask(const std::string& node, const std::string& query) {
    return f_.get(node_api(node, query));
  }
  void want(const std::string& node, const std::string& query) { f_.prefetch(node_api(node, query)); }

  // Asked ahead for forward(): the source node's fast path, route and FDB, the destination's entry.
  void want_forward(const std::string& node, const std::string& src_ip, bool from_pod, const Endpoint& dst) {
    if (from_pod) {
      want(node, "fastpath?dst=" + dst.ip);
      want(node, "fastpath?dst=" + src_ip);
    }
    want(node, "routes?dst=" + dst.ip);
    if (dst.node != node) want(node, "fdb");
    want(dst.node, "fastpath?dst=" + dst.ip);
    f_.prefetch("/api/v1/nodes/" + dst.node);
  }

  // From `node`'s stack (a pod's packet after its veth, or the node's own) to `dst`, a pod.
  // `masquerade`: the masquerade hop's detail; `before_route`: what the source node's stack judges
  // before routing (NetworkPolicy egress); `before_delivery`: what the destination node judges
  // before the packet enters the pod (NetworkPolicy ingress). Returns false when lost.
  bool forward(const std::string& node, const std::string& src_ip, bool from_pod, const Endpoint& dst,
               const std::string& node_ip_of_dst, const std::string& masquerade,
               const std::function<bool()>& before_route, const std::function<bool()>& before_delivery) {
    // The fast path's decision (pn_from_pod on the source pod's veth).
    if (from_pod) {
      auto fp = ask(node, "fastpath?dst=" + dst.ip);
      if (!fp) return lose("fast path", "node API on " + node + ": " + fp.error().message());
      auto src_entry = ask(node, "fastpath?dst=" + src_ip);
      std::string detail;
      bool enabled = at(*fp, {"enabled"}) && at(*fp, {"enabled"})->as_bool();
      const json::value* spod = src_entry ? at(*src_entry, {"pod"}) : nullptr;
      bool isolated = spod && spod->is_object() && spod->as_object().at("isolated").as_bool();
      const json::value* dpod = at(*fp, {"pod"});
      const json::value* tun = at(*fp, {"tunnel"});
      if (!enabled)
        detail = "fast path off: the kernel stack forwards";
      else if (isolated)
        detail =
            "source pod selected by a NetworkPolicy: the fast path steps aside, the stack and "
            "podnet-policy decide";
      else if (dpod && dpod->is_object())
        detail = "pn_pods hit: redirect into the local pod's veth (counter to_local_pod)";
      else if (tun && tun->is_object())
        detail = "pn_tunnels hit: encapsulate to " + std::string(tun->at("node_ip").as_string()) +
                 " (counters to_remote_node, encap)";
      else
        detail = "no fast-path entry: the kernel stack forwards (counter stack)";
      hop("fast path", node, detail, *fp);
    }
    if (before_route && !before_route()) return false;
    // The route the stack would take.
    auto routes = ask(node, "routes?dst=" + dst.ip);
    if (!routes) return lose("route", "node API on " + node + ": " + routes.error().message());
    const json::value* match = at(*routes, {"match"});
    json::value ev = match ? *match : json::value(nullptr);
    if (!match || !match->is_object()) {
      hop("route", node, "no route to " + dst.ip, ev);
      return lose("route", node + " has no route to " + dst.ip);
    }
    std::string dev = string_at(*match, {"dev"});
    std::string gw = string_at(*match, {"gateway"});
    bool same_node = dst.node == node;
    hop("route", node,
        "main table: " + string_at(*match, {"dst"}) + " dev " + dev + (gw.empty() ? "" : " via " + gw), ev);
    if (!same_node) {
      if (dev == "pnvx0") {
        auto fdb = ask(node, "fdb");
        if (!fdb) return lose("vxlan", "node API on " + node + ": " + fdb.error().message());
        json::value entry = nullptr;
        if (const json::value* es = at(*fdb, {"entries"}); es && es->is_array())
          for (const auto& e : es->get_array())
            if (string_at(e, {"dst"}) == node_ip_of_dst && string_at(e, {"mac"}) != "00:00:00:00:00:00")
              entry = e;
        hop("vxlan tunnel", node, "encapsulated to " + dst.node + " (" + node_ip_of_dst + ")", entry);
        if (entry.is_null())
          return lose("vxlan tunnel", node + " has no VXLAN FDB entry for " + node_ip_of_dst);
      } else if (gw != node_ip_of_dst) {
        return lose("route", node + " routes " + dst.ip + " via " + (gw.empty() ? dev : gw) + ", not to " +
                                 dst.node + " (" + node_ip_of_dst + ")");
      } else {
        hop("underlay", node,
            "routed to " + dst.node + " (" + node_ip_of_dst + ") over the underlay, no tunnel", nullptr);
      }
    } else if (dev == "pnvx0" || dev == "eth0") {
      return lose("route",
                  dst.ip + " is a pod of " + node + " but the route leaves the node (dev " + dev + ")");
    }
    hop("masquerade", node, masquerade, nullptr);
    if (before_delivery && !before_delivery()) return false;
    // Delivery on the destination node: its pn_pods entry is the veth and the pod's MAC.
    auto dfp = ask(dst.node, "fastpath?dst=" + dst.ip);
    if (!dfp) return lose("pod veth", "node API on " + dst.node + ": " + dfp.error().message());
    const json::value* dpod = at(*dfp, {"pod"});
    bool enabled = at(*dfp, {"enabled"}) && at(*dfp, {"enabled"})->as_bool();
    if (enabled && !(dpod && dpod->is_object())) {
      hop("pod veth", dst.node, "no pn_pods entry for " + dst.ip, *dfp);
      return lose("pod veth",
                  dst.node + " does not know pod " + dst.ns + "/" + dst.name + " (" + dst.ip + ")");
    }
    std::string detail = "delivered into " + dst.ns + "/" + dst.name;
    if (dpod && dpod->is_object()) {
      detail += " (host veth ifindex " + std::to_string(dpod->at("ifindex").to_number<int64_t>()) + ", MAC " +
                std::string(dpod->at("mac").as_string()) + ")";
      if (dpod->at("isolated").as_bool())
        detail += "; selected by a NetworkPolicy: ingress decided by table inet podnet-policy";
    }
    hop("pod veth", dst.node, detail, dpod ? *dpod : json::value(nullptr));
    return true;
  }

 private:
  Fetcher& f_;
};

// ---- NetworkPolicy ----

std::optional<policy::Protocol> policy_proto(const std::string& p) {
  if (p == "tcp") return policy::Protocol::kTcp;
  if (p == "udp") return policy::Protocol::kUdp;
  return std::nullopt;
}

// One end as the policy engine sees it: the pod (decoded as the agent decodes it) and its
// namespace's labels; `ip` is the address the other end's node sees.
Result<policy::PolicyEnd> policy_end(Fetcher& f, const Endpoint& e, const std::string& ip) {
  policy::PolicyEnd end;
  auto addr = parse_ip(ip);
  if (!addr) return fail_msg("address " + ip + ": " + addr.error().message());
  end.ip = *addr;
  if (e.kind != "pod") return end;
  PODNET_TRY(pod, policy::decode_pod(e.object));
  end.pod = pod;
  if (auto ns = f.get("/api/v1/namespaces/" + e.ns))
    if (auto decoded = policy::decode_namespace(*ns)) end.namespace_labels = decoded->labels;
  if (!end.namespace_labels.contains("kubernetes.io/metadata.name"))
    end.namespace_labels["kubernetes.io/metadata.name"] = e.ns;
  return end;
}

std::string policies_path(const std::string& ns) {
  return "/apis/networking.k8s.io/v1/namespaces/" + ns + "/networkpolicies";
}

// The verdict for one direction as a hop: which policies select the pod, which rules allow the
// tuple, and each allowing rule's counter on the judging node (np's node API `policy` query).
bool policy_hop(Tracer& t, Fetcher& f, bool ingress, const Endpoint& subject, const Endpoint& peer,
                const std::string& subject_ip, const std::string& peer_ip, const std::string& proto, int port,
                const std::string& judged_note) {
  const std::string name = ingress ? "policy ingress" : "policy egress";
  if (subject.kind != "pod") return true;
  auto pp = policy_proto(proto);
  auto list = f.get(policies_path(subject.ns));
  if (!list) {
    // A cluster without the NetworkPolicy API (404) has no policies to judge by.
    t.hop(name, subject.node, "not judged: NetworkPolicies unreadable (" + list.error().message() + ")",
          nullptr);
    return true;
  }
  std::vector<policy::NetworkPolicy> policies;
  json::array skipped;
  if (const json::value* items = at(*list, {"items"}); items && items->is_array())
    for (const auto& item : items->get_array()) {
      auto np = policy::decode_network_policy(item);
      if (np)
        policies.push_back(std::move(*np));
      else
        skipped.push_back(json::value(np.error().message()));
    }
  auto s = policy_end(f, subject, subject_ip);
  auto p = policy_end(f, peer, peer_ip);
  if (!s || !p || !pp) {
    t.hop(name, subject.node,
          "not judged: " + (!s   ? s.error().message()
                            : !p ? p.error().message()
                                 : "protocol"),
          nullptr);
    return true;
  }
  policy::DirectionVerdict v = policy::explain(policies, ingress, *s, *p, *pp, port);
  json::array selecting, allowed_by;
  for (const auto& k : v.selecting) selecting.push_back(json::value(k));
  // The judging node's per-rule counters for each policy named (one query per policy, in parallel).
  for (const auto& k : v.selecting) {
    auto parts = split(k);
    t.want(subject.node, "policy?namespace=" + parts[0] + "&name=" + parts[1]);
  }
  for (const auto& r : v.allowed_by) {
    auto parts = split(r.policy);
    json::object o{{"policy", r.policy}, {"direction", r.direction}, {"rule", r.rule}, {"packets", nullptr}};
    auto c = t.ask(subject.node, "policy?namespace=" + parts[0] + "&name=" + parts[1]);
    if (!c) {
      o["counter"] = "not available: " + c.error().message();
    } else if (const json::value* cs = at(*c, {"counters"}); cs && cs->is_array()) {
      o["counter"] = "absent on " + subject.node;
      for (const auto& e : cs->get_array())
        if (string_at(e, {"direction"}) == r.direction && int_or(at(e, {"rule"}), -1) == r.rule) {
          o["packets"] = e.at("packets");
          o["counter"] = subject.node;
        }
    }
    allowed_by.push_back(std::move(o));
  }
  json::object ev{{"direction", v.direction},
                  {"pod", subject.ns + "/" + subject.name},
                  {"peer", peer_ip},
                  {"port", std::to_string(port) + "/" + proto},
                  {"isolated", v.isolated},
                  {"allowed", v.allowed},
                  {"selecting", std::move(selecting)},
                  {"allowed_by", allowed_by}};
  if (!skipped.empty()) ev["undecodable"] = std::move(skipped);
  std::string who = subject.ns + "/" + subject.name;
  std::string what = proto + "/" + std::to_string(port) + (ingress ? " from " : " to ") + peer_ip;
  if (!v.isolated) {
    t.hop(name, subject.node,
          "allowed: no NetworkPolicy selects " + who + " for " + v.direction + judged_note, std::move(ev));
    return true;
  }
  std::string policies_text;
  for (const auto& k : v.selecting) policies_text += (policies_text.empty() ? "" : ", ") + k;
  if (!v.allowed) {
    t.hop(name, subject.node, "DENIED: " + what + " is allowed by no rule of " + policies_text,
          std::move(ev));
    return t.lose(name, who + " is selected for " + v.direction + " by " + policies_text +
                            " and no rule allows " + what);
  }
  std::string rules;
  for (const auto& a : allowed_by) {
    std::string r = std::string(a.at("policy").as_string()) + " " + v.direction + "[" +
                    std::to_string(a.at("rule").to_number<int64_t>()) + "]";
    if (a.at("packets").is_number())
      r += " (" + std::to_string(a.at("packets").to_number<int64_t>()) + " packets)";
    rules += (rules.empty() ? "" : ", ") + r;
  }
  t.hop(name, subject.node, "allowed by " + rules + "; selected by " + policies_text, std::move(ev));
  return true;
}

// ---- the service proxy ----

// The Service port a request names: by port number (0: the first of the protocol), or for a
// NodePort frontend by its nodePort.
json::value find_service_port(const json::value& svc, const std::string& proto, int port, bool by_node_port) {
  if (const json::value* ports = at(svc, {"spec", "ports"}); ports && ports->is_array())
    for (const auto& p : ports->get_array()) {
      std::string pp = lower(string_at(p, {"protocol"}));
      if ((pp.empty() ? "tcp" : pp) != proto) continue;
      int64_t n = int_or(at(p, {by_node_port ? "nodePort" : "port"}), 0);
      if (port == 0 || n == port) return p;
    }
  return nullptr;
}

}  // namespace

Result<json::value> compute_trace(const ApiGet& get, const TraceRequest& req) {
  auto start = std::chrono::steady_clock::now();
  if (req.proto != "tcp" && req.proto != "udp") return fail_msg("--proto: want tcp or udp");
  Fetcher f(get);
  auto dst_async = std::async(std::launch::async, [&] { return resolve(f, req.dst, true); });
  auto src_r = resolve(f, req.src, false);
  auto dst_r = dst_async.get();
  PODNET_TRY(src, std::move(src_r));
  PODNET_TRY(dst, std::move(dst_r));
  Tracer t(f);
  // What every trace from here needs, asked for at once.
  for (const Endpoint* e : {&src, &dst})
    if (e->kind == "pod" || e->kind == "service") {
      f.prefetch(policies_path(e->ns));
      f.prefetch("/api/v1/namespaces/" + e->ns);
    }
  json::object out{{"src", describe(src)}, {"dst", describe(dst)}, {"proto", req.proto}};
  auto finish = [&](json::object o) {
    o["problem"] = src.kind == "outside"    ? "internet-to-service"
                   : dst.kind == "loopback" ? "container-to-container"
                   : src.kind == "node"     ? (dst.kind == "pod" ? "node-to-pod" : "node-to-service")
                   : dst.kind == "pod"      ? "pod-to-pod"
                                            : "pod-to-service";
    o["hops"] = std::move(t.hops);
    o["result"] = t.lost_at.empty() ? "delivered" : "lost";
    o["lost_at"] = t.lost_at.empty() ? json::value(nullptr) : json::value(t.lost_at);
    if (!t.reason.empty()) o["reason"] = t.reason;
    o["ms"] = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    return json::value(std::move(o));
  };

  // Container to container: one network namespace, over lo; nothing of the node is involved.
  if (dst.kind == "loopback" ||
      (src.kind == "pod" && dst.kind == "pod" && src.ns == dst.ns && src.name == dst.name)) {
    if (src.kind != "pod") return fail_msg("localhost is a destination only from a pod");
    dst.kind = "loopback";
    t.hop("pod lo", src.node,
          "inside " + src.ns + "/" + src.name +
              "'s network namespace: its containers share it and reach each "
              "other over lo (" +
              dst.ip + "); the packet never leaves the pod (no veth, route, rule or policy)",
          json::object{{"netns_of", src.ns + "/" + src.name}, {"ip", dst.ip}});
    return finish(std::move(out));
  }
  if (src.kind == "outside" && dst.kind == "pod")
    return fail_msg(
        "a pod's IP is not reachable from outside the cluster: trace a Service (its LoadBalancer IP, "
        "an external IP or a node's address with --port NODEPORT)");
  if (src.kind == "pod") {
    t.hop("pod eth0", src.node,
          "leaves " + src.ns + "/" + src.name + " (" + src.ip + ") over its veth to " + src.node, nullptr);
    f.prefetch(node_api(src.node, "fastpath?dst=" + src.ip));
  }

  int port = req.port;
  Endpoint target = dst;
  bool masquerade = false;              // the proxy SNATs toward the endpoint (external, policy Cluster)
  std::string entry = src.node;         // where the packet meets the service proxy (and leaves for the pod)
  std::string client_ip = src.ip;       // the source address the destination pod's node sees
  std::optional<Endpoint> egress_peer;  // set when the source node's filter sees another address
  int egress_port = 0;
  if (dst.kind != "pod") {
    Frontend fe;
    json::value svc = dst.object;
    if (dst.kind == "nodeport") {
      // A node's address and a nodePort: the Service is the one whose port has that nodePort.
      if (port == 0) return fail_msg("--port: a node address needs the nodePort");
      PODNET_TRY(svcs, f.get("/api/v1/services"));
      svc = nullptr;
      if (const json::value* items = at(svcs, {"items"}); items && items->is_array())
        for (const auto& s : items->get_array())
          if (!find_service_port(s, req.proto, port, true).is_null()) svc = s;
      if (svc.is_null())
        return fail_msg("no Service has " + req.proto + " nodePort " + std::to_string(port) + " (" + dst.ip +
                        " is node " + dst.name + "'s address)");
      fe = Frontend{"nodePort", dst.ip, port, find_service_port(svc, req.proto, port, true)};
      entry = dst.node;
      Endpoint s = service_endpoint(svc, string_at(svc, {"spec", "clusterIP"}));
      out["service"] = s.ns + "/" + s.name;
      dst.ns = s.ns;
      dst.name = s.name;
    } else if (dst.kind == "service" && src.kind == "outside") {
      // From outside a Service is reached by its LoadBalancer IP, an external IP or a NodePort.
      const json::value* lb = at(svc, {"status", "loadBalancer", "ingress"});
      const json::value* ext = at(svc, {"spec", "externalIPs"});
      if (lb && lb->is_array() && !lb->get_array().empty() &&
          string_at(svc, {"spec", "type"}) == "LoadBalancer") {
        dst.kind = "loadbalancer";
        dst.ip = string_at(lb->get_array()[0], {"ip"});
      } else if (ext && ext->is_array() && !ext->get_array().empty() && ext->get_array()[0].is_string()) {
        dst.kind = "externalip";
        dst.ip = std::string(ext->get_array()[0].get_string());
      } else {
        json::value sp = find_service_port(svc, req.proto, port, false);
        if (sp.is_null() || int_or(at(sp, {"nodePort"}), 0) == 0)
          return fail_msg(
              "Service " + dst.ns + "/" + dst.name +
              " has no LoadBalancer IP, external IP or nodePort: it is not reachable from outside");
        PODNET_TRY(nodes, f.get("/api/v1/nodes"));
        const json::value* items = at(nodes, {"items"});
        if (!items || !items->is_array() || items->get_array().empty()) return fail_msg("no nodes");
        const json::value& n = items->get_array()[0];
        dst.kind = "nodeport";
        dst.node = string_at(n, {"metadata", "name"});
        dst.ip = node_ip(n);
        port = static_cast<int>(int_or(at(sp, {"nodePort"}), 0));
        fe = Frontend{"nodePort", dst.ip, port, sp};
        entry = dst.node;
      }
      out["dst"] = describe(dst);
    }
    if (dst.kind == "service") {
      fe = Frontend{"clusterIP", dst.ip, port, find_service_port(svc, req.proto, port, false)};
      fe.local_only = string_at(svc, {"spec", "internalTrafficPolicy"}) == "Local";
    } else if (dst.kind == "loadbalancer" || dst.kind == "externalip") {
      fe = Frontend{dst.kind == "loadbalancer" ? "loadBalancer" : "externalIP", dst.ip, port,
                    find_service_port(svc, req.proto, port, false)};
      if (src.kind == "outside") {
        // The node that holds the address (an LB IP is on its announcer's underlay) receives it.
        PODNET_TRY(nodes, f.get("/api/v1/nodes"));
        std::vector<std::string> names;
        if (const json::value* items = at(nodes, {"items"}); items && items->is_array())
          for (const auto& n : items->get_array()) names.push_back(string_at(n, {"metadata", "name"}));
        for (const auto& n : names) t.want(n, "routes?dst=" + dst.ip);
        entry.clear();
        for (const auto& n : names)
          if (auto r = t.ask(n, "routes?dst=" + dst.ip);
              r && at(*r, {"local"}) && at(*r, {"local"})->is_object()) {
            entry = n;
            break;
          }
        if (entry.empty()) {
          if (dst.kind == "loadbalancer") {
            t.hop("underlay", "", "no node holds LoadBalancer IP " + dst.ip + " (none announces it)",
                  nullptr);
            t.lose("underlay", "LoadBalancer IP " + dst.ip + " is announced by no node");
            return finish(std::move(out));
          }
          entry = names.empty() ? std::string() : names.front();  // the network decides; trace one
        }
      }
    }
    if (fe.service_port.is_null())
      return fail_msg("Service " + dst.ns + "/" + dst.name + " has no " + req.proto + " port " +
                      std::to_string(port));
    if (fe.kind != "clusterIP") {
      fe.local_only = string_at(svc, {"spec", "externalTrafficPolicy"}) == "Local";
      fe.masquerade = !fe.local_only;
    }
    if (fe.port == 0) fe.port = static_cast<int>(int_or(at(fe.service_port, {"port"}), 0));
    const std::string svc_ns = string_at(svc, {"metadata", "namespace"});
    const std::string svc_name = string_at(svc, {"metadata", "name"});
    const std::string slices_path = "/apis/discovery.k8s.io/v1/namespaces/" + svc_ns +
                                    "/endpointslices?labelSelector=kubernetes.io%2Fservice-name%3D" +
                                    svc_name;
    f.prefetch(slices_path);
    const std::string frontend_query = "service?dst=" + fe.ip + "&proto=" + req.proto +
                                       "&port=" + std::to_string(fe.port) + "&service=" + svc_ns + "%2F" +
                                       svc_name;
    if (!entry.empty()) t.want(entry, frontend_query);
    f.prefetch(policies_path(svc_ns));
    f.prefetch("/api/v1/namespaces/" + svc_ns);

    // How the packet reaches the node whose proxy takes it.
    if (src.kind == "outside") {
      std::string how =
          fe.kind == "loadBalancer"
              ? "LoadBalancer IP " + dst.ip + ", which " + entry + " announces on its underlay (ARP)"
          : fe.kind == "nodePort" ? entry + "'s own address " + dst.ip
                                  : "external IP " + dst.ip + " (routed to a node by the network)";
      auto r = t.ask(entry, "routes?dst=" + dst.ip);
      json::value local = r && at(*r, {"local"}) ? *at(*r, {"local"}) : json::value(nullptr);
      t.hop("underlay", entry,
            "arrives from outside (" + src.ip + ") on " + entry + "'s underlay interface" +
                (local.is_object() ? " " + string_at(local, {"dev"}) : std::string()) + ": " + how,
            local);
    } else if (entry != src.node) {
      // A pod or node reaching another node's NodePort: routed over the underlay to that node.
      if (src.kind == "pod") {
        egress_peer = Endpoint{"node", "", entry, entry, dst.ip, nullptr};
        egress_port = fe.port;
        if (!policy_hop(t, f, false, src, *egress_peer, src.ip, dst.ip, req.proto, fe.port, ""))
          return finish(std::move(out));
      }
      auto r = t.ask(src.node, "routes?dst=" + dst.ip);
      const json::value* m = r ? at(*r, {"match"}) : nullptr;
      t.hop("route", src.node,
            "to " + entry + "'s address " + dst.ip +
                (m && m->is_object() ? " dev " + string_at(*m, {"dev"}) : "") +
                (src.kind == "pod"
                     ? "; masqueraded to " + src.node + "'s address (outside the cluster's pod range)"
                     : ""),
            m ? *m : json::value(nullptr));
      if (src.kind == "pod") {
        PODNET_TRY(snode, f.get("/api/v1/nodes/" + src.node));
        client_ip = node_ip(snode);
      }
    }

    // The service proxy on the entry node: frontend -> endpoints, as the Service and its slices say
    // and as the node's kernel has it (service-ips element, endpoints map elements).
    port = fe.port;
    std::string port_name = string_at(fe.service_port, {"name"});
    PODNET_TRY(slices, f.get(slices_path));
    json::array endpoints;
    std::vector<std::tuple<std::string, std::string, std::string>> candidates;  // ip, pod, node
    int target_port = 0;
    if (const json::value* items = at(slices, {"items"}); items && items->is_array())
      for (const auto& s : items->get_array()) {
        if (const json::value* sp = at(s, {"ports"}); sp && sp->is_array())
          for (const auto& p : sp->get_array())
            if (string_at(p, {"name"}) == port_name && at(p, {"port"}))
              target_port = static_cast<int>(int_or(at(p, {"port"}), 0));
        if (const json::value* es = at(s, {"endpoints"}); es && es->is_array())
          for (const auto& e : es->get_array()) {
            const json::value* r = at(e, {"conditions", "ready"});
            bool is_ready = !r || (r->is_bool() && r->as_bool());
            const json::value* addrs = at(e, {"addresses"});
            if (!addrs || !addrs->is_array() || addrs->get_array().empty() ||
                !addrs->get_array()[0].is_string())
              continue;
            std::string ip(addrs->get_array()[0].as_string());
            std::string pod = string_at(e, {"targetRef", "name"});
            std::string node = string_at(e, {"nodeName"});
            endpoints.push_back(json::object{{"ip", ip}, {"pod", pod}, {"node", node}, {"ready", is_ready}});
            if (is_ready && (!fe.local_only || node == entry)) candidates.emplace_back(ip, pod, node);
          }
      }
    json::object ev{
        {"service", svc_ns + "/" + svc_name},
        {"frontend", fe.ip + ":" + std::to_string(fe.port) + "/" + req.proto},
        {"kind", fe.kind},
        {"target_port", target_port},
        {"endpoints", endpoints},
        {"traffic_policy", fe.local_only ? "Local" : "Cluster"},
        {"masquerade", fe.masquerade},
        {"rule", "service-ips: " + fe.ip + " . " + req.proto + " . " + std::to_string(fe.port) +
                     " -> a random " + std::string(fe.local_only ? "local " : "") +
                     "ready endpoint (numgen random mod " + std::to_string(candidates.size()) + ")"}};
    if (!candidates.empty()) {
      // Asked ahead for the endpoint the trace will most likely follow, while the node answers.
      const auto& [ip, pod, node] = candidates.front();
      f.prefetch("/api/v1/namespaces/" + svc_ns + "/pods/" + pod);
      t.want_forward(entry, src.ip, src.kind == "pod" && entry == src.node,
                     Endpoint{"pod", svc_ns, pod, node, ip, nullptr});
    }
    auto kernel = t.ask(entry, frontend_query);
    std::string kernel_note;
    std::string kernel_pick;
    if (kernel) {
      ev["kernel"] = *kernel;
      const json::value* chain = at(*kernel, {"chain"});
      bool no_endpoints = at(*kernel, {"no_endpoints"}) && at(*kernel, {"no_endpoints"})->as_bool();
      if (chain && chain->is_string()) {
        kernel_note = "; " + entry + "'s kernel: goto " + std::string(chain->get_string());
        if (const json::value* ke = at(*kernel, {"endpoints"}); ke && ke->is_array()) {
          kernel_note += " (" + std::to_string(ke->get_array().size()) + " endpoints in the map)";
          for (const auto& k : ke->get_array())
            for (const auto& c : candidates)
              if (kernel_pick.empty() && std::get<0>(c) == string_at(k, {"ip"})) kernel_pick = std::get<0>(c);
        }
        bool kernel_masq = at(*kernel, {"masquerade"}) && at(*kernel, {"masquerade"})->as_bool();
        if (kernel_masq != fe.masquerade)
          kernel_note += std::string("; the kernel's chain ") +
                         (kernel_masq ? "masquerades" : "does not masquerade") +
                         ", unlike the Service's traffic policy (the proxy has not caught up)";
      } else if (no_endpoints) {
        kernel_note = "; " + entry + "'s kernel: in no-endpoints (rejected)";
      } else if (!candidates.empty()) {
        t.hop("service proxy", entry,
              "no rule for " + fe.ip + ":" + std::to_string(fe.port) + " in " + entry + "'s kernel", ev);
        t.lose("service proxy", entry + "'s service proxy has no rule for " + fe.ip + ":" +
                                    std::to_string(fe.port) + "/" + req.proto +
                                    " (table ip podnet-proxy missing or not synced)");
        return finish(std::move(out));
      }
    } else {
      ev["kernel"] = nullptr;
      kernel_note = "; the node's rule not read: " + kernel.error().message();
    }
    if (candidates.empty()) {
      std::string why =
          fe.local_only && !endpoints.empty()
              ? "no ready endpoint on " + entry + " (traffic policy Local: only local endpoints)"
              : "no ready endpoints";
      t.hop("service proxy", entry, why + ": the frontend is in no-endpoints and is rejected" + kernel_note,
            ev);
      t.lose("service proxy", "Service " + svc_ns + "/" + svc_name + " has " + why);
      return finish(std::move(out));
    }
    auto chosen = candidates.front();
    for (const auto& c : candidates)
      if (std::get<0>(c) == kernel_pick) chosen = c;
    t.hop("service proxy", entry,
          "DNAT " + fe.ip + ":" + std::to_string(fe.port) + " (" + fe.kind + ") to one of " +
              std::to_string(candidates.size()) + (fe.local_only ? " local" : "") + " ready endpoints" +
              (fe.kind == "clusterIP" ? std::string()
               : fe.masquerade
                   ? ", externalTrafficPolicy Cluster: masqueraded, any node's endpoint"
                   : ", externalTrafficPolicy Local: client address kept, only " + entry + "'s endpoints") +
              "; traced to " + std::get<0>(chosen) + ":" + std::to_string(target_port) + kernel_note,
          ev);
    PODNET_TRY(pod, pod_endpoint(f, svc_ns, std::get<1>(chosen)));
    target = pod;
    if (target_port) port = target_port;
    masquerade = fe.masquerade;
  }

  if (target.kind != "pod") return fail_msg("trace to a " + target.kind + " is not computed yet");
  if (port == 0)
    if (const json::value* cs = at(target.object, {"spec", "containers"}); cs && cs->is_array())
      for (const auto& c : cs->get_array())
        if (const json::value* ps = at(c, {"ports"});
            port == 0 && ps && ps->is_array() && !ps->get_array().empty())
          port = static_cast<int>(int_or(at(ps->get_array()[0], {"containerPort"}), 0));
  out["port"] = port;
  const bool from_pod = src.kind == "pod" && entry == src.node;
  t.want_forward(entry, src.ip, from_pod, target);
  if (masquerade && target.node != entry) f.prefetch("/api/v1/nodes/" + entry);
  // NetworkPolicy egress, judged on the source pod's node after the proxy's DNAT.
  auto egress = [&]() -> bool {
    if (src.kind != "pod") return true;
    return policy_hop(t, f, false, src, egress_peer ? *egress_peer : target, src.ip,
                      egress_peer ? egress_peer->ip : target.ip, req.proto, egress_peer ? egress_port : port,
                      "");
  };
  PODNET_TRY(dnode, f.get("/api/v1/nodes/" + target.node));
  if (masquerade && target.node != entry) {
    // SNAT runs in postrouting, after the entry node's own filter: only another node sees the change.
    auto enode = f.get("/api/v1/nodes/" + entry);
    client_ip = enode ? node_ip(*enode) : client_ip;
  }
  std::string masq_detail =
      masquerade
          ? "yes: externalTrafficPolicy Cluster: SNAT to " + entry +
                "'s address (the chain's mark, nat-postrouting masquerade), so replies return through " +
                entry + "; " + target.ns + "/" + target.name + " sees " + entry + ", not " + src.ip
      : src.kind == "outside" ? "no: externalTrafficPolicy Local keeps the client's address " + src.ip
      : src.kind == "node"    ? "no: node to pod keeps the node's address"
      : entry != src.node     ? "no further: already masqueraded when leaving " + src.node
                          : "no: the destination is a pod (inside the cluster range), the source IP is kept";
  auto ingress = [&]() -> bool {
    if (src.kind == "node" && target.node == src.node) {
      t.hop("policy ingress", target.node,
            "not judged: the node's own traffic to its pods passes output, not forward (probes)", nullptr);
      return true;
    }
    return policy_hop(t, f, true, target, src, target.ip, client_ip, req.proto, port, "");
  };
  t.forward(entry, src.ip, from_pod, target, node_ip(dnode), masq_detail,
            egress_peer ? std::function<bool()>() : egress, ingress);
  return finish(std::move(out));
}

std::string format_trace(const json::value& trace) {
  std::string out = "trace " + string_at(trace, {"src", "name"}) + " -> " +
                    string_at(trace, {"dst", "name"}) + " (" + string_at(trace, {"dst", "ip"}) + ")\n";
  int n = 1;
  if (const json::value* hops = at(trace, {"hops"}); hops && hops->is_array())
    for (const auto& h : hops->get_array()) {
      char head[96];
      std::snprintf(head, sizeof head, "%2d. %-14s %-8s ", n++, string_at(h, {"hop"}).c_str(),
                    string_at(h, {"node"}).c_str());
      out += head + string_at(h, {"detail"}) + "\n";
    }
  if (string_at(trace, {"result"}) == "delivered")
    out += "result: delivered\n";
  else
    out += "result: LOST at " + string_at(trace, {"lost_at"}) + ": " + string_at(trace, {"reason"}) + "\n";
  return out;
}

int run_trace(const TraceOptions& opts) {
  std::string path = opts.kubeconfig.empty() ? default_kubeconfig() : opts.kubeconfig;
  auto access = client::load_kubeconfig(path);
  if (!access) {
    std::fprintf(stderr, "podnet trace: kubeconfig %s: %s\n", path.c_str(), access.error().message().c_str());
    return 2;
  }
  client::HttpsClientOptions copts;
  copts.request_timeout = std::chrono::seconds(10);
  copts.user_agent = "podnet-trace";
  auto api = client::HttpsApiClient::create(*access, copts);
  if (!api) {
    std::fprintf(stderr, "podnet trace: %s\n", api.error().message().c_str());
    return 2;
  }
  client::HttpsApiClient& c = **api;
  auto result = compute_trace([&c](const std::string& p) { return c.get(p); }, opts.request);
  if (!result) {
    std::fprintf(stderr, "podnet trace: %s\n", result.error().message().c_str());
    return 2;
  }
  std::string text = opts.json ? json::serialize(*result) + "\n" : format_trace(*result);
  std::fwrite(text.data(), 1, text.size(), stdout);
  return string_at(*result, {"result"}) == "delivered" ? 0 : 1;
}

}  // namespace podnet::troubleshoot
