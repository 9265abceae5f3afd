// Field sets, fieldsV1, apply merge / removal / conflicts and Update bookkeeping, against the
// built-in schema (Services: ports are a list-map keyed by port and protocol, selector atomic).
#include "apiserver/apply/server_side_apply.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "apiserver/apply/field_validation.h"
#include "apiserver/apply/managed_fields.h"
#include "apiserver/apply/schema.h"

namespace podnet::apiserver {
namespace {

namespace json = boost::json;

const ResourceType kService{"", "v1", "Service", "services", "service", true, {}, {}, true};

json::value service(const char* spec) {
  return json::object{{"apiVersion", "v1"},
                      {"kind", "Service"},
                      {"metadata", {{"name", "web"}, {"namespace", "default"}}},
                      {"spec", json::parse(spec)}};
}

FieldOwner owner(const char* manager) {
  return FieldOwner{manager, false, "2025-01-02T03:04:05Z"};
}

const json::array& managed(const json::value& obj) {
  return obj.at("metadata").at("managedFields").as_array();
}

TEST(FieldSet, ServiceFieldsInKubeFormat) {
  json::value svc = service(R"({"selector":{"app":"web"},"ports":[{"port":80,"targetPort":8080}],
                                "type":"ClusterIP"})");
  svc.at("metadata").as_object()["labels"] = json::object{{"app", "web"}};
  FieldSet set = fields_of(svc.at("spec"), Shape::root("ServiceSpec"));
  EXPECT_EQ(json::serialize(set.to_json()),
            R"({"f:ports":{"k:{\"port\":80,\"protocol\":\"TCP\"}":{".":{},"f:port":{},"f:targetPort":{}}},)"
            R"("f:selector":{},"f:type":{}})");
  FieldSet meta = fields_of(svc.at("metadata"), Shape::root("ObjectMeta"));
  EXPECT_TRUE(meta.contains({"f:labels", "f:app"}));
  EXPECT_FALSE(meta.contains({"f:labels"})) << "a granular map is not owned itself";
  EXPECT_EQ(FieldSet::from_json(set.to_json()), set);
  EXPECT_EQ(path_string({"f:spec", "f:ports", R"(k:{"port":80,"protocol":"TCP"})", "f:targetPort"}),
            R"(.spec.ports[port=80,protocol="TCP"].targetPort)");
  EXPECT_EQ(path_string({"f:spec", "f:podCIDRs", R"(v:"10.0.0.0/24")"}), R"(.spec.podCIDRs[="10.0.0.0/24"])");
}

TEST(FieldSet, CompareFindsAddedModifiedAndRemoved) {
  Shape spec = Shape::root("ServiceSpec");
  auto c =
      compare(json::parse(R"({"ports":[{"port":80,"targetPort":1},{"port":443}],"type":"ClusterIP"})"),
              json::parse(R"({"ports":[{"port":80,"targetPort":2},{"port":53,"protocol":"UDP"}]})"), spec);
  const std::string p80 = R"(k:{"port":80,"protocol":"TCP"})";
  EXPECT_TRUE(c.modified.contains({"f:ports", p80, "f:targetPort"}));
  EXPECT_TRUE(c.added.contains({"f:ports", R"(k:{"port":53,"protocol":"UDP"})"}));
  EXPECT_TRUE(c.added.contains({"f:ports", R"(k:{"port":53,"protocol":"UDP"})", "f:protocol"}));
  EXPECT_TRUE(c.removed.contains({"f:ports", R"(k:{"port":443,"protocol":"TCP"})"}));
  EXPECT_TRUE(c.removed.contains({"f:type"}));
  EXPECT_FALSE(c.modified.contains({"f:ports", p80, "f:port"}));
}

TEST(ServerSideApply, CreatesThenRemovesWhatIsNoLongerApplied) {
  auto first = server_side_apply(
      kService, nullptr,
      service(R"({"ports":[{"port":80,"targetPort":8080},{"port":443}],"selector":{"a":"b"}})"), owner("m1"),
      false);
  ASSERT_TRUE(first) << first.error().message;
  ASSERT_EQ(managed(*first).size(), 1u);
  EXPECT_EQ(managed(*first)[0].at("manager"), "m1");
  EXPECT_EQ(managed(*first)[0].at("operation"), "Apply");
  EXPECT_EQ(managed(*first)[0].at("fieldsType"), "FieldsV1");

  auto second = server_side_apply(kService, &*first, service(R"({"ports":[{"port":80,"targetPort":8080}]})"),
                                  owner("m1"), false);
  ASSERT_TRUE(second) << second.error().message;
  EXPECT_EQ(json::serialize(second->at("spec")), R"({"ports":[{"port":80,"targetPort":8080}]})");
}

TEST(ServerSideApply, ConflictsUnlessForcedAndCoOwnedFieldsStay) {
  auto base = server_side_apply(kService, nullptr,
                                service(R"({"ports":[{"port":80,"targetPort":8080}],"selector":{"a":"b"}})"),
                                owner("m1"), false);
  ASSERT_TRUE(base);
  // Same value: no conflict, both own the selector.
  auto shared = server_side_apply(kService, &*base, service(R"({"selector":{"a":"b"}})"), owner("m2"), false);
  ASSERT_TRUE(shared) << shared.error().message;
  auto dropped = server_side_apply(
      kService, &*shared, service(R"({"ports":[{"port":80,"targetPort":8080}]})"), owner("m1"), false);
  ASSERT_TRUE(dropped);
  EXPECT_EQ(json::serialize(dropped->at("spec").at("selector")), R"({"a":"b"})") << "m2 still owns it";

  auto conflict = server_side_apply(
      kService, &*dropped, service(R"({"ports":[{"port":80,"targetPort":9090}]})"), owner("m2"), false);
  ASSERT_FALSE(conflict);
  EXPECT_EQ(conflict.error().code, 409);
  EXPECT_EQ(
      conflict.error().message,
      R"(Apply failed with 1 conflict: conflict with "m1": .spec.ports[port=80,protocol="TCP"].targetPort)");
  ASSERT_EQ(conflict.error().causes.size(), 1u);
  EXPECT_EQ(conflict.error().causes[0].reason, "FieldManagerConflict");

  auto forced = server_side_apply(kService, &*dropped,
                                  service(R"({"ports":[{"port":80,"targetPort":9090}]})"), owner("m2"), true);
  ASSERT_TRUE(forced);
  EXPECT_EQ(forced->at("spec").at("ports").at(0).at("targetPort"), 9090);
  for (const auto& e : managed(*forced)) {
    FieldSet f = FieldSet::from_json(e.at("fieldsV1"));
    bool owns = f.contains({"f:spec", "f:ports", R"(k:{"port":80,"protocol":"TCP"})", "f:targetPort"});
    EXPECT_EQ(owns, e.at("manager") == "m2") << json::serialize(e);
  }
}

TEST(ServerSideApply, UpdatesRecordTheirManagerAndTakeFields) {
  json::value created = service(R"({"ports":[{"port":80,"targetPort":8080}],"type":"ClusterIP"})");
  record_update(kService, json::object{}, created, owner("kubectl-create"));
  ASSERT_EQ(managed(created).size(), 1u);
  EXPECT_EQ(managed(created)[0].at("operation"), "Update");
  EXPECT_EQ(managed(created)[0].at("apiVersion"), "v1");

  json::value edited = created;
  edited.at("spec").at("ports").at(0).as_object()["targetPort"] = 9090;
  edited.at("spec").as_object().erase("type");
  record_update(kService, created, edited, owner("kubectl-edit"));
  auto entries = decode_managed_fields(&edited.at("metadata").at("managedFields"));
  ASSERT_EQ(entries.size(), 2u);
  const FieldPath target{"f:spec", "f:ports", R"(k:{"port":80,"protocol":"TCP"})", "f:targetPort"};
  for (const auto& e : entries) {
    EXPECT_EQ(e.fields.contains(target), e.manager == "kubectl-edit") << e.manager;
    EXPECT_FALSE(e.fields.contains({"f:spec", "f:type"})) << "removed fields have no owner";
  }
  // An apply now conflicts with the Update manager, named as kube names Update managers.
  auto conflict = server_side_apply(kService, &edited, service(R"({"ports":[{"port":80,"targetPort":1}]})"),
                                    owner("kubectl"), false);
  ASSERT_FALSE(conflict);
  EXPECT_NE(conflict.error().message.find(R"(conflict with "kubectl-edit" using v1)"), std::string::npos)
      << conflict.error().message;
}

TEST(ServerSideApply, UndeclaredFieldsAreRejected) {
  auto r = server_side_apply(kService, nullptr, service(R"({"bogus":1})"), owner("m"), false);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, 400);
  EXPECT_NE(r.error().message.find(".spec.bogus: field not declared in schema"), std::string::npos)
      << r.error().message;
}

TEST(FieldValidation, UnknownAndDuplicateFields) {
  auto pod = json::parse(R"({"metadata":{"name":"p","labels":{"any":"key"}},
      "spec":{"containers":[{"name":"c","bogus":1,"securityContext":{"free":"form"}}],"x":{}}})");
  Shape root = Shape::root("Pod");
  EXPECT_EQ(unknown_fields(pod, root, PathStyle::kDecoder),
            (std::vector<std::string>{"spec.containers[0].bogus", "spec.x"}));
  EXPECT_EQ(unknown_fields(pod, root, PathStyle::kApply),
            (std::vector<std::string>{R"(.spec.containers[name="c"].bogus)", ".spec.x"}));
  drop_unknown_fields(pod, root);
  EXPECT_TRUE(unknown_fields(pod, root, PathStyle::kDecoder).empty());
  EXPECT_EQ(pod.at("spec").at("containers").at(0).at("securityContext").at("free"), "form");

  EXPECT_EQ(
      duplicate_fields(R"({"metadata":{"name":"a","name":"b"},"spec":{"ports":[{"port":1,"port":2}]}})"),
      (std::vector<std::string>{"metadata.name", "spec.ports[0].port"}));
  EXPECT_TRUE(duplicate_fields(R"({"a":"{\"a\":1,\"a\":2}","b":[1,2]})").empty());
}

TEST(Schema, TableErrorsNameTheLine) {
  std::string error;
  EXPECT_FALSE(schema::Schema::parse("A a.A\n  f Missing | x\n", &error));
  EXPECT_NE(error.find("unknown type Missing"), std::string::npos) << error;
  EXPECT_FALSE(schema::Schema::parse("A a.A\n  f string bogus | x\n", &error));
  EXPECT_NE(error.find("line 2"), std::string::npos) << error;
  const auto* pod = schema::Schema::builtin().for_kind("", "v1", "Pod");
  ASSERT_NE(pod, nullptr);
  const auto* ports = schema::Schema::builtin().find("Container")->field("ports");
  ASSERT_NE(ports, nullptr);
  EXPECT_EQ(ports->map_keys, (std::vector<std::string>{"containerPort", "protocol"}));
  EXPECT_EQ(ports->patch_merge_key, "containerPort");
}

}  // namespace
}  // namespace podnet::apiserver
