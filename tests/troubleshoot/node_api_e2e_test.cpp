// The node API (agent/node_api.h) on a 2-node `podnet up` cluster, reached the only way it can be:
// through the API server's nodes/<name>/proxy, with the real kubectl. The admin reads node1's
// routes, VXLAN FDB, fast-path entries and the proxy's nftables table; the answers name node2's
// pod range, tunnel and address. A node's credential is refused (403), as are other paths than the
// node API, foreign tables and malformed queries (400/404), before anything reaches the kernel.
#include <boost/json.hpp>
#include <chrono>

#include "support/kubectl.h"
#include "support/up_cluster.h"

namespace podnet::testing {
namespace {

namespace json = boost::json;
using Clock = std::chrono::steady_clock;

class NodeApiE2E : public ::testing::Test {
 protected:
  CommandResult raw(const std::string& path, const std::string& kubeconfig = "") {
    return shell(std::string(kKubectl) + " --kubeconfig " +
                 (kubeconfig.empty() ? c_.kubeconfig() : kubeconfig) + " --request-timeout=20s get --raw '" +
                 path + "' 2>&1");
  }
  json::value get(const std::string& path) {
    auto r = raw(path);
    EXPECT_EQ(r.rc, 0) << path << ": " << r.out;
    json::error_code ec;
    json::value v = json::parse(r.out, ec);
    EXPECT_FALSE(ec) << path << ": " << r.out.substr(0, 400);
    return v;
  }
  UpCluster c_;
};

TEST_F(NodeApiE2E, AdminReadsNodeDatapathThroughNodesProxyAndNodesCannot) {
  if (!have_agent()) GTEST_SKIP() << "podnet agent is not in this build";
  if (std::string why = kubectl_missing(); !why.empty()) GTEST_SKIP() << why;
  auto up = c_.up(2, "--overlay vxlan --timeout 120");
  ASSERT_EQ(up.rc, 0) << up.out;
  auto cidr = c_.kubectl("get node node2 -o jsonpath={.spec.podCIDR}");
  ASSERT_EQ(cidr.rc, 0) << cidr.out;
  std::string pod_ip = cidr.out.substr(0, cidr.out.rfind('.')) + ".7";  // an address in node2's range
  const std::string base = "/api/v1/nodes/node1/proxy/podnet/v1/";

  auto start = Clock::now();
  json::value routes = get(base + "routes?dst=" + pod_ip);
  double ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
  std::printf("node API routes query through nodes/proxy (kubectl included): %.0f ms\n", ms);
  ASSERT_TRUE(routes.is_object());
  const auto& match = routes.at("match");
  ASSERT_TRUE(match.is_object()) << json::serialize(routes);
  EXPECT_EQ(match.at("dst").as_string(), cidr.out.substr(0, cidr.out.find('\n'))) << json::serialize(match);
  EXPECT_EQ(match.at("dev").as_string(), "pnvx0") << json::serialize(match);

  json::value fdb = get(base + "fdb");
  ASSERT_TRUE(fdb.is_object());
  bool node2_vtep = false;
  for (const auto& e : fdb.at("entries").as_array())
    node2_vtep |= e.as_object().contains("dst") && e.at("dst").as_string() == c_.node_ip(2);
  EXPECT_TRUE(node2_vtep) << json::serialize(fdb);

  json::value fp = get(base + "fastpath?dst=" + pod_ip);
  ASSERT_TRUE(fp.is_object());
  if (fp.at("enabled").as_bool()) {
    ASSERT_TRUE(fp.at("tunnel").is_object()) << json::serialize(fp);
    EXPECT_EQ(fp.at("tunnel").at("node_ip").as_string(), c_.node_ip(2));
    EXPECT_TRUE(fp.at("pod").is_null());  // not a pod of node1
    EXPECT_TRUE(fp.at("stats").as_object().contains("encap"));
  }

  json::value nft = get(base + "nft?family=ip&table=podnet-proxy");
  ASSERT_TRUE(nft.is_object());
  EXPECT_NE(json::serialize(nft).find("\"table\""), std::string::npos) << json::serialize(nft).substr(0, 400);

  // Refusals, each with kube's status and a reason.
  auto node_cred = raw(base + "routes", c_.layout().node_kubeconfig(1));
  EXPECT_NE(node_cred.rc, 0);
  EXPECT_NE(node_cred.out.find("Forbidden"), std::string::npos) << node_cred.out;
  auto other_node = raw("/api/v1/nodes/node2/proxy/podnet/v1/routes", c_.layout().node_kubeconfig(1));
  EXPECT_NE(other_node.out.find("Forbidden"), std::string::npos) << other_node.out;
  auto foreign = raw(base + "nft?family=ip&table=filter");
  EXPECT_NE(foreign.out.find("only podnet's own tables"), std::string::npos) << foreign.out;
  auto exec = raw("/api/v1/nodes/node1/proxy/exec/default/x/c?command=true");
  EXPECT_NE(exec.out.find("NotFound"), std::string::npos) << exec.out;
  auto nonode = raw("/api/v1/nodes/node9/proxy/podnet/v1/routes");
  EXPECT_NE(nonode.out.find("NotFound"), std::string::npos) << nonode.out;
  auto unknown = raw(base + "nothing");
  EXPECT_NE(unknown.out.find("unknown node API path"), std::string::npos) << unknown.out;
}

}  // namespace
}  // namespace podnet::testing
