// Resource URL parsing (kube's RequestInfo rules) and query decoding.
#include "apiserver/http/request_info.h"

#include <gtest/gtest.h>

namespace podnet::apiserver {
namespace {

TEST(ResourcePath, Table) {
  struct Case {
    const char* path;
    const char *group, *version, *ns, *resource, *name, *sub;
  } cases[] = {
      {"/api/v1/pods", "", "v1", "", "pods", "", ""},
      {"/api/v1/namespaces/default/pods/web/status", "", "v1", "default", "pods", "web", "status"},
      {"/api/v1/namespaces", "", "v1", "", "namespaces", "", ""},
      {"/api/v1/namespaces/kube-system", "", "v1", "", "namespaces", "kube-system", ""},
      {"/api/v1/namespaces/kube-system/status", "", "v1", "", "namespaces", "kube-system", "status"},
      {"/api/v1/namespaces/kube-system/services", "", "v1", "kube-system", "services", "", ""},
      {"/apis/discovery.k8s.io/v1/namespaces/a/endpointslices/b", "discovery.k8s.io", "v1", "a",
       "endpointslices", "b", ""},
      {"/api/v1/nodes/n1/", "", "v1", "", "nodes", "n1", ""},
  };
  for (const auto& c : cases) {
    auto r = parse_resource_path(c.path);
    ASSERT_TRUE(r) << c.path;
    EXPECT_EQ(r->group, c.group) << c.path;
    EXPECT_EQ(r->version, c.version) << c.path;
    EXPECT_EQ(r->ns, c.ns) << c.path;
    EXPECT_EQ(r->resource, c.resource) << c.path;
    EXPECT_EQ(r->name, c.name) << c.path;
    EXPECT_EQ(r->subresource, c.sub) << c.path;
  }
  for (const char* other : {"/api", "/api/v1", "/apis/g/v", "/healthz", "/api/v1/a/b/c/d"})
    EXPECT_FALSE(parse_resource_path(other)) << other;
}

TEST(ParseTarget, DecodesQuery) {
  auto t = parse_target("/api/v1/pods?labelSelector=app%3Dweb%2Ctier+in+(a)&watch=true&empty");
  EXPECT_EQ(t.path, "/api/v1/pods");
  EXPECT_EQ(t.query["labelSelector"], "app=web,tier in (a)");
  EXPECT_EQ(t.query["watch"], "true");
  EXPECT_EQ(t.query.count("empty"), 1u);
}

// kube-apiserver's Convert_Slice_string_To_bool: only absent, 0 and false (any case) are false.
TEST(QueryFlag, ParsedAsKubeDoes) {
  auto t = parse_target("/api/v1/pods?a=True&b=1&c=FALSE&d=0&e=&f=yes&g=false&h=fAlSe&i=falsey");
  for (const char* yes : {"a", "b", "e", "f", "i"}) EXPECT_TRUE(query_flag(t.query, yes)) << yes;
  for (const char* no : {"c", "d", "g", "h", "absent"}) EXPECT_FALSE(query_flag(t.query, no)) << no;
}

}  // namespace
}  // namespace podnet::apiserver
