#include "troubleshoot/flows.h"

#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <map>
#include <set>
#include <thread>

#include "client/https_client.h"
#include "client/kubeconfig.h"
#include "k8s/json_fields.h"
#include "troubleshoot/check.h"

namespace podnet::troubleshoot {
namespace json = boost::json;
using k8s::fields::at;
using k8s::fields::string_at;

namespace {

struct Names {
  std::map<std::string, std::string> pods;                         // IP -> ns/name
  std::map<std::string, std::set<std::string>> service_endpoints;  // IP:port -> ns/name of Services
  std::map<std::string, std::string> cluster_ips;                  // ClusterIP -> ns/name
};

std::string ns_name(const json::value& o) {
  return string_at(o, {"metadata", "namespace"}) + "/" + string_at(o, {"metadata", "name"});
}

const json::array* items(const json::value& list) {
  const json::value* i = at(list, {"items"});
  return i && i->is_array() ? &i->get_array() : nullptr;
}

Result<Names> names(const ApiGet& get) {
  Names n;
  PODNET_TRY(pods, get("/api/v1/pods"));
  if (auto* is = items(pods))
    for (const auto& p : *is) {
      const json::value* host = at(p, {"spec", "hostNetwork"});
      if (host && host->is_bool() && host->get_bool()) continue;  // the node's address, not the pod's
      if (const json::value* ips = at(p, {"status", "podIPs"}); ips && ips->is_array())
        for (const auto& ip : ips->get_array())
          if (auto a = string_at(ip, {"ip"}); !a.empty()) n.pods[a] = ns_name(p);
    }
  PODNET_TRY(services, get("/api/v1/services"));
  if (auto* is = items(services))
    for (const auto& s : *is)
      if (const json::value* ips = at(s, {"spec", "clusterIPs"}); ips && ips->is_array())
        for (const auto& ip : ips->get_array())
          if (ip.is_string() && ip.get_string() != "None")
            n.cluster_ips[std::string(ip.get_string())] = ns_name(s);
  PODNET_TRY(slices, get("/apis/discovery.k8s.io/v1/endpointslices"));
  if (auto* is = items(slices))
    for (const auto& sl : *is) {
      std::string svc = string_at(sl, {"metadata", "labels", "kubernetes.io/service-name"});
      if (svc.empty()) continue;
      std::string key = string_at(sl, {"metadata", "namespace"}) + "/" + svc;
      std::vector<std::string> ports;
      if (const json::value* ps = at(sl, {"ports"}); ps && ps->is_array())
        for (const auto& p : ps->get_array())
          if (const json::value* port = at(p, {"port"}); port && port->is_int64())
            ports.push_back(std::to_string(port->get_int64()));
      if (const json::value* eps = at(sl, {"endpoints"}); eps && eps->is_array())
        for (const auto& e : eps->get_array())
          if (const json::value* as = at(e, {"addresses"}); as && as->is_array())
            for (const auto& a : as->get_array())
              if (a.is_string())
                for (const auto& port : ports)
                  n.service_endpoints[std::string(a.get_string()) + ":" + port].insert(key);
    }
  return n;
}

std::string join(const std::set<std::string>& s) {
  std::string out;
  for (const auto& x : s) out += (out.empty() ? "" : ",") + x;
  return out;
}

bool in_ns(const std::string& ref, const std::string& ns) {
  return !ref.empty() && ref.starts_with(ns + "/");
}

bool is_pod(const std::string& ref, const FlowFilter& f) {
  if (ref.empty()) return false;
  if (!f.ns.empty()) return ref == f.ns + "/" + f.pod;
  return ref.substr(ref.find('/') + 1) == f.pod;
}

bool names_service(const std::string& refs, const FlowFilter& f) {
  size_t start = 0;
  while (start <= refs.size()) {
    size_t comma = refs.find(',', start);
    std::string ref = refs.substr(start, comma - start);
    if (!ref.empty() &&
        (f.ns.empty() ? ref.substr(ref.find('/') + 1) == f.service : ref == f.ns + "/" + f.service))
      return true;
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return false;
}

bool keep(const json::object& o, const FlowFilter& f) {
  auto s = [&](const char* k) {
    return o.contains(k) && o.at(k).is_string() ? std::string(o.at(k).get_string()) : "";
  };
  if (!f.verdict.empty() && s("verdict") != f.verdict) return false;
  if (!f.ns.empty() && !in_ns(s("src_pod"), f.ns) && !in_ns(s("dst_pod"), f.ns) &&
      !(s("dst_service").find(f.ns + "/") != std::string::npos))
    return false;
  if (!f.pod.empty() && !is_pod(s("src_pod"), f) && !is_pod(s("dst_pod"), f)) return false;
  if (!f.service.empty() && !names_service(s("dst_service"), f)) return false;
  return true;
}

std::string field(const json::object& o, const char* k) {
  if (!o.contains(k)) return "";
  const auto& v = o.at(k);
  if (v.is_string()) return std::string(v.get_string());
  if (v.is_int64()) return std::to_string(v.get_int64());
  if (v.is_uint64()) return std::to_string(v.get_uint64());
  return json::serialize(v);
}

}  // namespace

Result<json::value> collect_flows(const ApiGet& get, const FlowFilter& filter) {
  std::vector<std::string> nodes;
  if (!filter.node.empty()) {
    nodes.push_back(filter.node);
  } else {
    PODNET_TRY(list, get("/api/v1/nodes"));
    if (auto* is = items(list))
      for (const auto& n : *is) nodes.push_back(string_at(n, {"metadata", "name"}));
  }
  PODNET_TRY(n, names(get));
  json::array flows, node_info;
  for (const auto& node : nodes) {
    json::object info{{"name", node}};
    auto r =
        get("/api/v1/nodes/" + node + "/proxy/podnet/v1/flows?since=" + std::to_string(filter.since_seconds));
    if (!r) {
      info["error"] = r.error().message();
      node_info.push_back(std::move(info));
      continue;
    }
    for (const char* k : {"events", "lost", "drops_logged", "evicted", "capacity", "fastpath", "conntrack",
                          "conntrack_events", "conntrack_overruns", "conntrack_acct"})
      if (const json::value* v = at(*r, {k})) info[k] = *v;
    node_info.push_back(std::move(info));
    const json::value* fs = at(*r, {"flows"});
    if (!fs || !fs->is_array()) continue;
    for (const auto& f : fs->get_array()) {
      if (!f.is_object()) continue;
      json::object o = f.get_object();
      o["node"] = node;
      std::string src = field(o, "src"), dst = field(o, "dst");
      if (auto it = n.pods.find(src); it != n.pods.end()) o["src_pod"] = it->second;
      if (auto it = n.pods.find(dst); it != n.pods.end()) o["dst_pod"] = it->second;
      if (auto it = n.service_endpoints.find(dst + ":" + field(o, "dport")); it != n.service_endpoints.end())
        o["dst_service"] = join(it->second);
      else if (auto c = n.cluster_ips.find(dst); c != n.cluster_ips.end())
        o["dst_service"] = c->second;
      // Through the stack with DNAT (a ClusterIP, NodePort or LB address): the reply's source is
      // the endpoint that served it; that pod is the destination a person asks about.
      if (const json::value* reply = at(f, {"reply"}); reply && reply->is_object() && o.contains("nat") &&
                                                       field(o, "nat").find("dnat") != std::string::npos) {
        std::string ep = string_at(*reply, {"src"});
        std::string ep_port = field(reply->get_object(), "sport");
        o["endpoint"] = ep_port.empty() ? ep : ep + ":" + ep_port;
        if (auto it = n.pods.find(ep); it != n.pods.end()) {
          o["endpoint_pod"] = it->second;
          if (!o.contains("dst_pod")) o["dst_pod"] = it->second;
        }
        if (!o.contains("dst_service"))
          if (auto it = n.service_endpoints.find(ep + ":" + ep_port); it != n.service_endpoints.end())
            o["dst_service"] = join(it->second);
      }
      if (keep(o, filter)) flows.push_back(std::move(o));
    }
  }
  return json::value(json::object{{"flows", std::move(flows)}, {"nodes", std::move(node_info)}});
}

std::string format_flows(const json::value& v, bool header) {
  std::string out;
  char line[512];
  if (header) {
    std::snprintf(line, sizeof line, "%-10s %-34s %-34s %-5s %-10s %-16s %8s %10s\n", "NODE", "SOURCE",
                  "DESTINATION", "PROTO", "VERDICT", "PATH", "PACKETS", "BYTES");
    out += line;
  }
  const json::value* fs = at(v, {"flows"});
  if (!fs || !fs->is_array()) return out;
  for (const auto& f : fs->get_array()) {
    const auto& o = f.get_object();
    auto end = [&](const char* pod, const char* ip, const char* port) {
      std::string who = field(o, pod).empty() ? field(o, ip) : field(o, pod);
      std::string p = field(o, port);
      return p.empty() ? who : who + ":" + p;
    };
    std::string dst = end("dst_pod", "dst", "dport");
    if (!field(o, "endpoint").empty()) {  // DNAT: the address asked for, then the endpoint reached
      dst = field(o, "dst") + ":" + field(o, "dport");
      if (auto s = field(o, "dst_service"); !s.empty()) dst += " (svc " + s + ")";
      std::string ep = field(o, "endpoint"), ep_pod = field(o, "endpoint_pod");
      size_t colon = ep.rfind(':');
      dst += " -> " + (ep_pod.empty() || colon == std::string::npos ? ep : ep_pod + ep.substr(colon));
    } else if (auto s = field(o, "dst_service"); !s.empty()) {
      dst += " (svc " + s + ")";
    }
    std::string path = field(o, "path");
    std::string verdict = field(o, "verdict");
    if (verdict == "dropped") path += " " + field(o, "direction") + " " + field(o, "policies");
    if (auto nat = field(o, "nat"); !nat.empty()) path += " " + nat;
    uint64_t packets = 0, bytes = 0;
    for (const char* k : {"packets", "reply_packets"})
      if (const json::value* x = at(f, {k}); x && x->is_number()) packets += x->to_number<uint64_t>();
    for (const char* k : {"bytes", "reply_bytes"})
      if (const json::value* x = at(f, {k}); x && x->is_number()) bytes += x->to_number<uint64_t>();
    std::snprintf(line, sizeof line, "%-10s %-34s %-34s %-5s %-10s %-16s %8llu %10llu\n",
                  field(o, "node").c_str(), end("src_pod", "src", "sport").c_str(), dst.c_str(),
                  field(o, "proto").c_str(), verdict.c_str(), path.c_str(),
                  static_cast<unsigned long long>(packets), static_cast<unsigned long long>(bytes));
    out += line;
  }
  return out;
}

int run_flows(const FlowsOptions& opts) {
  std::string path = opts.kubeconfig.empty() ? default_kubeconfig() : opts.kubeconfig;
  auto access = client::load_kubeconfig(path);
  if (!access) {
    std::fprintf(stderr, "podnet flows: kubeconfig %s: %s\n", path.c_str(), access.error().message().c_str());
    return 2;
  }
  client::HttpsClientOptions copts;
  copts.request_timeout = std::chrono::seconds(10);
  copts.user_agent = "podnet-flows";
  auto api = client::HttpsApiClient::create(*access, copts);
  if (!api) {
    std::fprintf(stderr, "podnet flows: %s\n", api.error().message().c_str());
    return 2;
  }
  client::HttpsApiClient& c = **api;
  ApiGet get = [&c](const std::string& p) { return c.get(p); };
  auto report_nodes = [](const json::value& v) {
    if (const json::value* ns = at(v, {"nodes"}); ns && ns->is_array())
      for (const auto& n : ns->get_array()) {
        if (auto e = string_at(n, {"error"}); !e.empty())
          std::fprintf(stderr, "podnet flows: node %s: %s\n", string_at(n, {"name"}).c_str(), e.c_str());
        if (const json::value* lost = at(n, {"lost"});
            lost && lost->is_number() && lost->to_number<uint64_t>() > 0)
          std::fprintf(stderr, "podnet flows: node %s: %llu flow events lost (the ring buffer was full)\n",
                       string_at(n, {"name"}).c_str(),
                       static_cast<unsigned long long>(lost->to_number<uint64_t>()));
        if (const json::value* over = at(n, {"conntrack_overruns"});
            over && over->is_number() && over->to_number<uint64_t>() > 0)
          std::fprintf(
              stderr,
              "podnet flows: node %s: conntrack events lost %llu times (the socket buffer was full)\n",
              string_at(n, {"name"}).c_str(), static_cast<unsigned long long>(over->to_number<uint64_t>()));
      }
  };
  if (!opts.follow) {
    auto result = collect_flows(get, opts.filter);
    if (!result) {
      std::fprintf(stderr, "podnet flows: %s\n", result.error().message().c_str());
      return 2;
    }
    report_nodes(*result);
    std::string text = opts.json ? json::serialize(*result) + "\n" : format_flows(*result, true);
    std::fwrite(text.data(), 1, text.size(), stdout);
    return 0;
  }
  // The stream: each connection printed again when the node saw it again (its last_seen moved).
  std::map<std::string, int64_t> shown;
  FlowFilter f = opts.filter;
  bool header = !opts.json;
  for (;;) {
    auto result = collect_flows(get, f);
    f.since_seconds = 3;  // the first round shows the --since window, later ones what is new
    if (!result) {
      std::fprintf(stderr, "podnet flows: %s\n", result.error().message().c_str());
    } else {
      json::array fresh;
      for (const auto& fl : at(*result, {"flows"})->get_array()) {
        const auto& o = fl.get_object();
        std::string key = field(o, "node") + " " + field(o, "proto") + " " + field(o, "src") + ":" +
                          field(o, "sport") + " " + field(o, "dst") + ":" + field(o, "dport");
        int64_t last = o.contains("last_seen_ms") && o.at("last_seen_ms").is_int64()
                           ? o.at("last_seen_ms").get_int64()
                           : 0;
        auto [it, added] = shown.emplace(key, last);
        if (!added && it->second >= last) continue;
        it->second = last;
        fresh.push_back(fl);
      }
      std::string text;
      if (opts.json) {
        for (const auto& fl : fresh) text += json::serialize(fl) + "\n";
      } else {
        text = format_flows(json::object{{"flows", fresh}}, header);
        header = false;
      }
      std::fwrite(text.data(), 1, text.size(), stdout);
      std::fflush(stdout);
    }
    if (shown.size() > 100000) shown.clear();
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
}

}  // namespace podnet::troubleshoot
