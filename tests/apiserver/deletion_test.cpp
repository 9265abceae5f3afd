// Deletion over HTTP: finalizers hold an object until they are removed, bound pods terminate
// gracefully until their node deletes them with grace 0, deletecollection honours selectors, and
// metadata.generation follows spec changes.
#include "api_fixture.h"

namespace podnet::apiserver::testing {
namespace {

namespace json = boost::json;
constexpr const char* kPods = "/api/v1/namespaces/default/pods";
constexpr const char* kServices = "/api/v1/namespaces/default/services";

json::value service(const std::string& name, json::array finalizers = {}, json::object labels = {}) {
  json::object meta{{"name", name}, {"labels", std::move(labels)}};
  if (!finalizers.empty()) meta["finalizers"] = std::move(finalizers);
  return json::object{{"apiVersion", "v1"},
                      {"kind", "Service"},
                      {"metadata", std::move(meta)},
                      {"spec", {{"ports", json::array{{{"port", 80}}}}}}};
}

class DeletionTest : public ApiServerTest {
 protected:
  HttpResult merge_patch(const std::string& target, const std::string& body) {
    return admin().request(http::verb::patch, target, body, "application/merge-patch+json");
  }
  HttpResult del(const std::string& target, const std::string& body = "") {
    return admin().request(http::verb::delete_, target, body);
  }
  json::value bound_pod(const std::string& name, std::optional<int> grace = std::nullopt) {
    json::value p = pod(name, {{"app", "web"}});
    p.at("spec").as_object()["nodeName"] = "node1";
    if (grace) p.at("spec").as_object()["terminationGracePeriodSeconds"] = *grace;
    return create(kPods, p);
  }
};

TEST_F(DeletionTest, FinalizersHoldTheObjectUntilRemoved) {
  create(kServices, service("held", {"example.com/a", "example.com/b"}));
  auto deleted = del(std::string(kServices) + "/held");
  ASSERT_EQ(deleted.status, 200) << deleted.body;
  EXPECT_EQ(str(deleted.json(), {"kind"}), "Service") << "a pending deletion answers with the object";
  EXPECT_NE(str(deleted.json(), {"metadata", "deletionTimestamp"}), "");
  EXPECT_EQ(str(deleted.json(), {"metadata", "deletionGracePeriodSeconds"}), "0");

  auto still = admin().get(std::string(kServices) + "/held");
  ASSERT_EQ(still.status, 200);
  std::string ts = str(still.json(), {"metadata", "deletionTimestamp"});
  EXPECT_NE(ts, "");

  // The timestamp is the server's: a client cannot clear it, nor add finalizers now.
  auto cleared = merge_patch(std::string(kServices) + "/held", R"({"metadata":{"deletionTimestamp":null}})");
  EXPECT_EQ(cleared.status, 200) << cleared.body;
  EXPECT_EQ(str(cleared.json(), {"metadata", "deletionTimestamp"}), ts);
  auto added =
      merge_patch(std::string(kServices) + "/held",
                  R"({"metadata":{"finalizers":["example.com/a","example.com/b","example.com/c"]}})");
  EXPECT_EQ(added.status, 422) << added.body;
  EXPECT_NE(added.body.find("no new finalizers can be added if the object is being deleted"),
            std::string::npos);

  // A second DELETE changes nothing.
  EXPECT_EQ(del(std::string(kServices) + "/held").status, 200);
  auto one_left =
      merge_patch(std::string(kServices) + "/held", R"({"metadata":{"finalizers":["example.com/b"]}})");
  EXPECT_EQ(one_left.status, 200) << one_left.body;
  EXPECT_EQ(admin().get(std::string(kServices) + "/held").status, 200);

  auto watch = admin().watch(std::string(kServices) + "?watch=true&resourceVersion=" +
                             str(one_left.json(), {"metadata", "resourceVersion"}));
  auto none_left = merge_patch(std::string(kServices) + "/held", R"({"metadata":{"finalizers":null}})");
  EXPECT_EQ(none_left.status, 200) << none_left.body;
  EXPECT_EQ(admin().get(std::string(kServices) + "/held").status, 404)
      << "the last finalizer's removal deletes it";
  auto event = watch->next();
  ASSERT_TRUE(event);
  EXPECT_EQ(str(*event, {"type"}), "DELETED");
}

TEST_F(DeletionTest, FinalizersWithoutDeletionAreJustMetadata) {
  create(kServices, service("kept", {"example.com/a"}));
  auto removed = merge_patch(std::string(kServices) + "/kept", R"({"metadata":{"finalizers":null}})");
  EXPECT_EQ(removed.status, 200);
  EXPECT_EQ(admin().get(std::string(kServices) + "/kept").status, 200);
  auto deleted = del(std::string(kServices) + "/kept");
  EXPECT_EQ(deleted.status, 200);
  EXPECT_EQ(str(deleted.json(), {"kind"}), "Status");
  EXPECT_EQ(str(deleted.json(), {"status"}), "Success");
}

TEST_F(DeletionTest, BoundPodTerminatesGracefullyUntilItsNodeDeletesIt) {
  bound_pod("web", 20);
  auto deleted = del(std::string(kPods) + "/web");
  ASSERT_EQ(deleted.status, 200) << deleted.body;
  json::value obj = deleted.json();
  EXPECT_EQ(str(obj, {"kind"}), "Pod");
  EXPECT_EQ(str(obj, {"metadata", "deletionGracePeriodSeconds"}), "20") << "the pod's own period";
  EXPECT_NE(str(obj, {"metadata", "deletionTimestamp"}), "");
  EXPECT_EQ(str(obj, {"metadata", "generation"}), "2") << "marking a deletion is a spec-level change";
  ASSERT_EQ(admin().get(std::string(kPods) + "/web").status, 200) << "kept while its containers stop";

  // Deleting again with a longer period changes nothing; a shorter one moves the deadline.
  auto longer = del(std::string(kPods) + "/web", R"({"gracePeriodSeconds":60})");
  EXPECT_EQ(str(longer.json(), {"metadata", "deletionGracePeriodSeconds"}), "20");
  auto shorter = del(std::string(kPods) + "/web?gracePeriodSeconds=5");
  EXPECT_EQ(str(shorter.json(), {"metadata", "deletionGracePeriodSeconds"}), "5");
  EXPECT_LT(str(shorter.json(), {"metadata", "deletionTimestamp"}),
            str(obj, {"metadata", "deletionTimestamp"}));

  // Status updates still work while it terminates (the agent reports the containers stopping).
  EXPECT_EQ(admin()
                .request(http::verb::patch, std::string(kPods) + "/web/status",
                         R"({"status":{"phase":"Running"}})", "application/merge-patch+json")
                .status,
            200);
  ASSERT_EQ(admin().get(std::string(kPods) + "/web").status, 200);

  auto final_delete = del(std::string(kPods) + "/web", R"({"kind":"DeleteOptions","gracePeriodSeconds":0})");
  EXPECT_EQ(final_delete.status, 200) << final_delete.body;
  EXPECT_EQ(admin().get(std::string(kPods) + "/web").status, 404);
}

TEST_F(DeletionTest, DefaultGraceIsThirtySeconds) {
  bound_pod("web");
  auto deleted = del(std::string(kPods) + "/web");
  EXPECT_EQ(str(deleted.json(), {"metadata", "deletionGracePeriodSeconds"}), "30");
}

TEST_F(DeletionTest, UnboundFinishedOrGraceZeroPodsGoAtOnce) {
  create(kPods, pod("unbound"));
  auto r = del(std::string(kPods) + "/unbound");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(str(r.json(), {"kind"}), "Pod");
  EXPECT_EQ(admin().get(std::string(kPods) + "/unbound").status, 404);

  bound_pod("finished");
  ASSERT_EQ(admin()
                .request(http::verb::patch, std::string(kPods) + "/finished/status",
                         R"({"status":{"phase":"Succeeded"}})", "application/merge-patch+json")
                .status,
            200);
  EXPECT_EQ(del(std::string(kPods) + "/finished").status, 200);
  EXPECT_EQ(admin().get(std::string(kPods) + "/finished").status, 404);

  bound_pod("forced");
  EXPECT_EQ(del(std::string(kPods) + "/forced?gracePeriodSeconds=0").status, 200);
  EXPECT_EQ(admin().get(std::string(kPods) + "/forced").status, 404);
}

TEST_F(DeletionTest, GracefulPodWithFinalizerWaitsForBoth) {
  json::value p = pod("both");
  p.at("spec").as_object()["nodeName"] = "node1";
  p.at("metadata").as_object()["finalizers"] = json::array{"example.com/f"};
  create(kPods, p);
  EXPECT_EQ(del(std::string(kPods) + "/both").status, 200);
  // Removing the finalizer during the grace period does not delete: the node has not finished.
  ASSERT_EQ(merge_patch(std::string(kPods) + "/both", R"({"metadata":{"finalizers":null}})").status, 200);
  EXPECT_EQ(admin().get(std::string(kPods) + "/both").status, 200);
  EXPECT_EQ(del(std::string(kPods) + "/both?gracePeriodSeconds=0").status, 200);
  EXPECT_EQ(admin().get(std::string(kPods) + "/both").status, 404);
}

TEST_F(DeletionTest, PreconditionsAreChecked) {
  auto svc = create(kServices, service("pre"));
  auto wrong_uid = del(std::string(kServices) + "/pre", R"({"preconditions":{"uid":"nope"}})");
  EXPECT_EQ(wrong_uid.status, 409) << wrong_uid.body;
  auto wrong_rv = del(std::string(kServices) + "/pre", R"({"preconditions":{"resourceVersion":"1"}})");
  EXPECT_EQ(wrong_rv.status, 409) << wrong_rv.body;
  EXPECT_EQ(admin().get(std::string(kServices) + "/pre").status, 200);
  auto right = del(std::string(kServices) + "/pre",
                   R"({"preconditions":{"uid":")" + str(svc, {"metadata", "uid"}) + R"("}})");
  EXPECT_EQ(right.status, 200) << right.body;
  EXPECT_EQ(del(std::string(kServices) + "/pre", "{not json").status, 400);
}

TEST_F(DeletionTest, DeleteCollectionHonoursSelectors) {
  create(kServices, service("a1", {}, {{"app", "a"}}));
  create(kServices, service("a2", {}, {{"app", "a"}}));
  create(kServices, service("b1", {}, {{"app", "b"}}));
  auto r = del(std::string(kServices) + "?labelSelector=app%3Da");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(str(r.json(), {"kind"}), "ServiceList");
  EXPECT_EQ(r.json().at("items").as_array().size(), 2u);
  EXPECT_EQ(admin().get(std::string(kServices) + "/a1").status, 404);
  EXPECT_EQ(admin().get(std::string(kServices) + "/a2").status, 404);
  EXPECT_EQ(admin().get(std::string(kServices) + "/b1").status, 200);

  auto by_field = del(std::string(kServices) + "?fieldSelector=metadata.name%3Db1");
  ASSERT_EQ(by_field.status, 200) << by_field.body;
  EXPECT_EQ(admin().get(std::string(kServices) + "/b1").status, 404);

  // Bound pods in a collection terminate gracefully like single ones.
  bound_pod("p1");
  create(kPods, pod("p2", {{"app", "web"}}));
  auto pods = del(std::string(kPods) + "?labelSelector=app%3Dweb");
  ASSERT_EQ(pods.status, 200) << pods.body;
  EXPECT_EQ(admin().get(std::string(kPods) + "/p1").status, 200);
  EXPECT_EQ(admin().get(std::string(kPods) + "/p2").status, 404);

  EXPECT_EQ(del("/api/v1/namespaces").status, 405) << "namespaces have no deletecollection, as in kube";
  auto discovery = admin().get("/api/v1");
  EXPECT_NE(discovery.body.find("deletecollection"), std::string::npos);
  EXPECT_NE(discovery.body.find("\"pods/log\""), std::string::npos);
}

TEST_F(DeletionTest, GenerationFollowsSpec) {
  auto svc = create(kServices, service("gen"));
  EXPECT_EQ(str(svc, {"metadata", "generation"}), "1");
  auto labelled = merge_patch(std::string(kServices) + "/gen", R"({"metadata":{"labels":{"x":"y"}}})");
  EXPECT_EQ(str(labelled.json(), {"metadata", "generation"}), "1") << "metadata is not spec";
  auto respec = merge_patch(std::string(kServices) + "/gen", R"({"spec":{"sessionAffinity":"ClientIP"}})");
  EXPECT_EQ(str(respec.json(), {"metadata", "generation"}), "2");
  auto status = admin().request(http::verb::patch, std::string(kServices) + "/gen/status",
                                R"({"status":{"loadBalancer":{}}})", "application/merge-patch+json");
  EXPECT_EQ(str(status.json(), {"metadata", "generation"}), "2");
  auto forged = merge_patch(std::string(kServices) + "/gen", R"({"metadata":{"generation":40}})");
  EXPECT_EQ(str(forged.json(), {"metadata", "generation"}), "2") << "generation is the server's";
  json::value ns = json::object{{"metadata", {{"name", "nospec"}}}};
  EXPECT_EQ(str(create("/api/v1/namespaces", ns), {"metadata", "generation"}), "");
}

}  // namespace
}  // namespace podnet::apiserver::testing
