// Each node is asked only what the trace needs (a route, a fast-path lookup, the FDB): a handful of
// small node-API requests, so a trace costs tens of milliseconds.
#include "troubleshoot/trace.h"

#include <boost/json.hpp>
#include <chrono>
#include <cstdio>

#include "client/https_client.h"
#include "client/kubeconfig.h"
#include "common/ip.h"
#include "k8s/json_fields.h"
#include "troubleshoot/check.h"

namespace podnet::troubleshoot {
namespace json = boost::json;
using k8s::fields::at;
using k8s::fields::string_at;

namespace {

struct Endpoint {
  std::string kind;  // pod, node, service
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

Result<Endpoint> pod_endpoint(const ApiGet& get, const std::string& ns, const std::string& name) {
  PODNET_TRY(pod, get("/api/v1/namespaces/" + ns + "/pods/" + name));
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

Result<Endpoint> resolve(const ApiGet& get, const std::string& spec, bool destination) {
  auto p = split(spec);
  if (p.size() == 3 && p[0] == "pod") return pod_endpoint(get, p[1], p[2]);
  if (p.size() == 2 && p[0] == "node") {
    PODNET_TRY(node, get("/api/v1/nodes/" + p[1]));
    return Endpoint{"node", "", p[1], p[1], node_ip(node), node};
  }
  if (p.size() == 3 && (p[0] == "svc" || p[0] == "service") && destination) {
    PODNET_TRY(svc, get("/api/v1/namespaces/" + p[1] + "/services/" + p[2]));
    return Endpoint{"service", p[1], p[2], "", string_at(svc, {"spec", "clusterIP"}), svc};
  }
  if (p.size() == 2) return pod_endpoint(get, p[0], p[1]);
  if (p.size() == 1 && destination && parse_ip(spec)) {
    // A pod IP or a ClusterIP: found by listing (fieldSelector status.podIP is not served everywhere).
    PODNET_TRY(pods, get("/api/v1/pods"));
    if (const json::value* items = at(pods, {"items"}); items && items->is_array())
      for (const auto& pod : items->get_array())
        if (string_at(pod, {"status", "podIP"}) == spec && !string_at(pod, {"spec", "nodeName"}).empty() &&
            !at(pod, {"spec", "hostNetwork"}))
          return pod_endpoint(get, string_at(pod, {"metadata", "namespace"}),
                              string_at(pod, {"metadata", "name"}));
    PODNET_TRY(svcs, get("/api/v1/services"));
    if (const json::value* items = at(svcs, {"items"}); items && items->is_array())
      for (const auto& svc : items->get_array())
        if (string_at(svc, {"spec", "clusterIP"}) == spec)
          return Endpoint{"service",
                          string_at(svc, {"metadata", "namespace"}),
                          string_at(svc, {"metadata", "name"}),
                          "",
                          spec,
                          svc};
    return fail_msg(spec + " is neither a pod's IP nor a Service's ClusterIP");
  }
  return fail_msg("\"" + spec + "\": want NS/POD, pod/NS/POD, node/NAME" +
                  (destination ? ", svc/NS/NAME or an IP" : std::string()));
}

json::object describe(const Endpoint& e) {
  json::object o{{"kind", e.kind}, {"name", e.ns.empty() ? e.name : e.ns + "/" + e.name}, {"ip", e.ip}};
  if (!e.node.empty()) o["node"] = e.node;
  return o;
}

class Tracer {
 public:
  Tracer(const ApiGet& get) : get_(get) {}

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
    return get_(node_api(node, query));
  }

  // From `node`'s stack (a pod's packet after its veth, or the node's own) to `dst`, a pod.
  bool forward(const std::string& node, const std::string& src_ip, bool from_pod, const Endpoint& dst,
               const std::string& node_ip_of_dst) {
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
    hop("masquerade", node,
        from_pod ? "no: the destination is a pod (inside the cluster range), the source IP is kept"
                 : "no: node to pod keeps the node's address",
        nullptr);
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
  const ApiGet& get_;
};

}  // namespace

Result<json::value> compute_trace(const ApiGet& get, const TraceRequest& req) {
  auto start = std::chrono::steady_clock::now();
  if (req.proto != "tcp" && req.proto != "udp") return fail_msg("--proto: want tcp or udp");
  PODNET_TRY(src, resolve(get, req.src, false));
  PODNET_TRY(dst, resolve(get, req.dst, true));
  Tracer t(get);
  json::object out{{"src", describe(src)}, {"dst", describe(dst)}, {"proto", req.proto}};
  if (src.kind == "pod")
    t.hop("pod eth0", src.node,
          "leaves " + src.ns + "/" + src.name + " (" + src.ip + ") over its veth to " + src.node, nullptr);
  int port = req.port;
  Endpoint target = dst;
  if (dst.kind == "service") {
    // The service proxy's rule on the source node: ClusterIP:port -> one ready endpoint.
    const json::value* ports = at(dst.object, {"spec", "ports"});
    json::value chosen_port = nullptr;
    if (ports && ports->is_array())
      for (const auto& p : ports->get_array()) {
        std::string proto = string_at(p, {"protocol"});
        for (auto& c : proto) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        if ((proto.empty() ? "tcp" : proto) != req.proto) continue;
        if (port == 0 || (at(p, {"port"}) && at(p, {"port"})->to_number<int64_t>() == port)) {
          chosen_port = p;
          break;
        }
      }
    if (chosen_port.is_null())
      return fail_msg("Service " + dst.ns + "/" + dst.name + " has no " + req.proto + " port " +
                      std::to_string(port));
    port = static_cast<int>(chosen_port.at("port").to_number<int64_t>());
    std::string port_name = string_at(chosen_port, {"name"});
    PODNET_TRY(slices, get("/apis/discovery.k8s.io/v1/namespaces/" + dst.ns +
                           "/endpointslices?labelSelector=kubernetes.io%2Fservice-name%3D" + dst.name));
    json::array endpoints;
    std::vector<std::pair<std::string, std::string>> ready;  // ip, pod name
    int target_port = 0;
    if (const json::value* items = at(slices, {"items"}); items && items->is_array())
      for (const auto& s : items->get_array()) {
        if (const json::value* sp = at(s, {"ports"}); sp && sp->is_array())
          for (const auto& p : sp->get_array())
            if (string_at(p, {"name"}) == port_name && at(p, {"port"}))
              target_port = static_cast<int>(at(p, {"port"})->to_number<int64_t>());
        if (const json::value* es = at(s, {"endpoints"}); es && es->is_array())
          for (const auto& e : es->get_array()) {
            const json::value* r = at(e, {"conditions", "ready"});
            bool is_ready = !r || (r->is_bool() && r->as_bool());
            const json::value* addrs = at(e, {"addresses"});
            if (!addrs || !addrs->is_array() || addrs->get_array().empty()) continue;
            std::string ip(addrs->get_array()[0].as_string());
            std::string pod = string_at(e, {"targetRef", "name"});
            endpoints.push_back(json::object{
                {"ip", ip}, {"pod", pod}, {"node", string_at(e, {"nodeName"})}, {"ready", is_ready}});
            if (is_ready) ready.emplace_back(ip, pod);
          }
      }
    std::string proxy_node = src.node;
    json::object ev{
        {"service", dst.ns + "/" + dst.name},
        {"frontend", dst.ip + ":" + std::to_string(port) + "/" + req.proto},
        {"target_port", target_port},
        {"endpoints", endpoints},
        {"rule", "service-ips: " + dst.ip + " . " + req.proto + " . " + std::to_string(port) +
                     " -> a random ready endpoint (numgen random mod " + std::to_string(ready.size()) + ")"}};
    auto nft = t.ask(proxy_node, "nft?family=ip&table=podnet-proxy&set=no-endpoints");
    if (nft) ev["no_endpoints_set"] = *nft;
    if (ready.empty()) {
      t.hop("service proxy", proxy_node, "no ready endpoint: the frontend is in no-endpoints and is rejected",
            ev);
      t.lose("service proxy", "Service " + dst.ns + "/" + dst.name + " has no ready endpoints");
    } else {
      t.hop("service proxy", proxy_node,
            "DNAT " + dst.ip + ":" + std::to_string(port) + " to one of " + std::to_string(ready.size()) +
                " ready endpoints; traced to " + ready.front().first + ":" + std::to_string(target_port),
            ev);
      auto pod = pod_endpoint(get, dst.ns, ready.front().second);
      if (!pod) return std::unexpected(pod.error());
      target = *pod;
    }
  }
  if (t.lost_at.empty()) {
    if (target.kind != "pod")
      return fail_msg("trace to a " + target.kind + " is not computed yet: give a pod or a Service");
    PODNET_TRY(dnode, get("/api/v1/nodes/" + target.node));
    t.forward(src.node, src.ip, src.kind == "pod", target, node_ip(dnode));
  }
  out["hops"] = std::move(t.hops);
  out["result"] = t.lost_at.empty() ? "delivered" : "lost";
  out["lost_at"] = t.lost_at.empty() ? json::value(nullptr) : json::value(t.lost_at);
  if (!t.reason.empty()) out["reason"] = t.reason;
  out["ms"] = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  return json::value(std::move(out));
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
