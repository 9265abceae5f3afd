// REST semantics over HTTPS: create/get/list/update/patch/delete, Status errors with kube's
// reasons and codes, optimistic concurrency, selectors, pagination, size limit, malformed input.
#include "api_fixture.h"

namespace podnet::apiserver::testing {
namespace {

namespace json = boost::json;
const std::string kPods = "/api/v1/namespaces/default/pods";

TEST_F(ApiServerTest, CreateFillsMetadataAndGetReturnsIt) {
  auto created = create(kPods, pod("web-1"));
  EXPECT_EQ(str(created, {"metadata", "namespace"}), "default");
  EXPECT_FALSE(str(created, {"metadata", "uid"}).empty());
  EXPECT_FALSE(str(created, {"metadata", "creationTimestamp"}).empty());
  EXPECT_FALSE(str(created, {"metadata", "resourceVersion"}).empty());
  EXPECT_EQ(str(created, {"status", "phase"}), "Pending");

  auto got = admin().get(kPods + "/web-1");
  ASSERT_EQ(got.status, 200);
  EXPECT_EQ(got.json(), created);
}

TEST_F(ApiServerTest, ListItemsAreWhatGetReturns) {
  // A LIST without selectors copies stored JSON and splices resourceVersion in: every item must still
  // equal its GET, also when an annotation's text looks like a metadata object.
  json::value tricky = pod("tricky");
  tricky.as_object()["metadata"].as_object()["annotations"] =
      json::object{{"note", R"({"metadata":{"resourceVersion":"1"}} \" })"}};
  create(kPods, tricky);
  create(kPods, pod("plain", {{"app", "web"}}));
  auto patched =
      admin().request(http::verb::patch, kPods + "/plain", R"({"metadata":{"labels":{"tier":"front"}}})",
                      "application/merge-patch+json");
  ASSERT_EQ(patched.status, 200);
  auto list = admin().get(kPods);
  ASSERT_EQ(list.status, 200);
  const json::value body = list.json();
  const json::array& items = body.at("items").as_array();
  ASSERT_EQ(items.size(), 2u);
  for (const auto& item : items) {
    std::string name = str(item, {"metadata", "name"});
    auto got = admin().get(kPods + "/" + name);
    ASSERT_EQ(got.status, 200);
    EXPECT_EQ(item, got.json()) << name;
  }
  EXPECT_FALSE(str(body, {"metadata", "resourceVersion"}).empty());
}

TEST_F(ApiServerTest, GenerateName) {
  json::value p = pod("");
  p.as_object()["metadata"].as_object().erase("name");
  p.as_object()["metadata"].as_object()["generateName"] = "web-";
  auto created = create(kPods, p);
  std::string name = str(created, {"metadata", "name"});
  EXPECT_TRUE(name.starts_with("web-") && name.size() == 9) << name;
}

TEST_F(ApiServerTest, ErrorsAreStatusObjects) {
  auto missing = admin().get(kPods + "/nope");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(str(missing.json(), {"reason"}), "NotFound");
  EXPECT_EQ(str(missing.json(), {"message"}), "pods \"nope\" not found");
  EXPECT_EQ(str(missing.json(), {"details", "name"}), "nope");

  create(kPods, pod("dup"));
  auto dup = admin().post(kPods, pod("dup"));
  EXPECT_EQ(dup.status, 409);
  EXPECT_EQ(str(dup.json(), {"reason"}), "AlreadyExists");

  auto bad_name = admin().post(kPods, pod("Bad_Name"));
  EXPECT_EQ(bad_name.status, 422);
  EXPECT_EQ(str(bad_name.json(), {"reason"}), "Invalid");
  EXPECT_EQ(str(bad_name.json(), {"details", "causes"}).find("metadata.name") != std::string::npos, true);

  auto bad_label = admin().post(kPods, pod("l", {{"app", "not ok"}}));
  EXPECT_EQ(bad_label.status, 422) << bad_label.body;
  EXPECT_NE(bad_label.body.find("metadata.labels"), std::string::npos);

  auto no_ns = admin().post("/api/v1/namespaces/ghost/pods", pod("x"));
  EXPECT_EQ(no_ns.status, 404);
  EXPECT_EQ(str(no_ns.json(), {"message"}), "namespaces \"ghost\" not found");
}

TEST_F(ApiServerTest, ServiceNamesAreDns1035Labels) {
  json::value svc = {
      {"apiVersion", "v1"}, {"kind", "Service"}, {"metadata", {{"name", "1web"}}}, {"spec", json::object{}}};
  auto r = admin().post("/api/v1/namespaces/default/services", svc);
  EXPECT_EQ(r.status, 422) << r.body;
  EXPECT_NE(r.body.find("DNS-1035"), std::string::npos);
}

TEST_F(ApiServerTest, KindAndApiVersionMustMatchTheUrl) {
  json::value p = pod("x");
  p.as_object()["kind"] = "Service";
  EXPECT_EQ(admin().post(kPods, p).status, 400);
  p = pod("x");
  p.as_object()["apiVersion"] = "apps/v1";
  EXPECT_EQ(admin().post(kPods, p).status, 400);
  EXPECT_EQ(admin().get(kPods + "/x").status, 404);
}

TEST_F(ApiServerTest, MalformedJsonIs400AndWrongMediaTypeIs415) {
  auto r = admin().request(http::verb::post, kPods, "{\"kind\": ", "application/json");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(str(r.json(), {"reason"}), "BadRequest");
  auto yaml = admin().request(http::verb::post, kPods, "kind: Pod", "application/yaml");
  EXPECT_EQ(yaml.status, 415);
  EXPECT_EQ(str(yaml.json(), {"reason"}), "UnsupportedMediaType");
}

TEST_F(ApiServerTest, BodyOverTheLimitIs413AndNothingIsStored) {
  json::value p = pod("big");
  p.as_object()["metadata"].as_object()["annotations"] = {{"blob", std::string(kTestBodyLimit + 10, 'a')}};
  auto r = admin().post(kPods, p);
  EXPECT_EQ(r.status, 413) << r.error;
  EXPECT_EQ(str(r.json(), {"reason"}), "RequestEntityTooLarge");
  EXPECT_EQ(admin().get(kPods + "/big").status, 404);
}

TEST_F(ApiServerTest, UpdateWithStaleResourceVersionIsConflict) {
  auto v1 = create(kPods, pod("web"));
  json::value v2 = v1;
  v2.as_object()["metadata"].as_object()["labels"] = {{"a", "1"}};
  auto ok = admin().put(kPods + "/web", v2);
  ASSERT_EQ(ok.status, 200) << ok.body;
  EXPECT_NE(str(ok.json(), {"metadata", "resourceVersion"}), str(v1, {"metadata", "resourceVersion"}));

  json::value stale = v1;  // still carries the first resourceVersion
  stale.as_object()["metadata"].as_object()["labels"] = {{"a", "2"}};
  auto conflict = admin().put(kPods + "/web", stale);
  EXPECT_EQ(conflict.status, 409);
  EXPECT_EQ(str(conflict.json(), {"reason"}), "Conflict");
  EXPECT_EQ(str(admin().get(kPods + "/web").json(), {"metadata", "labels", "a"}), "1");
}

TEST_F(ApiServerTest, MainResourceIgnoresStatusAndStatusSubresourceOnlyStatus) {
  auto created = create(kPods, pod("s"));
  json::value edit = created;
  edit.as_object()["status"] = {{"phase", "Running"}};
  edit.as_object()["metadata"].as_object()["labels"] = {{"changed", "yes"}};
  auto main = admin().put(kPods + "/s", edit);
  ASSERT_EQ(main.status, 200) << main.body;
  EXPECT_EQ(str(main.json(), {"status", "phase"}), "Pending");
  EXPECT_EQ(str(main.json(), {"metadata", "labels", "changed"}), "yes");

  edit = main.json();
  edit.as_object()["status"] = {{"phase", "Running"}};
  edit.as_object()["metadata"].as_object()["labels"] = {{"changed", "no"}};
  auto status = admin().put(kPods + "/s/status", edit);
  ASSERT_EQ(status.status, 200) << status.body;
  EXPECT_EQ(str(status.json(), {"status", "phase"}), "Running");
  EXPECT_EQ(str(status.json(), {"metadata", "labels", "changed"}), "yes");
}

TEST_F(ApiServerTest, MergeAndJsonPatch) {
  create(kPods, pod("p", {{"app", "web"}}));
  auto merged =
      admin().request(http::verb::patch, kPods + "/p", R"({"metadata":{"labels":{"tier":"fe","app":null}}})",
                      "application/merge-patch+json");
  ASSERT_EQ(merged.status, 200) << merged.body;
  EXPECT_EQ(str(merged.json(), {"metadata", "labels"}), R"({"tier":"fe"})");

  auto patched = admin().request(http::verb::patch, kPods + "/p",
                                 R"([{"op":"test","path":"/metadata/labels/tier","value":"fe"},
                                     {"op":"add","path":"/metadata/labels/x","value":"1"}])",
                                 "application/json-patch+json");
  ASSERT_EQ(patched.status, 200) << patched.body;
  EXPECT_EQ(str(patched.json(), {"metadata", "labels", "x"}), "1");

  auto failed_test = admin().request(http::verb::patch, kPods + "/p",
                                     R"([{"op":"test","path":"/metadata/labels/tier","value":"be"}])",
                                     "application/json-patch+json");
  EXPECT_EQ(failed_test.status, 422);
  auto strategic =
      admin().request(http::verb::patch, kPods + "/p",
                      R"({"spec":{"containers":[{"name":"c","image":"nginx:2"},{"name":"d","image":"x"}]}})",
                      "application/strategic-merge-patch+json");
  ASSERT_EQ(strategic.status, 200) << strategic.body;
  EXPECT_EQ(str(strategic.json(), {"spec", "containers"}),
            R"([{"name":"c","image":"nginx:2"},{"name":"d","image":"x"}])");
  auto apply_yaml = admin().request(http::verb::patch, kPods + "/p", "{}", "application/apply-patch+yaml");
  EXPECT_EQ(apply_yaml.status, 422) << apply_yaml.body;
  EXPECT_EQ(
      str(apply_yaml.json(), {"message"}),
      R"(PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch)");
  auto applied =
      admin().request(http::verb::patch, kPods + "/p?fieldManager=t",
                      R"({"metadata":{"labels":{"applied":"yes"}}})", "application/apply-patch+yaml");
  ASSERT_EQ(applied.status, 200) << applied.body;
  EXPECT_EQ(str(applied.json(), {"metadata", "labels", "applied"}), "yes");
}

TEST_F(ApiServerTest, DeleteThenGetIs404) {
  create(kPods, pod("gone"));
  auto r = admin().del(kPods + "/gone");
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(str(r.json(), {"metadata", "name"}), "gone");
  EXPECT_EQ(admin().get(kPods + "/gone").status, 404);
  EXPECT_EQ(admin().del(kPods + "/gone").status, 404);

  json::value svc = {{"apiVersion", "v1"},
                     {"kind", "Service"},
                     {"metadata", {{"name", "s"}}},
                     {"spec", {{"ports", json::array{{{"port", 80}}}}}}};
  create("/api/v1/namespaces/default/services", svc);
  auto st = admin().del("/api/v1/namespaces/default/services/s");
  EXPECT_EQ(str(st.json(), {"status"}), "Success");
}

TEST_F(ApiServerTest, DeletingANamespaceDeletesItsContent) {
  json::value ns = {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", "doomed"}}}};
  create("/api/v1/namespaces", ns);
  create("/api/v1/namespaces/doomed/pods", pod("p"));
  create(kPods, pod("survivor"));
  auto r = admin().del("/api/v1/namespaces/doomed");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(admin().get("/api/v1/namespaces/doomed").status, 404);
  EXPECT_EQ(admin().get("/api/v1/namespaces/doomed/pods/p").status, 404);
  EXPECT_EQ(admin().get(kPods + "/survivor").status, 200);
  // Re-creating it starts empty.
  create("/api/v1/namespaces", ns);
  EXPECT_EQ(admin().get("/api/v1/namespaces/doomed/pods").json().at("items").as_array().size(), 0u);

  auto forbidden = admin().del("/api/v1/namespaces/kube-system");
  EXPECT_EQ(forbidden.status, 403);
  EXPECT_EQ(str(forbidden.json(), {"reason"}), "Forbidden");
}

// kube's namespace defaulting: the name as a label, set on create and kept on every update, so
// that NetworkPolicy namespaceSelectors can pick a namespace by name.
TEST_F(ApiServerTest, NamespacesCarryTheirNameAsALabel) {
  json::value ns = {{"apiVersion", "v1"},
                    {"kind", "Namespace"},
                    {"metadata", {{"name", "shop"}, {"labels", {{"team", "a"}}}}}};
  auto created = create("/api/v1/namespaces", ns);
  EXPECT_EQ(str(created, {"metadata", "labels", "kubernetes.io/metadata.name"}), "shop");
  EXPECT_EQ(str(created, {"metadata", "labels", "team"}), "a");
  auto patched =
      admin().request(http::verb::patch, "/api/v1/namespaces/shop",
                      R"({"metadata":{"labels":{"kubernetes.io/metadata.name":"other","team":null}}})",
                      "application/merge-patch+json");
  ASSERT_EQ(patched.status, 200) << patched.body;
  EXPECT_EQ(str(patched.json(), {"metadata", "labels", "kubernetes.io/metadata.name"}), "shop");
  EXPECT_EQ(str(patched.json(), {"metadata", "labels", "team"}), "");
  auto system = admin().get("/api/v1/namespaces/kube-system");
  EXPECT_EQ(str(system.json(), {"metadata", "labels", "kubernetes.io/metadata.name"}), "kube-system");
}

TEST_F(ApiServerTest, ClientsCannotSetServerOwnedMetadata) {
  auto created = create(kPods, pod("owned"));
  json::value edit = created;
  auto& meta = edit.as_object()["metadata"].as_object();
  meta["uid"] = "forged";
  meta["deletionTimestamp"] = "2020-01-01T00:00:00Z";
  auto r = admin().put(kPods + "/owned", edit);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(str(r.json(), {"metadata", "uid"}), str(created, {"metadata", "uid"}));
  EXPECT_EQ(str(r.json(), {"metadata", "deletionTimestamp"}), "");
}

TEST_F(ApiServerTest, LabelAndFieldSelectors) {
  create(kPods, pod("a", {{"app", "web"}, {"tier", "fe"}}));
  create(kPods, pod("b", {{"app", "web"}, {"tier", "be"}}));
  create(kPods, pod("c", {{"app", "db"}}));
  auto names = [&](const std::string& query) {
    auto r = admin().get(kPods + "?" + query);
    EXPECT_EQ(r.status, 200) << query << ": " << r.body;
    std::string out;
    if (!r.json().is_object()) return out;
    const boost::json::value r_json = r.json();
    for (const auto& item : r_json.at("items").as_array()) out += str(item, {"metadata", "name"});
    return out;
  };
  EXPECT_EQ(names("labelSelector=app%3Dweb"), "ab");
  EXPECT_EQ(names("labelSelector=app%3D%3Dweb,tier!%3Dfe"), "b");
  EXPECT_EQ(names("labelSelector=app+in+(db,web)"), "abc");
  EXPECT_EQ(names("labelSelector=app+notin+(web)"), "c");
  EXPECT_EQ(names("labelSelector=tier"), "ab");
  EXPECT_EQ(names("labelSelector=!tier"), "c");
  EXPECT_EQ(names("fieldSelector=metadata.name%3Db"), "b");
  EXPECT_EQ(names("fieldSelector=metadata.name!%3Db"), "ac");
  EXPECT_EQ(names("fieldSelector=metadata.namespace%3Ddefault&labelSelector=app%3Ddb"), "c");
  EXPECT_EQ(admin().get(kPods + "?fieldSelector=spec.bogus%3Dx").status, 400);
  EXPECT_EQ(admin().get(kPods + "?labelSelector=app+in+web").status, 400);
}

TEST_F(ApiServerTest, LimitAndContinuePageThroughWithSelectors) {
  for (const char* n : {"p1", "p2", "p3", "p4", "p5"})
    create(kPods, pod(n, {{"keep", n[1] % 2 ? "y" : "n"}}));
  std::string seen, cont;
  int pages = 0;
  do {
    auto r =
        admin().get(kPods + "?limit=1&labelSelector=keep%3Dy" + (cont.empty() ? "" : "&continue=" + cont));
    ASSERT_EQ(r.status, 200) << r.body;
    const boost::json::value r_json = r.json();
    for (const auto& item : r_json.at("items").as_array()) seen += str(item, {"metadata", "name"});
    cont = str(r.json(), {"metadata", "continue"});
    ++pages;
  } while (!cont.empty() && pages < 10);
  EXPECT_EQ(seen, "p1p3p5");
}

TEST_F(ApiServerTest, ClusterScopedNodesAndGroupResources) {
  json::value node = {{"apiVersion", "v1"}, {"kind", "Node"}, {"metadata", {{"name", "node-1"}}}};
  auto n = create("/api/v1/nodes", node);
  EXPECT_EQ(str(n, {"metadata", "namespace"}), "");
  EXPECT_EQ(admin().get("/api/v1/nodes/node-1").status, 200);

  json::value slice = {
      {"apiVersion", "discovery.k8s.io/v1"},
      {"kind", "EndpointSlice"},
      {"metadata", {{"name", "web-abc"}, {"labels", {{"kubernetes.io/service-name", "web"}}}}},
      {"addressType", "IPv4"},
      {"endpoints", json::array{}}};
  create("/apis/discovery.k8s.io/v1/namespaces/default/endpointslices", slice);
  // A 422 names the qualified kind in its message and the bare kind in its details, as kube does.
  json::value bad_slice = slice;
  bad_slice.as_object()["metadata"].as_object()["name"] = "Bad_Name";
  auto refused =
      admin().request(http::verb::post, "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices",
                      json::serialize(bad_slice), "application/json");
  ASSERT_EQ(refused.status, 422) << refused.body;
  EXPECT_TRUE(str(refused.json(), {"message"})
                  .starts_with(R"(EndpointSlice.discovery.k8s.io "Bad_Name" is invalid: )"))
      << refused.body;
  EXPECT_EQ(str(refused.json(), {"details", "kind"}), "EndpointSlice");
  EXPECT_EQ(str(refused.json(), {"details", "group"}), "discovery.k8s.io");
  auto all = admin().get(
      "/apis/discovery.k8s.io/v1/endpointslices?labelSelector=kubernetes.io%2Fservice-name%3Dweb");
  ASSERT_EQ(all.status, 200);
  EXPECT_EQ(all.json().at("items").as_array().size(), 1u);
  EXPECT_EQ(str(all.json(), {"kind"}), "EndpointSliceList");
}

TEST_F(ApiServerTest, KubectlTableAcceptGetsATable) {
  create(kPods, pod("t", {{"app", "web"}}));
  TlsClient c = admin();
  // The client sends Accept: application/json; a Table needs the header kubectl sends.
  auto r = c.request(http::verb::get, kPods + "?labelSelector=app%3Dweb", "", "",
                     "application/json;as=Table;v=v1;g=meta.k8s.io,application/json");
  ASSERT_EQ(r.status, 200) << r.body;
  auto table = r.json();
  EXPECT_EQ(str(table, {"kind"}), "Table");
  // NAME READY STATUS RESTARTS AGE ...; the age is "0s", or "1s" on a slow machine.
  EXPECT_EQ(str(table.at("rows").at(0), {"cells"}).substr(0, 25), R"(["t","0/1","Pending","0",)");
  const auto& cells = table.at("rows").at(0).at("cells").as_array();
  ASSERT_GE(cells.size(), 5u);
  EXPECT_TRUE(cells[4] == "0s" || cells[4] == "1s" || cells[4] == "2s") << cells[4];
  EXPECT_EQ(str(table.at("rows").at(0), {"object", "metadata", "labels", "app"}), "web");
  EXPECT_FALSE(str(table, {"metadata", "resourceVersion"}).empty());
}

TEST_F(ApiServerTest, OpenApiV3AdvertisesFieldValidationForEachKind) {
  auto index = admin().get("/openapi/v3");
  ASSERT_EQ(index.status, 200);
  std::string url = str(index.json(), {"paths", "apis/discovery.k8s.io/v1", "serverRelativeURL"});
  ASSERT_TRUE(url.starts_with("/openapi/v3/apis/discovery.k8s.io/v1?hash=")) << url;
  auto doc = admin().get(url);
  ASSERT_EQ(doc.status, 200);
  EXPECT_NE(doc.body.find("\"kind\":\"EndpointSlice\""), std::string::npos);
  EXPECT_NE(doc.body.find("\"fieldValidation\""), std::string::npos);
}

TEST_F(ApiServerTest, DryRunIsRefusedRatherThanPersisted) {
  auto r = admin().post(kPods + "?dryRun=All", pod("dry"));
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(admin().get(kPods + "/dry").status, 404);
}

TEST_F(ApiServerTest, UnsupportedMethodIs405) {
  EXPECT_EQ(admin().request(http::verb::put, kPods, "{}").status, 405);
  EXPECT_EQ(admin().request(http::verb::post, kPods + "/x", "{}").status, 405);
}

}  // namespace
}  // namespace podnet::apiserver::testing
