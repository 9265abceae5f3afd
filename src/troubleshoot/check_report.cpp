#include "troubleshoot/check_report.h"

#include <algorithm>
#include <boost/json.hpp>
#include <cstdio>
#include <set>

namespace podnet::troubleshoot {
namespace json = boost::json;

namespace {

ProbeTarget target(std::string key, std::string host, uint16_t port, bool resolve = false,
                   bool fail = false) {
  return {std::move(key), std::move(host), port, resolve, fail};
}

int per_client(const CheckPlan& plan) {
  return plan.connections_per_client > 0 ? plan.connections_per_client
                                         : 4 * static_cast<int>(std::max<size_t>(plan.nodes.size(), 1));
}

const ProbeResult* find(const std::vector<ProbeResult>& rs, const std::string& key) {
  for (const auto& r : rs)
    if (r.key == key) return &r;
  return nullptr;
}

double ms(const ProbeResult& r) {
  return static_cast<double>(r.latency_us) / 1000.0;
}

// "srv-node2 10.244.1.5" -> {"srv-node2", "10.244.1.5"}
std::pair<std::string, std::string> split_answer(const std::string& a) {
  size_t sp = a.find(' ');
  if (sp == std::string::npos) return {a, ""};
  return {a.substr(0, sp), a.substr(sp + 1)};
}

std::string failure_text(const ProbeResult& r) {
  std::string s = r.error.empty() ? "unexpected answer \"" + r.answer + "\"" : r.error;
  return s + " (" + std::to_string(r.attempts) + " attempts)";
}

CheckRow row(std::string path, std::string from, std::string to) {
  CheckRow r;
  r.path = std::move(path);
  r.from = std::move(from);
  r.to = std::move(to);
  return r;
}

// A connection that must be answered by `want_name` (any server when empty) and, when `want_peer`
// is set, seen there from `want_peer`.
CheckRow answered(CheckRow r, const ProbeResult* p, const std::string& want_name,
                  const std::string& want_peer, const std::string& peer_meaning) {
  if (!p) {
    r.verdict = Verdict::kFail;
    r.detail = "no result";
    return r;
  }
  r.latency_ms = ms(*p);
  if (!p->ok) {
    r.verdict = Verdict::kFail;
    r.detail = failure_text(*p);
    return r;
  }
  auto [name, peer] = split_answer(p->answer);
  if (!want_name.empty() && name != want_name) {
    r.verdict = Verdict::kFail;
    r.detail = "answered by \"" + name + "\", not " + want_name;
  } else if (!want_peer.empty() && peer != want_peer) {
    r.verdict = Verdict::kFail;
    r.detail = "the server saw " + peer + ", not " + want_peer + " (" + peer_meaning + ")";
  } else {
    r.detail = "answered by " + name + ", client seen as " + peer;
  }
  return r;
}

CheckRow skipped(std::string path, std::string from, const Availability& a) {
  CheckRow r = row(std::move(path), std::move(from), "-");
  r.verdict = Verdict::kSkip;
  r.detail = "skipped: " + a.why_not;
  return r;
}

}  // namespace

const char* verdict_name(Verdict v) {
  return v == Verdict::kPass ? "pass" : v == Verdict::kFail ? "FAIL" : "skipped";
}

std::vector<ProbeTarget> client_targets(const CheckPlan& plan, const std::string& node) {
  std::vector<ProbeTarget> t;
  t.push_back(target("c2c", "127.0.0.1", kPeerPort));
  for (const auto& n : plan.nodes)
    if (auto it = plan.server_ip.find(n.name); it != plan.server_ip.end())
      t.push_back(target("pod:" + n.name, it->second, kServerPort));
  for (int k = 0; k < per_client(plan); ++k)
    t.push_back(target("cip:" + std::to_string(k), plan.cluster_ip, kServicePort));
  if (plan.dns.available)
    // Fully qualified (trailing dot): the search list would first try the node's own search
    // domains, which go upstream, and upstream may be unreachable from a test cluster.
    t.push_back(target("dns", "cip." + plan.ns + ".svc." + plan.cluster_domain + ".", kServicePort, true));
  if (plan.outside.available) {
    size_t colon = plan.outside_addr.rfind(':');
    t.push_back(target("egress", plan.outside_addr.substr(0, colon),
                       static_cast<uint16_t>(std::stoi(plan.outside_addr.substr(colon + 1)))));
  }
  if (plan.policy.available)
    if (auto it = plan.server_ip.find(node); it != plan.server_ip.end())
      t.push_back(target("deny", it->second, kDeniedPort, false, true));
  return t;
}

std::vector<ProbeTarget> node_targets(const CheckPlan& plan, const std::string&) {
  std::vector<ProbeTarget> t;
  for (const auto& n : plan.nodes)
    if (auto it = plan.server_ip.find(n.name); it != plan.server_ip.end())
      t.push_back(target("pod:" + n.name, it->second, kServerPort));
  return t;
}

std::vector<ProbeTarget> outside_targets(const CheckPlan& plan) {
  std::vector<ProbeTarget> t;
  for (const auto& n : plan.nodes) {
    if (plan.node_port) t.push_back(target("np:" + n.name, n.ip, plan.node_port));
    if (plan.local_node_port) t.push_back(target("local:" + n.name, n.ip, plan.local_node_port));
  }
  if (plan.lb.available && !plan.lb_ip.empty()) t.push_back(target("lb", plan.lb_ip, kServicePort));
  return t;
}

std::vector<CheckRow> judge(const CheckPlan& plan, const CheckResults& res) {
  std::vector<CheckRow> rows;
  std::map<std::string, int> backends;  // over every client's ClusterIP connections
  int cip_total = 0;
  for (const auto& n : plan.nodes) {
    const std::string from = "pod cli-" + n.name;
    auto it = res.client.find(n.name);
    if (it == res.client.end()) {
      CheckRow r = row("pod-to-pod (client pod)", from, "-");
      r.verdict = Verdict::kFail;
      auto m = res.missing.find("client/" + n.name);
      r.detail = "the client pod did not report: " + (m != res.missing.end() ? m->second : "no result");
      rows.push_back(r);
      continue;
    }
    const auto& rs = it->second;
    const std::string self = plan.client_ip.count(n.name) ? plan.client_ip.at(n.name) : "";
    rows.push_back(
        answered(row("container-to-container", from + "/probe", "cli-" + n.name + "/peer 127.0.0.1"),
                 find(rs, "c2c"), "peer", "127.0.0.1", "localhost inside the pod"));
    for (const auto& m : plan.nodes) {
      if (!plan.server_ip.count(m.name)) continue;
      bool same = m.name == n.name;
      rows.push_back(answered(row(same ? "pod-to-pod same node" : "pod-to-pod across nodes", from,
                                  "pod srv-" + m.name + " " + plan.server_ip.at(m.name)),
                              find(rs, "pod:" + m.name), "srv-" + m.name, self,
                              "NAT: the client's own pod IP must arrive"));
    }
    // ClusterIP: every connection answered, by a server, from the client's own IP.
    CheckRow cip = row("pod-to-ClusterIP", from, "svc cip " + plan.cluster_ip + ":80");
    std::vector<double> lat;
    std::map<std::string, int> seen;
    std::string bad;
    int n_ok = 0, n_all = 0, retried = 0;
    for (const auto& r : rs) {
      if (!r.key.starts_with("cip:")) continue;
      ++n_all;
      auto [name, peer] = split_answer(r.answer);
      if (r.ok && name.starts_with("srv-")) {
        ++n_ok;
        retried += r.attempts > 1;
        ++seen[name];
        ++backends[name];
        lat.push_back(ms(r));
        if (peer != self && bad.empty()) bad = "the server saw " + peer + ", not " + self;
      } else if (bad.empty()) {
        bad = failure_text(r);
      }
    }
    cip_total += n_ok;
    std::sort(lat.begin(), lat.end());
    if (!lat.empty()) cip.latency_ms = lat[lat.size() / 2];
    std::string by;
    for (const auto& [name, count] : seen)
      by += (by.empty() ? "" : ", ") + name + " x" + std::to_string(count);
    if (n_all == 0 || n_ok != n_all || !bad.empty()) {
      cip.verdict = Verdict::kFail;
      cip.detail =
          std::to_string(n_ok) + "/" + std::to_string(n_all) + " answered" + (bad.empty() ? "" : ": " + bad);
    } else {
      cip.detail = std::to_string(n_ok) + " connections, median latency; answered by " + by;
      if (retried > 0)
        cip.detail +=
            "; " + std::to_string(retried) + " only after a retry (an endpoint that does not answer?)";
    }
    rows.push_back(cip);
    if (!plan.dns.available) {
      rows.push_back(skipped("pod-to-Service by DNS name", from, plan.dns));
    } else {
      CheckRow r =
          answered(row("pod-to-Service by DNS name", from, "cip." + plan.ns + ".svc." + plan.cluster_domain),
                   find(rs, "dns"), "", self, "NAT");
      if (const ProbeResult* p = find(rs, "dns");
          r.verdict == Verdict::kFail && p && !p->ok && p->address == plan.cluster_ip)
        r.detail = "resolved to the ClusterIP " + p->address + ", then: " + r.detail;
      if (r.verdict == Verdict::kPass) {
        const ProbeResult* p = find(rs, "dns");
        if (p->address != plan.cluster_ip) {
          r.verdict = Verdict::kFail;
          r.detail = "resolved to " + p->address + ", not the ClusterIP " + plan.cluster_ip;
        } else {
          r.detail = "resolved to " + p->address + "; " + r.detail;
          if (r.latency_ms > 1000)
            r.detail += "; slow: over 1 s (a query lost and answered on the resolver's retry, 5 s in glibc?)";
        }
      }
      rows.push_back(r);
    }
    if (!plan.outside.available) {
      rows.push_back(skipped("egress masquerade", from, plan.outside));
    } else {
      CheckRow r = answered(row("egress masquerade", from, "outside " + plan.outside_addr),
                            find(rs, "egress"), "outside", n.ip, "egress must leave with the node's IP");
      rows.push_back(r);
    }
    if (!plan.policy.available) {
      rows.push_back(skipped("NetworkPolicy deny", from, plan.policy));
    } else if (plan.server_ip.count(n.name)) {
      CheckRow r = row("NetworkPolicy deny", from, "pod srv-" + n.name + " :" + std::to_string(kDeniedPort));
      const ProbeResult* p = find(rs, "deny");
      if (!p || !p->ok) {
        r.verdict = Verdict::kFail;
        r.detail = p ? "a port the policy does not allow answered: \"" + p->answer + "\"" : "no result";
      } else {
        r.latency_ms = ms(*p);
        r.detail = "blocked (" + p->error + ")";
      }
      rows.push_back(r);
    }
  }
  if (plan.nodes.size() >= 2) {
    CheckRow r = row("ClusterIP spread over nodes", "all client pods", "svc cip");
    std::string by;
    for (const auto& [name, count] : backends)
      by += (by.empty() ? "" : ", ") + name + " x" + std::to_string(count);
    size_t want = std::min<size_t>(plan.server_ip.size(), 2);
    if (backends.size() < want) {
      r.verdict = Verdict::kFail;
      r.detail = "only " + (by.empty() ? std::string("none") : by) + " answered " +
                 std::to_string(cip_total) + " connections";
    } else {
      r.detail = by;
    }
    rows.push_back(r);
  }
  for (const auto& n : plan.nodes) {
    const std::string from = "node " + n.name;
    auto it = res.node.find(n.name);
    if (it == res.node.end()) {
      CheckRow r = row("node-to-pod", from, "-");
      r.verdict = Verdict::kFail;
      auto m = res.missing.find("node/" + n.name);
      r.detail =
          "the hostNetwork probe pod did not report: " + (m != res.missing.end() ? m->second : "no result");
      rows.push_back(r);
      continue;
    }
    for (const auto& m : plan.nodes)
      if (plan.server_ip.count(m.name))
        rows.push_back(
            answered(row("node-to-pod", from, "pod srv-" + m.name + " " + plan.server_ip.at(m.name)),
                     find(it->second, "pod:" + m.name), "srv-" + m.name, "", ""));
  }
  const std::string here =
      "outside (" + (res.outside_local_addr.empty() ? "this machine" : res.outside_local_addr) + ")";
  for (const auto& n : plan.nodes) {
    if (plan.node_port)
      rows.push_back(answered(
          row("NodePort from outside", here, n.name + " " + n.ip + ":" + std::to_string(plan.node_port)),
          find(res.outside, "np:" + n.name), "", "", ""));
    if (plan.local_node_port)
      rows.push_back(answered(row("externalTrafficPolicy Local", here,
                                  n.name + " " + n.ip + ":" + std::to_string(plan.local_node_port)),
                              find(res.outside, "local:" + n.name),
                              plan.server_ip.count(n.name) ? "srv-" + n.name : "", res.outside_local_addr,
                              "Local must keep the client's address"));
  }
  if (!plan.lb.available)
    rows.push_back(skipped("LoadBalancer from outside", here, plan.lb));
  else
    rows.push_back(answered(row("LoadBalancer from outside", here, "svc ext " + plan.lb_ip + ":80"),
                            find(res.outside, "lb"), "", "", ""));
  return rows;
}

void diagnose(const CheckPlan& plan, std::vector<CheckRow>& rows) {
  auto failed = [&](const std::string& path, const std::string& from, const std::string& to_has) {
    for (const auto& r : rows)
      if (r.path == path && r.verdict == Verdict::kFail && (from.empty() || r.from == from) &&
          (to_has.empty() || r.to.find(to_has) != std::string::npos))
        return true;
    return false;
  };
  auto node_of_to = [&](const CheckRow& r) -> std::string {
    for (const auto& n : plan.nodes)
      if (r.to.find("srv-" + n.name + " ") != std::string::npos || r.to.starts_with(n.name + " "))
        return n.name;
    return "";
  };
  auto node_of_from = [&](const CheckRow& r) -> std::string {
    for (const auto& n : plan.nodes)
      if (r.from == "pod cli-" + n.name || r.from == "pod cli-" + n.name + "/probe" ||
          r.from == "node " + n.name)
        return n.name;
    return "";
  };
  // A node every cross-node path to or from fails is cut off (its underlay link or its agent).
  std::set<std::string> cut_off;
  if (plan.nodes.size() >= 2)
    for (const auto& n : plan.nodes) {
      bool all = true, any = false;
      for (const auto& r : rows) {
        if (r.path != "pod-to-pod across nodes") continue;
        std::string a = node_of_from(r), b = node_of_to(r);
        if (a != n.name && b != n.name) continue;
        any = true;
        all = all && r.verdict == Verdict::kFail;
      }
      if (any && all) cut_off.insert(n.name);
    }
  for (auto& r : rows) {
    if (r.verdict != Verdict::kFail || !r.hop.empty()) continue;
    const std::string a = node_of_from(r), b = node_of_to(r);
    if (r.to == "-") {  // the pod that was to probe from here never reported
      r.hop = "pods on " + a;
      r.cause = "the check's pod on " + a +
                " did not run: its agent is not starting pods (stopped, or cut off "
                "from the API server), or the podnet binary/image is missing there (use --image)";
    } else if (r.path == "pod-to-pod across nodes") {
      std::string gone = cut_off.count(b) ? b : cut_off.count(a) ? a : "";
      if (!gone.empty()) {
        r.hop = "underlay " + gone;
        r.cause = "every path across nodes to and from " + gone +
                  " fails: its underlay link, or its routes/VXLAN device (agent down?)";
      } else {
        r.hop = "tunnel " + a + " -> " + b;
        r.cause = "the route or VXLAN tunnel from " + a + " to " + b +
                  " (the fast path's tunnel map entry for " + b + " on " + a + ", or the kernel route)";
      }
    } else if (r.path == "pod-to-pod same node") {
      r.hop = "bridge/veth on " + a;
      r.cause = "the pods' veths or bridge on " + a + " (or a policy dropping the check's port)";
    } else if (r.path == "container-to-container") {
      r.hop = "loopback in pod cli-" + a;
      r.cause = "lo is down in the pod's namespace, or its second container did not start";
    } else if ((r.path == "node-to-pod" || r.path == "NodePort from outside" ||
                r.path == "externalTrafficPolicy Local") &&
               (cut_off.count(b) || cut_off.count(a))) {
      std::string gone = cut_off.count(b) ? b : a;
      r.hop = "underlay " + gone;
      r.cause = "every path across nodes to and from " + gone +
                " fails: its underlay link, or its routes/VXLAN device (agent down?)";
    } else if (r.path == "node-to-pod") {
      bool pods_fine = !failed("pod-to-pod across nodes", "pod cli-" + a, "srv-" + b + " ") &&
                       !failed("pod-to-pod same node", "pod cli-" + b, "");
      r.hop = "node " + a + " -> pod on " + b;
      r.cause = pods_fine ? "pods reach it, the node does not: the route from " + a +
                                "'s own namespace to the pod CIDR of " + b
                          : "the pod on " + b + " is not reachable at all (see pod-to-pod)";
    } else if (r.path == "pod-to-ClusterIP") {
      bool pods_fine =
          !failed("pod-to-pod across nodes", r.from, "") && !failed("pod-to-pod same node", r.from, "");
      r.hop = "service proxy on " + a;
      r.cause = pods_fine ? "the pods behind the Service answer directly: the ClusterIP rules on " + a +
                                " (nft table of the proxy) are missing or wrong"
                          : "pod-to-pod fails from here too: see those rows first";
    } else if (r.path == "pod-to-Service by DNS name") {
      r.hop = "cluster DNS on " + a;
      if (r.detail.starts_with("resolved to the ClusterIP")) r.hop = "Service cip (the name resolved)";
      r.cause =
          r.detail.starts_with("resolved to the ClusterIP")
              ? "DNS answered; the connection to the Service then failed: an endpoint on a broken node or "
                "the proxy (see the ClusterIP and pod-to-pod rows)"
          : failed("pod-to-ClusterIP", r.from, "")
              ? "the ClusterIP itself fails (see that row)"
              : "the name did not resolve to the ClusterIP: the node's DNS server or the pod's resolv.conf";
    } else if (r.path == "egress masquerade") {
      r.hop = "masquerade on " + a;
      r.cause = r.detail.find("saw") != std::string::npos
                    ? "traffic left without masquerade (the node's nft masquerade rule)"
                    : "no way out of the node: its default route or masquerade rule";
    } else if (r.path == "NetworkPolicy deny") {
      r.hop = "policy on " + a;
      r.cause =
          "the node does not enforce NetworkPolicy (agent run with --no-network-policy, or its table is "
          "missing)";
    } else if ((r.path == "NodePort from outside" || r.path == "externalTrafficPolicy Local") &&
               !plan.server_ip.count(b)) {
      r.hop = "node " + b;
      r.cause = "none of the check's pods started on " + b + " and its NodePort does not answer: " + b +
                " is cut off (underlay link, agent down)";
      if (r.path == "externalTrafficPolicy Local" && r.detail.find("timed out") == std::string::npos)
        r.cause = "no server pod runs on " + b + ", so Local has no endpoint there (see the server pod row)";
    } else if (r.path == "NodePort from outside" || r.path == "externalTrafficPolicy Local") {
      r.hop = "service proxy on " + b;
      r.cause =
          r.detail.find("saw") != std::string::npos
              ? "the client address was rewritten on " + b + " (Local must not masquerade)"
              : "NodePort rules on " + b + " (nft table of the proxy), or this machine cannot reach " + b;
    } else if (r.path == "LoadBalancer from outside") {
      r.hop = "LB announcement";
      r.cause = "the LB IP is not announced on the underlay, or the proxy's LB rules are missing";
    } else if (r.path == "ClusterIP spread over nodes") {
      r.hop = "service endpoints";
      r.cause =
          "the Service's EndpointSlices do not list every server pod, or the proxy picks one endpoint only";
    } else {
      r.hop = "node " + a;
      r.cause = "see the detail";
    }
  }
}

std::string format_table(const std::vector<CheckRow>& rows) {
  std::vector<std::vector<std::string>> cells{{"PATH", "FROM", "TO", "RESULT", "LATENCY", "DETAIL"}};
  for (const auto& r : rows) {
    char lat[32] = "-";
    if (r.latency_ms >= 0) std::snprintf(lat, sizeof lat, "%.2f ms", r.latency_ms);
    std::string detail = r.detail;
    if (r.verdict == Verdict::kFail) detail += " [hop: " + r.hop + "; likely: " + r.cause + "]";
    cells.push_back({r.path, r.from, r.to, verdict_name(r.verdict), lat, detail});
  }
  std::vector<size_t> width(6, 0);
  for (const auto& c : cells)
    for (size_t i = 0; i + 1 < c.size(); ++i) width[i] = std::max(width[i], c[i].size());
  std::string out;
  for (const auto& c : cells) {
    for (size_t i = 0; i < c.size(); ++i) {
      out += c[i];
      if (i + 1 < c.size()) out += std::string(width[i] - c[i].size() + 2, ' ');
    }
    out += "\n";
  }
  return out;
}

std::string format_json(const CheckPlan& plan, const std::vector<CheckRow>& rows, double seconds) {
  json::array results;
  int failed = 0, skipped = 0;
  for (const auto& r : rows) {
    json::object o{{"path", r.path},
                   {"from", r.from},
                   {"to", r.to},
                   {"result", r.verdict == Verdict::kPass   ? "pass"
                              : r.verdict == Verdict::kFail ? "fail"
                                                            : "skipped"},
                   {"detail", r.detail}};
    if (r.latency_ms >= 0) o["latencyMs"] = r.latency_ms;
    if (r.verdict == Verdict::kFail) {
      o["hop"] = r.hop;
      o["cause"] = r.cause;
      ++failed;
    }
    if (r.verdict == Verdict::kSkip) ++skipped;
    results.push_back(std::move(o));
  }
  json::object top{{"namespace", plan.ns},         {"nodes", static_cast<int64_t>(plan.nodes.size())},
                   {"passed", failed == 0},        {"failed", failed},
                   {"skipped", skipped},           {"seconds", seconds},
                   {"results", std::move(results)}};
  return json::serialize(top) + "\n";
}

}  // namespace podnet::troubleshoot
