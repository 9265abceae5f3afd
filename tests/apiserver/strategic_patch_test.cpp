// Strategic merge patch: merge keys, atomic lists, primitive sets and the directives kubectl sends.
#include "apiserver/apply/strategic_patch.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

namespace podnet::apiserver {
namespace {

namespace json = boost::json;

TEST(StrategicMergePatch, Table) {
  struct Case {
    const char *name, *target, *patch, *result;
  } cases[] = {
      {"maps merge, null deletes", R"({"metadata":{"labels":{"a":"1","b":"2"}}})",
       R"({"metadata":{"labels":{"b":null,"c":"3"}}})", R"({"metadata":{"labels":{"a":"1","c":"3"}}})"},
      {"containers merge by name",
       R"({"spec":{"containers":[{"name":"a","image":"x:1","ports":[{"containerPort":80}]},{"name":"b","image":"y"}]}})",
       R"({"spec":{"containers":[{"name":"a","image":"x:2"}]}})",
       R"({"spec":{"containers":[{"name":"a","image":"x:2","ports":[{"containerPort":80}]},{"name":"b","image":"y"}]}})"},
      {"new element appended", R"({"spec":{"containers":[{"name":"a"}]}})",
       R"({"spec":{"containers":[{"name":"b","image":"z"}]}})",
       R"({"spec":{"containers":[{"name":"a"},{"name":"b","image":"z"}]}})"},
      {"$patch delete removes an element", R"({"spec":{"containers":[{"name":"a"},{"name":"b"}]}})",
       R"({"spec":{"containers":[{"name":"a","$patch":"delete"}]}})",
       R"({"spec":{"containers":[{"name":"b"}]}})"},
      {"nested container ports by containerPort",
       R"({"spec":{"containers":[{"name":"a","ports":[{"containerPort":80,"name":"http"}]}]}})",
       R"({"spec":{"containers":[{"name":"a","ports":[{"containerPort":80,"protocol":"TCP"},{"containerPort":443}]}]}})",
       R"({"spec":{"containers":[{"name":"a","ports":[{"containerPort":80,"name":"http","protocol":"TCP"},{"containerPort":443}]}]}})"},
      {"service ports by port", R"({"spec":{"ports":[{"port":80,"targetPort":8080},{"port":443}]}})",
       R"({"spec":{"ports":[{"port":80,"targetPort":9090}]}})",
       R"({"spec":{"ports":[{"port":80,"targetPort":9090},{"port":443}]}})"},
      {"lists without a strategy are replaced", R"({"spec":{"args":["a","b"]}})",
       R"({"spec":{"args":["c"]}})", R"({"spec":{"args":["c"]}})"},
      {"finalizers are a set", R"({"metadata":{"finalizers":["a"]}})",
       R"({"metadata":{"finalizers":["b","a"]}})", R"({"metadata":{"finalizers":["a","b"]}})"},
      {"$deleteFromPrimitiveList", R"({"metadata":{"finalizers":["a","b"]}})",
       R"({"metadata":{"$deleteFromPrimitiveList/finalizers":["a"]}})",
       R"({"metadata":{"finalizers":["b"]}})"},
      {"$patch replace on a map", R"({"spec":{"selector":{"a":"1","b":"2"}}})",
       R"({"spec":{"selector":{"$patch":"replace","c":"3"}}})", R"({"spec":{"selector":{"c":"3"}}})"},
      {"$setElementOrder is ignored", R"({"spec":{"containers":[{"name":"a"}]}})",
       R"({"spec":{"$setElementOrder/containers":[{"name":"a"}],"containers":[{"name":"a","image":"i"}]}})",
       R"({"spec":{"containers":[{"name":"a","image":"i"}]}})"},
      {"$retainKeys", R"({"spec":{"strategy":{"type":"A","rollingUpdate":{"x":1}}}})",
       R"({"spec":{"strategy":{"$retainKeys":["type"],"type":"B"}}})",
       R"({"spec":{"strategy":{"type":"B"}}})"},
  };
  for (const auto& c : cases) {
    auto r = apply_strategic_merge_patch(json::parse(c.target), json::parse(c.patch));
    ASSERT_TRUE(r) << c.name << ": " << r.error().message;
    EXPECT_EQ(*r, json::parse(c.result)) << c.name << ": " << json::serialize(*r);
  }
}

TEST(StrategicMergePatch, MissingMergeKeyIsBadRequest) {
  auto r = apply_strategic_merge_patch(json::parse(R"({"spec":{"containers":[]}})"),
                                       json::parse(R"({"spec":{"containers":[{"image":"x"}]}})"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, 400);
}

}  // namespace
}  // namespace podnet::apiserver
