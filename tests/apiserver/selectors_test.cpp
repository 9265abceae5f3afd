// Label and field selector parsing and matching, table-driven.
#include "apiserver/registry/selectors.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "apiserver/registry/resources.h"

namespace podnet::apiserver {
namespace {

namespace json = boost::json;

json::value labelled(json::object labels) {
  return json::object{{"metadata", {{"labels", std::move(labels)}}}};
}

TEST(LabelSelector, Table) {
  const json::value obj = labelled({{"app", "web"}, {"tier", "fe"}});
  const json::value bare = json::object{{"metadata", json::object{}}};
  struct Case {
    const char* selector;
    bool matches_obj;
    bool matches_bare;
  } cases[] = {
      {"", true, true},
      {"app=web", true, false},
      {"app==web", true, false},
      {"app!=web", false, true},
      {"app=db", false, false},
      {"app=web,tier=fe", true, false},
      {"app=web, tier=be", false, false},
      {"app in (db, web)", true, false},
      {"app notin (web)", false, true},
      {"tier", true, false},
      {"!tier", false, true},
      {"app in (web),!missing", true, false},
  };
  for (const auto& c : cases) {
    auto sel = parse_label_selector(c.selector);
    ASSERT_TRUE(sel) << c.selector << ": " << sel.error().message;
    EXPECT_EQ(sel->matches(obj), c.matches_obj) << c.selector;
    EXPECT_EQ(sel->matches(bare), c.matches_bare) << c.selector;
  }
}

TEST(LabelSelector, SyntaxErrorsAreBadRequest) {
  for (const char* bad : {"app in web", "a b c", "app=we b", ",", "app=(x)"}) {
    auto sel = parse_label_selector(bad);
    ASSERT_FALSE(sel) << bad;
    EXPECT_EQ(sel.error().code, 400);
  }
}

TEST(FieldSelector, NamesNamespacesAndAllowedFields) {
  json::value p =
      json::object{{"metadata", {{"name", "a"}, {"namespace", "ns"}}}, {"spec", {{"nodeName", "n1"}}}};
  auto sel = parse_field_selector("metadata.name=a,spec.nodeName!=n2", {"spec.nodeName"});
  ASSERT_TRUE(sel);
  EXPECT_TRUE(sel->matches(p));
  ASSERT_NE(sel->required_value("metadata.name"), nullptr);
  EXPECT_EQ(*sel->required_value("metadata.name"), "a");
  EXPECT_FALSE(parse_field_selector("spec.nodeName=n1", {}));
  EXPECT_FALSE(parse_field_selector("metadata.name", {}));
  auto other = parse_field_selector("metadata.namespace==other", {});
  ASSERT_TRUE(other);
  EXPECT_FALSE(other->matches(p));
}

}  // namespace
}  // namespace podnet::apiserver

namespace podnet::apiserver {
namespace {

// kube's event fields: "source" is source.component, or reportingComponent without one.
TEST(FieldSelector, EventSourceAndInvolvedObject) {
  const auto registry = ResourceRegistry::builtin();
  const auto& fields = registry.find("", "v1", "events")->selectable_fields;
  auto kubelet = boost::json::parse(R"({"source":{"component":"kubelet","host":"n1"},
      "involvedObject":{"kind":"Pod","name":"web","fieldPath":"spec.containers{c}","apiVersion":"v1"}})");
  auto scheduler =
      boost::json::parse(R"({"reportingComponent":"default-scheduler","involvedObject":{"kind":"Pod"}})");
  auto by_source = parse_field_selector("source=kubelet", fields);
  ASSERT_TRUE(by_source);
  EXPECT_TRUE(by_source->matches(kubelet));
  EXPECT_FALSE(by_source->matches(scheduler));
  EXPECT_TRUE(parse_field_selector("source=default-scheduler", fields)->matches(scheduler));
  auto sub = parse_field_selector("involvedObject.fieldPath=spec.containers{c},involvedObject.apiVersion=v1",
                                  fields);
  ASSERT_TRUE(sub);
  EXPECT_TRUE(sub->matches(kubelet));
  EXPECT_FALSE(sub->matches(scheduler));
  EXPECT_TRUE(parse_field_selector("involvedObject.resourceVersion=7", fields));
  EXPECT_FALSE(parse_field_selector("involvedObject.color=red", fields));
}

}  // namespace
}  // namespace podnet::apiserver
