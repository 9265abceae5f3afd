// `kubectl auth can-i` and `kubectl auth whoami` against the real binary, as the admin and as a node:
// every answer is cross-checked against the request it predicts (done for real: allowed, or 403),
// and the review APIs are checked over raw HTTP for kube's shapes and errors.
#include <functional>
#include <sstream>

#include "node_credential_fixture.h"

namespace podnet::apiserver::testing {
namespace {

namespace json = boost::json;

class AccessReviewTest : public NodeCredentialTest {
 protected:
  AccessReviewTest() : NodeCredentialTest("pn-access-review") {}

  void SetUp() override {
    NodeCredentialTest::SetUp();
    if (HasFatalFailure()) return;
    ASSERT_EQ(as_node("node1").post("/api/v1/nodes", node("node1")).status, 201);
    ASSERT_EQ(admin().post("/api/v1/nodes", node("node2")).status, 201);
    ASSERT_EQ(admin().post("/api/v1/namespaces/default/pods", pod("mine", "node1")).status, 201);
    ASSERT_EQ(admin().post("/api/v1/namespaces/default/pods", pod("theirs", "node2")).status, 201);
  }

  static json::value node(const std::string& name) {
    return json::object{{"apiVersion", "v1"}, {"kind", "Node"}, {"metadata", {{"name", name}}}};
  }
  static json::value pod(const std::string& name, const std::string& on) {
    return json::object{
        {"apiVersion", "v1"},
        {"kind", "Pod"},
        {"metadata", {{"name", name}}},
        {"spec", {{"nodeName", on}, {"containers", json::array{{{"name", "c"}, {"image", "nginx"}}}}}}};
  }

  // kubectl auth can-i ARGS: true for "yes" (exit 0), false for "no" (exit 1).
  bool can_i(const std::vector<std::string>& args, const std::string& kubeconfig) {
    std::vector<std::string> argv{"auth", "can-i"};
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = kubectl(argv, kubeconfig);
    // The answer is the last line; kubectl may warn before it (a cluster-scoped resource with the
    // context's namespace).
    std::string answer = r.out;
    while (!answer.empty() && answer.back() == '\n') answer.pop_back();
    answer =
        answer.substr(answer.find_last_of('\n') == std::string::npos ? 0 : answer.find_last_of('\n') + 1);
    EXPECT_TRUE((r.code == 0 && answer == "yes") || (r.code == 1 && answer.starts_with("no")))
        << r.code << " " << r.out;
    return r.code == 0;
  }

  struct Prediction {
    std::vector<std::string> can_i;
    std::function<HttpResult(TlsClient&)> request;
  };

  // Each can-i answer against the real request: "yes" exactly when the request is not a 403.
  void cross_check(const std::vector<Prediction>& predictions, TlsClient client,
                   const std::string& kubeconfig) {
    for (const auto& p : predictions) {
      std::string what;
      for (const auto& a : p.can_i) what += a + " ";
      bool predicted = can_i(p.can_i, kubeconfig);
      HttpResult r = p.request(client);
      ASSERT_NE(r.status, 0) << r.error;
      EXPECT_EQ(predicted, r.status != 403) << "can-i " << what << "said " << (predicted ? "yes" : "no")
                                            << "; the request answered " << r.status << " " << r.body;
    }
  }

  static HttpResult review(TlsClient c, const std::string& plural, const std::string& body) {
    std::string group = plural == "selfsubjectreviews" ? "authentication.k8s.io" : "authorization.k8s.io";
    return c.request(http::verb::post, "/apis/" + group + "/v1/" + plural, body);
  }
};

TEST_F(AccessReviewTest, CanIPredictsWhatANodeMayDo) {
  if (!have_kubectl()) GTEST_FAIL() << "no kubectl at " << podnet::testing::kKubectl;
  const std::string pods = "/api/v1/namespaces/default/pods";
  const std::string event = R"({"apiVersion":"v1","kind":"Event","metadata":{"name":"e1"},)"
                            R"("involvedObject":{"kind":"Pod","namespace":"default","name":"mine"},)"
                            R"("reason":"Started"})";
  const std::vector<Prediction> predictions{
      {{"list", "pods"}, [&](TlsClient& c) { return c.get(pods); }},
      {{"list", "pods", "-A"}, [](TlsClient& c) { return c.get("/api/v1/pods"); }},
      {{"get", "services"}, [](TlsClient& c) { return c.get("/api/v1/namespaces/default/services"); }},
      {{"create", "pods"}, [&](TlsClient& c) { return c.post(pods, pod("new", "node1")); }},
      {{"patch", "pods/mine", "--subresource=status"},
       [&](TlsClient& c) { return patch(c, pods + "/mine/status", R"({"status":{"phase":"Running"}})"); }},
      {{"patch", "pods/theirs", "--subresource=status"},
       [&](TlsClient& c) { return patch(c, pods + "/theirs/status", R"({"status":{"phase":"Running"}})"); }},
      {{"patch", "pods/mine"},
       [&](TlsClient& c) { return patch(c, pods + "/mine", R"({"metadata":{"labels":{"a":"b"}}})"); }},
      // An event about its own pod, while the pod is there (NodeRestriction judges events by it).
      {{"create", "events"},
       [&](TlsClient& c) { return c.post("/api/v1/namespaces/default/events", json::parse(event)); }},
      {{"delete", "pods/theirs"}, [&](TlsClient& c) { return c.del(pods + "/theirs"); }},
      {{"patch", "nodes/node1"},
       [](TlsClient& c) {
         return patch(c, "/api/v1/nodes/node1", R"({"metadata":{"labels":{"team":"a"}}})");
       }},
      {{"patch", "nodes/node2"},
       [](TlsClient& c) {
         return patch(c, "/api/v1/nodes/node2", R"({"metadata":{"labels":{"team":"a"}}})");
       }},
      {{"patch", "nodes/node1", "--subresource=status"},
       [](TlsClient& c) {
         return patch(c, "/api/v1/nodes/node1/status",
                      R"({"status":{"conditions":[{"type":"Ready","status":"True"}]}})");
       }},
      {{"update", "nodes/node2", "--subresource=status"},
       [](TlsClient& c) { return patch(c, "/api/v1/nodes/node2/status", R"({"status":{}})"); }},
      {{"delete", "nodes/node1"}, [](TlsClient& c) { return c.del("/api/v1/nodes/node1"); }},
      {{"create", "namespaces"},
       [](TlsClient& c) {
         return c.post("/api/v1/namespaces",
                       json::parse(R"({"apiVersion":"v1","kind":"Namespace","metadata":{"name":"x"}})"));
       }},
      {{"list", "networkpolicies"},
       [](TlsClient& c) { return c.get("/apis/networking.k8s.io/v1/namespaces/default/networkpolicies"); }},
      {{"get", "/metrics"}, [](TlsClient& c) { return c.get("/metrics"); }},
      {{"get", "/version"}, [](TlsClient& c) { return c.get("/version"); }},
      {{"create", "subjectaccessreviews"},
       [](TlsClient& c) {
         return review(c, "subjectaccessreviews",
                       R"({"spec":{"user":"x","resourceAttributes":{"verb":"get","resource":"pods"}}})");
       }},
  };
  cross_check(predictions, as_node("node1"), node_kubeconfig("node1"));
}

// What a policy agent reads, cluster-wide, and nothing it could change policy with.
TEST_F(AccessReviewTest, NodeReadsPoliciesPodsAndNamespacesEverywhereAndWritesNone) {
  if (!have_kubectl()) GTEST_FAIL() << "no kubectl at " << podnet::testing::kKubectl;
  const std::string node1 = node_kubeconfig("node1");
  for (const char* resource : {"pods", "namespaces", "networkpolicies", "networkpolicies.networking.k8s.io"})
    for (const char* verb : {"get", "list", "watch"}) {
      EXPECT_TRUE(can_i({verb, resource, "-A"}, node1)) << verb << " " << resource;
      EXPECT_TRUE(can_i({verb, resource, "-n", "kube-system"}, node1)) << verb << " " << resource;
    }
  for (const char* verb : {"create", "update", "patch", "delete", "deletecollection"})
    EXPECT_FALSE(can_i({verb, "networkpolicies", "-n", "default"}, node1)) << verb;
  for (const char* other :
       {"secrets", "configmaps", "ingresses.networking.k8s.io", "roles.rbac.authorization.k8s.io"})
    EXPECT_FALSE(can_i({"list", other, "-A"}, node1)) << other;
  EXPECT_FALSE(can_i({"create", "namespaces"}, node1));
  EXPECT_FALSE(can_i({"delete", "namespaces/default"}, node1));

  // The answers hold for the requests themselves.
  ASSERT_EQ(admin()
                .post("/apis/networking.k8s.io/v1/namespaces/default/networkpolicies",
                      json::parse(R"({"apiVersion":"networking.k8s.io/v1","kind":"NetworkPolicy",)"
                                  R"("metadata":{"name":"deny"},"spec":{"podSelector":{}}})"))
                .status,
            201);
  auto n1 = as_node("node1");
  auto all = n1.get("/apis/networking.k8s.io/v1/networkpolicies");
  ASSERT_EQ(all.status, 200) << all.body;
  EXPECT_EQ(str(all.json().at("items").at(0), {"metadata", "name"}), "deny") << all.body;
  EXPECT_EQ(n1.get("/apis/networking.k8s.io/v1/namespaces/default/networkpolicies/deny").status, 200);
  EXPECT_EQ(n1.get("/api/v1/namespaces").status, 200);
  EXPECT_EQ(n1.del("/apis/networking.k8s.io/v1/namespaces/default/networkpolicies/deny").status, 403);
  EXPECT_EQ(n1.post("/apis/networking.k8s.io/v1/namespaces/default/networkpolicies",
                    json::parse(R"({"apiVersion":"networking.k8s.io/v1","kind":"NetworkPolicy",)"
                                R"("metadata":{"name":"allow"},"spec":{"podSelector":{}}})"))
                .status,
            403);
}

TEST_F(AccessReviewTest, CanIPredictsWhatTheAdminMayDo) {
  if (!have_kubectl()) GTEST_FAIL() << "no kubectl at " << podnet::testing::kKubectl;
  const std::vector<Prediction> predictions{
      {{"get", "/metrics"}, [](TlsClient& c) { return c.get("/metrics"); }},
      {{"create", "namespaces"},
       [](TlsClient& c) {
         return c.post("/api/v1/namespaces",
                       json::parse(R"({"apiVersion":"v1","kind":"Namespace","metadata":{"name":"x"}})"));
       }},
      {{"patch", "pods/theirs", "--subresource=status"},
       [](TlsClient& c) {
         return patch(c, "/api/v1/namespaces/default/pods/theirs/status",
                      R"({"status":{"phase":"Running"}})");
       }},
      {{"create", "subjectaccessreviews"},
       [](TlsClient& c) {
         return review(c, "subjectaccessreviews",
                       R"({"spec":{"user":"x","resourceAttributes":{"verb":"get","resource":"pods"}}})");
       }},
      {{"delete", "nodes/node2"}, [](TlsClient& c) { return c.del("/api/v1/nodes/node2"); }},
  };
  cross_check(predictions, admin(), server_.kubeconfig());
  EXPECT_TRUE(can_i({"*", "*"}, server_.kubeconfig()));
}

TEST_F(AccessReviewTest, CanIListAndWhoAmI) {
  if (!have_kubectl()) GTEST_FAIL() << "no kubectl at " << podnet::testing::kKubectl;
  const std::string node1 = node_kubeconfig("node1");
  auto list = kubectl({"auth", "can-i", "--list"}, node1);
  ASSERT_EQ(list.code, 0) << list.out;
  EXPECT_NE(
      list.out.find("Warning: the list may be incomplete: the status and deletion of pods bound to node "
                    "\"node1\" are decided per pod and not listed"),
      std::string::npos)
      << list.out;
  // kubectl's table: Resources, Non-Resource URLs, Resource Names, Verbs.
  auto row = [&](std::vector<std::string> cells) {
    std::istringstream lines(list.out);
    for (std::string line; std::getline(lines, line);) {
      if (!line.starts_with(cells[0] + " ")) continue;
      bool all = true;
      for (const auto& cell : cells) all = all && line.find(cell) != std::string::npos;
      if (all) return true;
    }
    return false;
  };
  EXPECT_TRUE(row({"nodes/status", "[node1]", "[update patch]"})) << list.out;
  EXPECT_TRUE(row({"nodes", "[node1]", "[create update patch]"})) << list.out;
  EXPECT_TRUE(row({"pods", "[]", "[get list watch]"})) << list.out;
  EXPECT_TRUE(row({"events", "[]", "[create update patch]"})) << list.out;
  EXPECT_TRUE(row({"networkpolicies.networking.k8s.io", "[]", "[get list watch]"})) << list.out;
  EXPECT_TRUE(row({"namespaces", "[]", "[get list watch]"})) << list.out;
  EXPECT_TRUE(row({"selfsubjectaccessreviews.authorization.k8s.io", "[create]"})) << list.out;
  EXPECT_NE(list.out.find("[/version]"), std::string::npos) << list.out;
  EXPECT_EQ(list.out.find("[/metrics]"), std::string::npos) << list.out;
  auto admin_list = kubectl({"auth", "can-i", "--list"});
  ASSERT_EQ(admin_list.code, 0) << admin_list.out;
  EXPECT_NE(admin_list.out.find("*.*"), std::string::npos) << admin_list.out;

  auto me = kubectl({"auth", "whoami", "-o", "json"}, node1);
  ASSERT_EQ(me.code, 0) << me.out;
  json::value who = json::parse(me.out);
  EXPECT_EQ(str(who, {"kind"}), "SelfSubjectReview");
  EXPECT_EQ(str(who, {"status", "userInfo", "username"}), "system:node:node1");
  EXPECT_EQ(str(who, {"status", "userInfo", "groups"}), R"(["system:nodes","system:authenticated"])");
  auto admin_me = kubectl({"auth", "whoami"});
  ASSERT_EQ(admin_me.code, 0) << admin_me.out;
  EXPECT_NE(admin_me.out.find("podnet-admin"), std::string::npos) << admin_me.out;
  EXPECT_NE(admin_me.out.find("[system:masters system:authenticated]"), std::string::npos) << admin_me.out;
}

TEST_F(AccessReviewTest, ReviewsOverRawHttp) {
  auto n1 = as_node("node1");
  // A node asks about itself: the object-level check against the pod's node, with kube's reason.
  auto mine =
      review(n1, "selfsubjectaccessreviews",
             R"({"apiVersion":"authorization.k8s.io/v1","kind":"SelfSubjectAccessReview",)"
             R"("metadata":{"creationTimestamp":null},"spec":{"resourceAttributes":{"namespace":"default",)"
             R"("verb":"patch","resource":"pods","subresource":"status","name":"mine"}}})");
  ASSERT_EQ(mine.status, 201) << mine.body;
  EXPECT_EQ(str(mine.json(), {"kind"}), "SelfSubjectAccessReview");
  EXPECT_EQ(str(mine.json(), {"apiVersion"}), "authorization.k8s.io/v1");
  EXPECT_EQ(str(mine.json(), {"spec", "resourceAttributes", "name"}), "mine");
  EXPECT_EQ(str(mine.json(), {"status"}), R"({"allowed":true})");
  auto theirs =
      review(n1, "selfsubjectaccessreviews",
             R"({"spec":{"resourceAttributes":{"namespace":"default","verb":"patch","resource":"pods",)"
             R"("subresource":"status","name":"theirs"}}})");
  ASSERT_EQ(theirs.status, 201) << theirs.body;
  EXPECT_EQ(str(theirs.json(), {"status"}),
            R"({"allowed":false,"reason":"no relationship found between node 'node1' and this object"})");
  auto path = review(n1, "selfsubjectaccessreviews",
                     R"({"spec":{"nonResourceAttributes":{"path":"/metrics","verb":"get"}}})");
  EXPECT_EQ(str(path.json(), {"status", "allowed"}), "false") << path.body;

  // The admin asks about someone else; a node may not.
  auto about_node = review(admin(), "subjectaccessreviews",
                           R"({"spec":{"user":"system:node:node1","groups":["system:nodes"],)"
                           R"("resourceAttributes":{"verb":"patch","resource":"nodes","name":"node1"}}})");
  ASSERT_EQ(about_node.status, 201) << about_node.body;
  EXPECT_EQ(str(about_node.json(), {"status", "allowed"}), "true");
  auto without_group = review(admin(), "subjectaccessreviews",
                              R"({"spec":{"user":"system:node:node1",)"
                              R"("resourceAttributes":{"verb":"patch","resource":"nodes","name":"node1"}}})");
  EXPECT_EQ(str(without_group.json(), {"status", "allowed"}), "false") << "exactly the groups it names";
  auto refused = review(n1, "subjectaccessreviews",
                        R"({"spec":{"user":"alice","resourceAttributes":{"verb":"get","resource":"pods"}}})");
  EXPECT_EQ(refused.status, 403);
  EXPECT_EQ(
      str(refused.json(), {"message"}),
      "subjectaccessreviews.authorization.k8s.io is forbidden: User \"system:node:node1\" cannot create "
      "resource \"subjectaccessreviews\" in API group \"authorization.k8s.io\" at the cluster scope");

  // kube's validation.
  auto empty = review(n1, "selfsubjectaccessreviews", R"({"spec":{}})");
  EXPECT_EQ(empty.status, 422);
  EXPECT_EQ(
      str(empty.json(), {"message"}),
      "SelfSubjectAccessReview.authorization.k8s.io \"\" is invalid: spec.resourceAttributes: Invalid value: "
      "\"null\": exactly one of nonResourceAttributes or resourceAttributes must be specified");
  auto both = review(
      admin(), "subjectaccessreviews",
      R"({"spec":{"resourceAttributes":{"verb":"get"},"nonResourceAttributes":{"path":"/x","verb":"get"}}})");
  EXPECT_EQ(both.status, 422);
  EXPECT_EQ(
      str(both.json(), {"message"}),
      "SubjectAccessReview.authorization.k8s.io \"\" is invalid: [spec.nonResourceAttributes: Invalid value: "
      "authorization.NonResourceAttributes{Path:\"/x\", Verb:\"get\"}: cannot be specified in combination "
      "with "
      "resourceAttributes, spec.user: Invalid value: \"\": at least one of user or group must be specified]");
  auto named = review(n1, "selfsubjectaccessreviews",
                      R"({"metadata":{"name":"x"},"spec":{"resourceAttributes":{"verb":"get"}}})");
  EXPECT_EQ(named.status, 422) << named.body;
  auto wrong = review(n1, "selfsubjectaccessreviews", R"({"spec":{"resourceAttributes":"pods"}})");
  EXPECT_EQ(wrong.status, 400) << wrong.body;
  auto kind = review(n1, "selfsubjectaccessreviews", R"({"kind":"SubjectAccessReview","spec":{}})");
  EXPECT_EQ(kind.status, 400) << kind.body;
  auto rules = review(n1, "selfsubjectrulesreviews", R"({"spec":{}})");
  EXPECT_EQ(rules.status, 400);
  EXPECT_EQ(str(rules.json(), {"message"}), "no namespace on request");
  auto listed = n1.get("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews");
  EXPECT_EQ(listed.status, 403) << "only create is anyone's";
  auto admin_get = admin().get("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews");
  EXPECT_EQ(admin_get.status, 405) << admin_get.body;
  auto anonymous = review(TlsClient(server_.port(), server_.ca(), std::nullopt), "selfsubjectreviews", "{}");
  EXPECT_EQ(anonymous.status, 401);

  auto whoami = review(n1, "selfsubjectreviews",
                       R"({"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"})");
  ASSERT_EQ(whoami.status, 201) << whoami.body;
  EXPECT_EQ(str(whoami.json(), {"status", "userInfo"}),
            R"({"username":"system:node:node1","groups":["system:nodes","system:authenticated"]})");

  // Discovery names them, with the one verb they have.
  EXPECT_NE(admin().get("/apis").body.find(R"("name":"authorization.k8s.io")"), std::string::npos);
  auto group = n1.get("/apis/authorization.k8s.io/v1");
  ASSERT_EQ(group.status, 200);
  EXPECT_NE(group.body.find(R"({"name":"selfsubjectaccessreviews","singularName":"selfsubjectaccessreview",)"
                            R"("namespaced":false,"kind":"SelfSubjectAccessReview","verbs":["create"]})"),
            std::string::npos)
      << group.body;
  EXPECT_EQ(n1.get("/apis/authentication.k8s.io/v1").status, 200);
}

TEST_F(AccessReviewTest, PythonClientAsksToo) {
  auto py = python(R"(
from kubernetes import client, config
config.load_kube_config()
api = client.AuthorizationV1Api()
for name in ("mine", "theirs"):
    review = client.V1SelfSubjectAccessReview(spec=client.V1SelfSubjectAccessReviewSpec(
        resource_attributes=client.V1ResourceAttributes(namespace="default", verb="patch", resource="pods",
                                                        subresource="status", name=name)))
    print(name, api.create_self_subject_access_review(review).status.allowed)
)",
                   node_kubeconfig("node1"));
  EXPECT_EQ(py.rc, 0) << py.out;
  EXPECT_EQ(py.out, "mine True\ntheirs False\n");
}

}  // namespace
}  // namespace podnet::apiserver::testing
