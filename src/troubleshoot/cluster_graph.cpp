#include "troubleshoot/cluster_graph.h"

#include <graphviz/cgraph.h>
#include <graphviz/gvc.h>

#include <boost/json.hpp>
#include <map>
#include <mutex>
#include <set>

#include "k8s/json_fields.h"

namespace podnet::troubleshoot {
namespace json = boost::json;

namespace {

using k8s::fields::at;
using k8s::fields::string_at;
const json::array& items(const json::value& list) {
  static const json::array empty;
  const json::value* i = at(list, {"items"});
  return i && i->is_array() ? i->get_array() : empty;
}

// A DOT double-quoted string: quotes and backslashes escaped, control characters dropped; "\n"
// (two characters) in `s` is a line break for Graphviz.
std::string q(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) < 0x20) continue;
    out += c;
  }
  return out + "\"";
}
std::string label(std::initializer_list<std::string> lines) {
  std::string s;
  for (const auto& l : lines) {
    if (l.empty()) continue;
    std::string e = q(l);
    s += (s.empty() ? "" : "\\n") + e.substr(1, e.size() - 2);
  }
  return "\"" + s + "\"";
}

}  // namespace

std::string cluster_dot(const ClusterObjects& o) {
  std::string dot =
      "digraph cluster {\n  rankdir=LR; compound=true; fontname=\"Helvetica\";\n"
      "  node [fontname=\"Helvetica\", fontsize=10]; edge [fontname=\"Helvetica\", fontsize=9];\n";
  std::vector<std::string> nodes;
  std::map<std::string, std::vector<const json::value*>> pods_on;
  std::map<std::string, std::string> pod_id;  // "ns/name" and pod IP -> graph id
  int n_pod = 0;
  for (const auto& p : items(o.pods)) {
    std::string node = string_at(p, {"spec", "nodeName"});
    pods_on[node].push_back(&p);
  }
  int n_node = 0;
  for (const auto& n : items(o.nodes)) {
    std::string name = string_at(n, {"metadata", "name"}), ip;
    if (const json::value* a = at(n, {"status", "addresses"}); a && a->is_array())
      for (const auto& addr : a->get_array())
        if (string_at(addr, {"type"}) == "InternalIP") ip = string_at(addr, {"address"});
    const std::string id = "node" + std::to_string(n_node++);
    nodes.push_back(id);
    dot += "  subgraph cluster_" + id +
           " {\n    label=" + label({"node " + name, ip, "pod CIDR " + string_at(n, {"spec", "podCIDR"})}) +
           "; style=rounded; color=\"#4a6fa5\";\n";
    dot += "    " + id + " [shape=point, width=0.01, label=\"\"];\n";
    for (const json::value* p : pods_on[name]) {
      const std::string pid = "pod" + std::to_string(n_pod++);
      std::string ns = string_at(*p, {"metadata", "namespace"}), pname = string_at(*p, {"metadata", "name"});
      std::string pip = string_at(*p, {"status", "podIP"});
      pod_id[ns + "/" + pname] = pid;
      if (!pip.empty() && !at(*p, {"spec", "hostNetwork"})) pod_id[pip] = pid;
      dot += "    " + pid + " [shape=box, style=\"rounded,filled\", fillcolor=\"#e8f0fa\", label=" +
             label({pname, ns, pip}) + "];\n";
    }
    pods_on.erase(name);
    dot += "  }\n";
  }
  for (const auto& [node, list] : pods_on)  // pods of no (known) node: pending
    for (const json::value* p : list) {
      const std::string pid = "pod" + std::to_string(n_pod++);
      std::string ns = string_at(*p, {"metadata", "namespace"}), pname = string_at(*p, {"metadata", "name"});
      pod_id[ns + "/" + pname] = pid;
      dot += "  " + pid + " [shape=box, style=dashed, label=" + label({pname, ns, "not on a node"}) + "];\n";
    }
  // Tunnels: every node pair (the overlay is a full mesh).
  for (size_t i = 0; i < nodes.size(); ++i)
    for (size_t j = i + 1; j < nodes.size(); ++j)
      dot += "  " + nodes[i] + " -> " + nodes[j] +
             " [dir=both, style=dashed, color=\"#888888\", ltail=cluster_" + nodes[i] + ", lhead=cluster_" +
             nodes[j] + ", label=" + q(o.overlay.empty() ? "tunnel" : o.overlay) + "];\n";
  std::map<std::string, std::string> svc_id;
  int n_svc = 0;
  for (const auto& s : items(o.services)) {
    std::string ns = string_at(s, {"metadata", "namespace"}), name = string_at(s, {"metadata", "name"});
    const std::string sid = "svc" + std::to_string(n_svc++);
    svc_id[ns + "/" + name] = sid;
    std::string lb;
    if (const json::value* in = at(s, {"status", "loadBalancer", "ingress"}); in && in->is_array())
      for (const auto& i : in->get_array()) lb += (lb.empty() ? "LB " : ", ") + string_at(i, {"ip"});
    dot += "  " + sid + " [shape=ellipse, style=filled, fillcolor=\"#fdf1d8\", label=" +
           label({"svc " + name, ns,
                  string_at(s, {"spec", "type"}) + " " + string_at(s, {"spec", "clusterIP"}), lb}) +
           "];\n";
  }
  std::set<std::pair<std::string, std::string>> edges;
  for (const auto& es : items(o.endpoint_slices)) {
    std::string ns = string_at(es, {"metadata", "namespace"});
    std::string svc = string_at(es, {"metadata", "labels", "kubernetes.io/service-name"});
    auto s = svc_id.find(ns + "/" + svc);
    const json::value* eps = at(es, {"endpoints"});
    if (s == svc_id.end() || !eps || !eps->is_array()) continue;
    for (const auto& e : eps->get_array()) {
      std::string target = string_at(e, {"targetRef", "name"});
      auto p = pod_id.find(ns + "/" + target);
      if (p == pod_id.end())
        if (const json::value* a = at(e, {"addresses"});
            a && a->is_array() && !a->get_array().empty() && a->get_array()[0].is_string())
          p = pod_id.find(std::string(a->get_array()[0].get_string()));
      if (p != pod_id.end() && edges.insert({s->second, p->second}).second)
        dot += "  " + s->second + " -> " + p->second + " [color=\"#c77d00\"];\n";
    }
  }
  return dot + "}\n";
}

Status render_graph(const std::string& dot, const std::string& path, const std::string& format) {
  // libgvc keeps global state (plugins, error handler): one render at a time.
  static std::mutex mu;
  std::lock_guard l(mu);
  GVC_t* gvc = gvContext();
  if (!gvc) return fail_msg("graphviz: no context");
  Agraph_t* g = agmemread(dot.c_str());
  if (!g) {
    gvFreeContext(gvc);
    return fail_msg("graphviz: the graph did not parse");
  }
  Status result;
  if (gvLayout(gvc, g, "dot") != 0) {
    result = fail_msg("graphviz: layout failed");
  } else {
    if (gvRenderFilename(gvc, g, format.c_str(), path.c_str()) != 0)
      result = fail_msg("graphviz: render " + format + " to " + path + " failed");
    gvFreeLayout(gvc, g);
  }
  agclose(g);
  gvFreeContext(gvc);
  return result;
}

}  // namespace podnet::troubleshoot
