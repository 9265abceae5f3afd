// `podnet status --graph`'s picture without a cluster: API lists in, an SVG out through Graphviz,
// parsed as XML; every node and pod name is in it, Services point at their endpoints, and names
// that try to break out of DOT's quoting stay text.
#include "troubleshoot/cluster_graph.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <boost/property_tree/ptree.hpp>
#include <boost/property_tree/xml_parser.hpp>
#include <functional>
#include <sstream>

#include "common/files.h"
#include "support/temp_dir.h"

namespace podnet::troubleshoot {
namespace {

namespace json = boost::json;
namespace pt = boost::property_tree;

json::value list(json::array items) {
  return json::object{{"items", std::move(items)}};
}
json::value node(const std::string& name, const std::string& ip, const std::string& cidr) {
  return json::object{
      {"metadata", {{"name", name}}},
      {"spec", {{"podCIDR", cidr}}},
      {"status", {{"addresses", json::array{json::object{{"type", "InternalIP"}, {"address", ip}}}}}}};
}
json::value pod(const std::string& name, const std::string& node, const std::string& ip) {
  return json::object{{"metadata", {{"name", name}, {"namespace", "default"}}},
                      {"spec", {{"nodeName", node}}},
                      {"status", {{"podIP", ip}}}};
}

// Every <text> of the SVG, as parsed XML.
std::vector<std::string> svg_texts(const std::string& path) {
  pt::ptree tree;
  pt::read_xml(path, tree);
  std::vector<std::string> out;
  std::function<void(const pt::ptree&)> walk = [&](const pt::ptree& t) {
    for (const auto& [key, child] : t) {
      if (key == "text") out.push_back(child.get_value<std::string>());
      walk(child);
    }
  };
  walk(tree);
  return out;
}

TEST(ClusterGraph, SvgNamesEveryNodeAndPodAndLinksServicesToEndpoints) {
  ClusterObjects o;
  o.overlay = "vxlan";
  o.nodes =
      list({node("node1", "192.168.5.11", "10.244.0.0/24"), node("node2", "192.168.5.12", "10.244.1.0/24")});
  o.pods = list({pod("web-1", "node1", "10.244.0.5"), pod("web-2", "node2", "10.244.1.7"),
                 pod("evil\"];x->y[label=\"z\\", "node2", "10.244.1.8"), pod("pending", "", "")});
  o.services = list({json::object{{"metadata", {{"name", "web"}, {"namespace", "default"}}},
                                  {"spec", {{"type", "ClusterIP"}, {"clusterIP", "10.96.0.20"}}}}});
  o.endpoint_slices = list({json::object{
      {"metadata", {{"namespace", "default"}, {"labels", {{"kubernetes.io/service-name", "web"}}}}},
      {"endpoints", json::array{json::object{{"addresses", json::array{"10.244.0.5"}},
                                             {"targetRef", {{"kind", "Pod"}, {"name", "web-1"}}}},
                                json::object{{"addresses", json::array{"10.244.1.7"}}}}}}});
  std::string dot = cluster_dot(o);
  EXPECT_NE(dot.find("svc0 -> pod0"), std::string::npos) << dot;  // by targetRef
  EXPECT_NE(dot.find("svc0 -> pod1"), std::string::npos) << dot;  // by address
  testing::TempDir dir("pn-graph");
  const std::string svg = dir.path() + "/cluster.svg";
  auto st = render_graph(dot, svg);
  ASSERT_TRUE(st) << st.error().message();
  auto texts = svg_texts(svg);
  std::string all;
  for (const auto& t : texts) all += t + "\n";
  // The hostile name is one text line of its pod, not DOT: no node "x" or "y" appeared.
  for (const std::string want : {"node node1", "node node2", "web-1", "web-2", "pending", "svc web", "vxlan",
                                 "pod CIDR 10.244.1.0/24", "evil\"];x->y[label=\"z\\"})
    EXPECT_NE(all.find(want + "\n"), std::string::npos) << want << " not in:\n" << all;
  for (const auto& t : texts) EXPECT_TRUE(t != "x" && t != "y") << all;
}

TEST(ClusterGraph, EmptyAndMalformedListsStillDraw) {
  ClusterObjects o;
  o.nodes = json::value("not a list");
  o.pods = list({json::value(5), json::object{{"metadata", 1}}});
  testing::TempDir dir("pn-graph");
  EXPECT_TRUE(render_graph(cluster_dot(o), dir.path() + "/g.svg"));
  EXPECT_FALSE(render_graph("digraph {", dir.path() + "/bad.svg"));
}

}  // namespace
}  // namespace podnet::troubleshoot
