// The probe's steps go through the API server one node at a time (arm everywhere, send from the
// source node, collect everywhere): a handful of small requests, bounded by the probe's timeout.
#include "troubleshoot/trace_live.h"

#include <algorithm>
#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <optional>
#include <random>
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

std::string probe_path(const std::string& node, const std::string& step, const std::string& params) {
  return "/api/v1/nodes/" + node + "/proxy/podnet/v1/probe/" + step + "?" + params;
}

// What one node saw of the probe, boiled down for the hops.
struct NodeEvidence {
  std::string error;  // arm or collect failed: nothing is known about this node
  bool forward = false, reply = false;
  bool proxied = false;      // the service proxy's table saw it, or conntrack DNATed it
  bool policy_drop = false;  // a NetworkPolicy table dropped it, or the policy's drop log names it
  bool snat = false;         // conntrack masqueraded it
  std::string fastpath;      // the fast path's flow report path, if it carried the probe
  std::string first_iif, last_oif;
  std::vector<std::string> proxy_lines, policy_lines, drop_lines, flow_lines, path_lines;
};

std::string str(const json::value& v, const char* key) {
  const json::object* o = v.if_object();
  const json::value* x = o ? o->if_contains(key) : nullptr;
  if (!x) return {};
  if (x->is_string()) return std::string(x->as_string());
  if (x->is_number()) return std::to_string(x->to_number<int64_t>());
  if (x->is_bool()) return x->as_bool() ? "true" : "false";
  return {};
}

NodeEvidence boil(const json::value& collected, const std::string& probe_src) {
  NodeEvidence e;
  if (const json::value* ev = at(collected, {"nftrace"}); ev && ev->is_array())
    for (const auto& t : ev->get_array()) {
      std::string table = str(t, "table"), chain = str(t, "chain"), verdict = str(t, "verdict");
      bool reply = str(t, "reply") == "true";
      if (reply) {
        e.reply = true;
        continue;
      }
      e.forward = true;
      if (e.first_iif.empty()) e.first_iif = str(t, "iif");
      if (!str(t, "oif").empty()) e.last_oif = str(t, "oif");
      if (table.starts_with("podnet-probe-")) continue;  // the probe's own marking rule
      std::string line = str(t, "family") + " " + table + " " + chain + ": " + str(t, "type");
      if (!str(t, "handle").empty()) line += " #" + str(t, "handle");
      if (!verdict.empty()) line += " " + verdict;
      if (!str(t, "jump").empty()) line += " " + str(t, "jump");
      if (const json::value* c = at(t, {"rule", "comment"}); c && c->is_string())
        line += " (\"" + std::string(c->as_string()) + "\")";
      if (table.find("proxy") != std::string::npos) {
        e.proxied = true;
        if (e.proxy_lines.size() < 8) e.proxy_lines.push_back("nftrace " + line);
      } else if (table.find("policy") != std::string::npos) {
        if (e.policy_lines.size() < 8) e.policy_lines.push_back("nftrace " + line);
        if (verdict == "drop") e.policy_drop = true;
      } else if (e.path_lines.size() < 8) {
        e.path_lines.push_back("nftrace " + line);
      }
      if (verdict == "drop") e.drop_lines.push_back("nftables dropped it: " + line);
    }
  if (const json::value* fs = at(collected, {"flows"}); fs && fs->is_array())
    for (const auto& f : fs->get_array()) {
      std::string path = str(f, "path"), verdict = str(f, "verdict"), nat = str(f, "nat");
      bool forward = str(f, "src") == probe_src;
      if (forward) e.forward = true;
      std::string line = "flow " + verdict + " path " + path;
      if (!nat.empty()) {
        line += " nat " + nat + " (reply from " +
                str(at(f, {"reply"}) ? *at(f, {"reply"}) : json::value(), "src") + ")";
        if (nat.find("dnat") != std::string::npos) {
          e.proxied = true;
          e.proxy_lines.push_back("conntrack " + line);
        }
      }
      if (path.starts_with("fastpath")) e.fastpath = path;
      if (nat.find("snat") != std::string::npos) e.snat = true;
      if (verdict == "dropped") {
        e.policy_drop = true;
        std::string why = "policy " + str(f, "direction") + " " + str(f, "policies");
        e.policy_lines.push_back("flow dropped by " + why);
        e.drop_lines.push_back("NetworkPolicy drop log: " + why);
      }
      if (e.flow_lines.size() < 4) e.flow_lines.push_back(line);
    }
  if (const json::value* ds = at(collected, {"drops"}); ds && ds->is_array())
    for (const auto& d : ds->get_array()) {
      if (str(d, "reply") == "true") continue;
      e.forward = true;
      std::string line = "kfree_skb reason " + str(d, "reason");
      if (!str(d, "function").empty()) line += " in " + str(d, "function");
      if (!str(d, "dev").empty()) line += " dev " + str(d, "dev");
      if (str(d, "encapsulated") == "true") line += " (inside VXLAN)";
      if (e.drop_lines.size() < 8) e.drop_lines.push_back(line);
    }
  return e;
}

// The numbers that differ between two readings of a hop's evidence ("stats.to_local_pod": +1):
// the counters the computed trace shows, before and after the probe.
void counter_deltas(const json::value& before, const json::value& after, const std::string& path,
                    json::object& out) {
  if (out.size() >= 32) return;
  if (before.is_number() && after.is_number()) {
    double d = after.to_number<double>() - before.to_number<double>();
    if (d != 0) out[path] = d;
  } else if (before.is_object() && after.is_object()) {
    for (const auto& [k, v] : after.get_object())
      if (const json::value* b = before.get_object().if_contains(k))
        counter_deltas(*b, v, path.empty() ? std::string(k) : path + "." + std::string(k), out);
  } else if (before.is_array() && after.is_array()) {
    for (size_t i = 0; i < before.get_array().size() && i < after.get_array().size(); ++i)
      counter_deltas(before.get_array()[i], after.get_array()[i], path + "[" + std::to_string(i) + "]", out);
  }
}

json::array lines(const std::vector<std::string>& v) {
  json::array a;
  for (const auto& s : v) a.push_back(json::value(s));
  return a;
}

}  // namespace

std::pair<std::string, std::string> lost_hop(const json::array& hops) {
  std::string last_seen;
  for (const auto& h : hops) {
    const json::value* seen = at(h, {"live", "seen"});
    if (seen && seen->is_bool() && seen->as_bool()) {
      last_seen = str(h, "hop");
      continue;
    }
    return {str(h, "hop"), last_seen};
  }
  return {"", last_seen};
}

Result<json::value> live_trace(const ApiGet& get, const TraceRequest& req, json::value computed,
                               const LiveProbeOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  if (!computed.is_object()) return fail_msg("live trace: no computed trace");
  json::object& doc = computed.as_object();
  if (str(doc["src"], "kind") != "pod")
    return fail_msg("--live sends the probe as a pod: give a pod as the source (not " +
                    str(doc["src"], "kind") + ")");
  const std::string src_name = str(doc["src"], "name"), src_ip = str(doc["src"], "ip"),
                    src_node = str(doc["src"], "node");
  const size_t slash = src_name.find('/');
  if (slash == std::string::npos || src_ip.find(':') != std::string::npos)
    return fail_msg("--live: the source pod needs an IPv4 address");
  const std::string ns = src_name.substr(0, slash), pod = src_name.substr(slash + 1);
  // Where the probe goes: the destination's IP, and the Service's port or --port.
  std::string dst_ip = str(doc["dst"], "ip");
  int port = req.port;
  json::array& hops = doc["hops"].as_array();
  std::vector<std::string> nodes{src_node};
  for (const auto& h : hops) {
    std::string n = str(h, "node");
    if (!n.empty() && std::find(nodes.begin(), nodes.end(), n) == nodes.end()) nodes.push_back(n);
    if (str(h, "hop") == "service proxy") {
      std::string frontend = string_at(h, {"evidence", "frontend"});  // ip:port/proto
      size_t colon = frontend.rfind(':'), sl = frontend.find('/');
      if (colon != std::string::npos && port == 0)
        port = std::atoi(frontend.substr(colon + 1, sl - colon - 1).c_str());
      // Any ready endpoint may be the one DNAT picks: every endpoint's node is armed.
      if (const json::value* eps = at(h, {"evidence", "endpoints"}); eps && eps->is_array())
        for (const auto& ep : eps->get_array()) {
          std::string n = str(ep, "node");
          if (!n.empty() && std::find(nodes.begin(), nodes.end(), n) == nodes.end()) nodes.push_back(n);
        }
    }
  }
  if (port <= 0 || port > 65535) return fail_msg("--live to a pod needs --port (the probe connects to it)");
  if (nodes.size() > 16) nodes.resize(16);
  std::mt19937 rng{std::random_device{}()};
  const int sport = std::uniform_int_distribution<int>(40000, 60999)(rng);
  const std::string who = "namespace=" + ns + "&pod=" + pod;
  const std::string proto = req.proto;

  // Every node at once (the client is thread-safe): arming loads a BPF program and an nftables
  // table on each node, collecting waits for the flow log's next read there.
  auto on_every_node = [&](const std::vector<std::string>& which,
                           const std::function<Result<json::value>(const std::string&)>& step) {
    std::vector<Result<json::value>> out(which.size(), std::unexpected(Error{}));
    std::vector<std::thread> threads;
    for (size_t i = 0; i < which.size(); ++i) threads.emplace_back([&, i] { out[i] = step(which[i]); });
    for (auto& t : threads) t.join();
    return out;
  };
  std::map<std::string, std::string> ids;
  json::object node_json;
  auto armed = on_every_node(nodes, [&](const std::string& n) {
    return get(probe_path(n, "arm",
                          who + "&src=" + src_ip + "&sport=" + std::to_string(sport) + "&proto=" + proto +
                              "&ttl=" + std::to_string(options.ttl_ms)));
  });
  std::optional<Error> refused;
  for (size_t i = 0; i < nodes.size(); ++i) {
    if (armed[i]) {
      ids[nodes[i]] = str(*armed[i], "id");
      continue;
    }
    // The probe is the caller's right to exec into the pod: a refusal ends it before anything is sent.
    if (armed[i].error().message().find("orbidden") != std::string::npos) refused = armed[i].error();
    node_json[nodes[i]] = json::object{{"error", "arm: " + armed[i].error().message()}};
  }
  if (refused) {
    for (const auto& [n, id] : ids) (void)get(probe_path(n, "collect", who + "&id=" + id));
    return std::unexpected(*refused);
  }
  auto sent = get(probe_path(src_node, "send",
                             who + "&dst=" + dst_ip + "&dport=" + std::to_string(port) +
                                 "&sport=" + std::to_string(sport) + "&proto=" + proto +
                                 "&wait=" + std::to_string(options.timeout_ms)));
  json::value send_result = sent ? *sent : json::value(json::object{{"error", sent.error().message()}});
  std::map<std::string, NodeEvidence> evidence;
  std::vector<std::string> armed_nodes;
  for (const auto& [n, id] : ids) armed_nodes.push_back(n);
  auto collected = on_every_node(armed_nodes, [&](const std::string& n) {
    return get(probe_path(n, "collect", who + "&id=" + ids.at(n)));
  });
  for (size_t i = 0; i < armed_nodes.size(); ++i) {
    const std::string& n = armed_nodes[i];
    if (!collected[i]) {
      node_json[n] = json::object{{"error", "collect: " + collected[i].error().message()}};
      evidence[n].error = collected[i].error().message();
      continue;
    }
    evidence[n] = boil(*collected[i], src_ip);
    node_json[n] = std::move(*collected[i]);
  }
  for (const auto& n : nodes)
    if (!evidence.contains(n)) evidence[n].error = "not armed";

  const std::string outcome = str(send_result, "result");
  const bool delivered = outcome == "connected" || outcome == "refused" || outcome == "answered";
  const std::string dst_node = hops.empty() ? src_node : str(hops.back(), "node");
  for (size_t i = 0; i < hops.size(); ++i) {
    json::object& h = hops[i].as_object();
    const std::string name = str(h, "hop"), node = str(h, "node");
    NodeEvidence& e = evidence[node];
    NodeEvidence& d = evidence[dst_node];
    bool seen = false;
    std::vector<std::string> ev;
    if (name == "pod eth0") {
      seen = e.forward;
      if (!e.first_iif.empty()) ev.push_back("entered " + node + " from " + e.first_iif);
      for (const auto& l : e.flow_lines) ev.push_back(l);
    } else if (name == "fast path") {
      seen = e.forward;
      ev.push_back(e.fastpath.empty()
                       ? (e.forward ? "not carried by the fast path: the stack saw it (nftrace)"
                                    : "no report of the probe")
                       : "carried by the fast path (flow report, path " + e.fastpath + ")");
    } else if (name == "service proxy") {
      seen = e.proxied;
      ev = e.proxy_lines;
    } else if (name == "vxlan tunnel" || name == "underlay") {
      seen = d.forward;
      if (!e.last_oif.empty()) ev.push_back("left " + node + " via " + e.last_oif);
      if (d.forward)
        ev.push_back("arrived on " + dst_node + (d.first_iif.empty() ? "" : " via " + d.first_iif));
      else if (d.error.empty())
        ev.push_back("no report of it on " + dst_node + " (nftables trace, fast path, kernel drops)");
    } else if (name == "masquerade") {
      seen = e.forward;
      ev.push_back(e.snat ? "conntrack: SNAT (masqueraded)"
                          : "no SNAT seen: the source address is kept (conntrack, nftrace)");
    } else if (name.find("policy") != std::string::npos) {
      seen = e.forward && !e.policy_drop;
      ev = e.policy_lines;
    } else if (i + 1 == hops.size()) {  // the destination pod's veth
      seen = e.forward && !e.policy_drop && e.drop_lines.empty() && (proto == "udp" || e.reply);
      ev = e.policy_lines;
      if (!e.last_oif.empty() && e.drop_lines.empty()) ev.push_back("handed to " + e.last_oif);
      for (const auto& l : e.drop_lines) ev.push_back(l);
      if (!e.forward && e.error.empty()) ev.push_back("no report of it on " + node);
      if (e.fastpath.size()) ev.push_back("carried by the fast path (path " + e.fastpath + ")");
    } else {
      seen = e.forward;
      ev = e.path_lines;
      if (!e.last_oif.empty()) ev.push_back("leaves via " + e.last_oif);
      if (!e.fastpath.empty() && e.last_oif.empty())
        ev.push_back("the fast path carried it (" + e.fastpath + "): no netfilter hook on " + node);
    }
    if (delivered) seen = true;
    if (!e.error.empty()) ev.push_back("no evidence from " + node + ": " + e.error);
    h["live"] = json::object{{"seen", seen}, {"evidence", lines(ev)}};
  }
  // The counters the computed trace reported, read again: which of them this probe moved.
  if (auto again = compute_trace(get, req); again && again->is_object()) {
    const json::value* after = again->as_object().if_contains("hops");
    for (size_t i = 0; after && after->is_array() && i < hops.size() && i < after->get_array().size(); ++i) {
      const json::value& a = after->get_array()[i];
      if (str(a, "hop") != str(hops[i], "hop")) break;
      json::object moved;
      const json::value* b = hops[i].as_object().if_contains("evidence");
      const json::value* ae = a.as_object().if_contains("evidence");
      if (b && ae) counter_deltas(*b, *ae, "", moved);
      hops[i].as_object()["live"].as_object()["counters_moved"] = std::move(moved);
    }
  }
  auto [lost_at, last_seen] = lost_hop(hops);
  if (delivered) lost_at.clear();
  json::object computed_result{{"result", doc["result"]}, {"lost_at", doc["lost_at"]}};
  if (doc.contains("reason")) computed_result["reason"] = doc["reason"];
  doc["computed"] = std::move(computed_result);
  std::string reason;
  if (!lost_at.empty()) {
    std::vector<std::string> why;
    for (const auto& n : nodes)
      for (const auto& l : evidence[n].drop_lines) why.push_back(n + ": " + l);
    if (why.empty()) {
      reason = "no answer within " + std::to_string(options.timeout_ms) + " ms (" +
               (outcome.empty() ? str(send_result, "error") : outcome) + ") and no drop seen";
    } else {
      reason = why.front();
      for (size_t i = 1; i < why.size() && i < 3; ++i) reason += "; " + why[i];
    }
  }
  doc["result"] = lost_at.empty() ? "delivered" : "lost";
  doc["lost_at"] = lost_at.empty() ? json::value(nullptr) : json::value(lost_at);
  if (reason.empty())
    doc.erase("reason");
  else
    doc["reason"] = reason;
  doc["live"] = json::object{
      {"probe", json::object{{"src", src_ip + ":" + std::to_string(sport)},
                             {"dst", dst_ip + ":" + std::to_string(port)},
                             {"proto", proto},
                             {"from", src_name},
                             {"node", src_node},
                             {"outcome", send_result}}},
      {"last_seen", last_seen.empty() ? json::value(nullptr) : json::value(last_seen)},
      {"nodes", std::move(node_json)},
      {"ms", std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count()}};
  return computed;
}

std::string format_live_trace(const json::value& trace) {
  std::string out = format_trace(trace);
  // format_trace's hop lines, each followed by what the probe left there.
  std::string live = "live probe " + string_at(trace, {"live", "probe", "src"}) + " -> " +
                     string_at(trace, {"live", "probe", "dst"}) + "/" +
                     string_at(trace, {"live", "probe", "proto"}) + ": " +
                     string_at(trace, {"live", "probe", "outcome", "result"}) + "\n";
  int n = 1;
  if (const json::value* hops = at(trace, {"hops"}); hops && hops->is_array())
    for (const auto& h : hops->get_array()) {
      const json::value* seen = at(h, {"live", "seen"});
      char head[96];
      std::snprintf(head, sizeof head, "%2d. %-14s %-8s %s\n", n++, string_at(h, {"hop"}).c_str(),
                    string_at(h, {"node"}).c_str(),
                    seen && seen->is_bool() && seen->as_bool() ? "seen" : "NOT SEEN");
      live += head;
      if (const json::value* ev = at(h, {"live", "evidence"}); ev && ev->is_array())
        for (const auto& l : ev->get_array())
          if (l.is_string()) live += "      " + std::string(l.as_string()) + "\n";
    }
  if (string_at(trace, {"result"}) != "delivered")
    live += "last seen at: " + string_at(trace, {"live", "last_seen"}) + "\n";
  return out + live;
}

int run_trace_live(const TraceOptions& opts, const LiveProbeOptions& live) {
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
  ApiGet get = [&c](const std::string& p) { return c.get(p); };
  auto computed = compute_trace(get, opts.request);
  if (!computed) {
    std::fprintf(stderr, "podnet trace: %s\n", computed.error().message().c_str());
    return 2;
  }
  auto result = live_trace(get, opts.request, std::move(*computed), live);
  if (!result) {
    std::fprintf(stderr, "podnet trace --live: %s\n", result.error().message().c_str());
    return 2;
  }
  std::string text = opts.json ? json::serialize(*result) + "\n" : format_live_trace(*result);
  std::fwrite(text.data(), 1, text.size(), stdout);
  return string_at(*result, {"result"}) == "delivered" ? 0 : 1;
}

}  // namespace podnet::troubleshoot
