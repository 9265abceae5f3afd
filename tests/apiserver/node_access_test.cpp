// A node agent's credential against the real server: what system:node:<name> may and may not do,
// over real TLS with the certificate `--issue-node-credential` signs.
#include "api_fixture.h"
#include "apiserver/auth/node_credential.h"
#include "client/kubeconfig.h"

namespace podnet::apiserver::testing {
namespace {

namespace json = boost::json;

class NodeAccessTest : public ApiServerTest {
 protected:
  TlsClient node(const std::string& name) {
    std::string path = dir_.path() + "/" + name + ".kubeconfig";
    auto written = write_node_kubeconfig(server_->pki_dir(), name,
                                         "https://127.0.0.1:" + std::to_string(server_->port()), path);
    EXPECT_TRUE(written) << written.error().message();
    auto access = client::load_kubeconfig(path);
    EXPECT_TRUE(access) << access.error().message();
    return TlsClient(server_->port(), ca_pem_, KeyPair{access->client_cert_pem, access->client_key_pem});
  }

  static json::value node_object(const std::string& name) {
    return json::object{{"apiVersion", "v1"}, {"kind", "Node"}, {"metadata", {{"name", name}}}};
  }

  static json::value bound_pod(const std::string& name, const std::string& node) {
    json::value p = pod(name);
    p.at("spec").as_object()["nodeName"] = node;
    return p;
  }

  static HttpResult merge_patch(TlsClient c, const std::string& target, const std::string& body) {
    return c.request(http::verb::patch, target, body, "application/merge-patch+json");
  }
};

TEST_F(NodeAccessTest, CredentialNamesTheNode) {
  std::string path = dir_.path() + "/n.kubeconfig";
  ASSERT_TRUE(write_node_kubeconfig(server_->pki_dir(), "node7", "https://127.0.0.1:1", path));
  auto access = client::load_kubeconfig(path);
  ASSERT_TRUE(access) << access.error().message();
  EXPECT_EQ(access->server, "https://127.0.0.1:1");
  auto subject = certificate_subject(access->client_cert_pem);
  ASSERT_TRUE(subject);
  EXPECT_EQ(subject->common_name, "system:node:node7");
  EXPECT_EQ(subject->organizations, std::vector<std::string>{"system:nodes"});
  EXPECT_FALSE(write_node_kubeconfig(server_->pki_dir(), "Bad_Name", "https://x", path));
  EXPECT_FALSE(write_node_kubeconfig(dir_.path() + "/no-pki", "node7", "https://x", path));
}

TEST_F(NodeAccessTest, NodeReadsWhatAnAgentWatches) {
  for (const char* path : {"/api/v1/services", "/api/v1/pods", "/api/v1/nodes", "/api/v1/namespaces",
                           "/apis/discovery.k8s.io/v1/endpointslices", "/api/v1/namespaces/default/services",
                           "/api", "/apis", "/version"}) {
    auto r = node("node1").get(path);
    EXPECT_EQ(r.status, 200) << path << " " << r.body;
  }
  auto watch = node("node1").watch("/api/v1/pods?watch=true&fieldSelector=spec.nodeName%3Dnode1");
  ASSERT_TRUE(watch);
  EXPECT_EQ(watch->status(), 200);
  for (const char* path : {"/api/v1/events", "/metrics"}) {
    auto r = node("node1").get(path);
    EXPECT_EQ(r.status, 403) << path << " " << r.body;
    EXPECT_EQ(str(r.json(), {"reason"}), "Forbidden") << path;
  }
}

TEST_F(NodeAccessTest, NodeWritesOnlyItsOwnNode) {
  auto n1 = node("node1");
  auto created = n1.post("/api/v1/nodes", node_object("node1"));
  EXPECT_EQ(created.status, 201) << created.body;
  auto other = n1.post("/api/v1/nodes", node_object("node2"));
  EXPECT_EQ(other.status, 403) << other.body;
  EXPECT_EQ(admin().get("/api/v1/nodes/node2").status, 404) << "nothing stored for a refused create";

  create("/api/v1/nodes", node_object("node2"));
  auto own = merge_patch(n1, "/api/v1/nodes/node1", R"({"metadata":{"labels":{"a":"b"}}})");
  EXPECT_EQ(own.status, 200) << own.body;
  auto own_status = merge_patch(n1, "/api/v1/nodes/node1/status",
                                R"({"status":{"addresses":[{"type":"InternalIP","address":"10.0.0.1"}]}})");
  EXPECT_EQ(own_status.status, 200) << own_status.body;

  auto theirs = merge_patch(n1, "/api/v1/nodes/node2", R"({"metadata":{"labels":{"a":"b"}}})");
  ASSERT_EQ(theirs.status, 403) << theirs.body;
  json::value st = theirs.json();
  EXPECT_EQ(str(st, {"kind"}), "Status");
  EXPECT_EQ(str(st, {"message"}),
            "nodes \"node2\" is forbidden: User \"system:node:node1\" cannot patch resource \"nodes\" in API "
            "group \"\" at the cluster scope");
  EXPECT_EQ(str(st, {"details", "name"}), "node2");
  EXPECT_EQ(str(st, {"details", "kind"}), "nodes");
  EXPECT_EQ(merge_patch(n1, "/api/v1/nodes/node2/status", R"({"status":{}})").status, 403);
  EXPECT_EQ(n1.del("/api/v1/nodes/node1").status, 403);
  EXPECT_EQ(str(admin().get("/api/v1/nodes/node2").json(), {"metadata", "labels"}), "")
      << "a refused patch changes nothing";
}

TEST_F(NodeAccessTest, NodeWritesStatusOfItsOwnPodsOnly) {
  create("/api/v1/namespaces/default/pods", bound_pod("mine", "node1"));
  create("/api/v1/namespaces/default/pods", bound_pod("theirs", "node2"));
  auto n1 = node("node1");
  auto mine =
      merge_patch(n1, "/api/v1/namespaces/default/pods/mine/status", R"({"status":{"phase":"Running"}})");
  EXPECT_EQ(mine.status, 200) << mine.body;
  EXPECT_EQ(str(mine.json(), {"status", "phase"}), "Running");
  auto theirs =
      merge_patch(n1, "/api/v1/namespaces/default/pods/theirs/status", R"({"status":{"phase":"Running"}})");
  EXPECT_EQ(theirs.status, 403) << theirs.body;
  EXPECT_EQ(
      str(theirs.json(), {"message"}),
      "pods \"theirs\" is forbidden: User \"system:node:node1\" cannot patch resource \"pods/status\" in "
      "API group \"\" in the namespace \"default\"");
  EXPECT_EQ(
      merge_patch(n1, "/api/v1/namespaces/default/pods/mine", R"({"metadata":{"labels":{"x":"y"}}})").status,
      403)
      << "only the status of its pods";
  EXPECT_EQ(n1.post("/api/v1/namespaces/default/pods", pod("new")).status, 403);
  EXPECT_EQ(n1.del("/api/v1/namespaces/default/pods/theirs?gracePeriodSeconds=0").status, 403);
  EXPECT_EQ(n1.del("/api/v1/namespaces/default/pods/mine?gracePeriodSeconds=0").status, 200);
  EXPECT_EQ(admin().get("/api/v1/namespaces/default/pods/mine").status, 404);

  // Events: only about itself or its own pods (NodeRestriction), not about another node's pod.
  json::value event =
      json::object{{"apiVersion", "v1"},
                   {"kind", "Event"},
                   {"metadata", {{"name", "e1"}}},
                   {"involvedObject", {{"kind", "Pod"}, {"namespace", "default"}, {"name", "theirs"}}},
                   {"reason", "Started"}};
  EXPECT_EQ(n1.post("/api/v1/namespaces/default/events", event).status, 403);
  json::value own = json::object{{"apiVersion", "v1"},
                                 {"kind", "Event"},
                                 {"metadata", {{"name", "node1.1"}}},
                                 {"involvedObject", {{"kind", "Node"}, {"name", "node1"}}},
                                 {"reason", "Starting"}};
  EXPECT_EQ(n1.post("/api/v1/namespaces/default/events", own).status, 201);
}

TEST_F(NodeAccessTest, OtherUsersOfTheCaGetNothing) {
  auto ca = read_file(server_->pki_dir() + "/ca.crt");
  auto key = read_file(server_->pki_dir() + "/ca.key");
  ASSERT_TRUE(ca && key);
  CertRequest req{"alice", {"developers"}};
  req.client_auth = true;
  auto alice = make_leaf(KeyPair{*ca, *key}, req);
  ASSERT_TRUE(alice);
  TlsClient c(server_->port(), ca_pem_, *alice);
  EXPECT_EQ(c.get("/version").status, 200);
  auto r = c.get("/api/v1/namespaces/default/pods");
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(
      str(r.json(), {"message"}),
      "pods is forbidden: User \"alice\" cannot list resource \"pods\" in API group \"\" in the namespace "
      "\"default\"");
}

}  // namespace
}  // namespace podnet::apiserver::testing
