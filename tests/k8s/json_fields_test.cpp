// The one JSON path helper: lenient walks (absent, null and the wrong type read as absent) next to
// the strict readers that name the field.
#include "k8s/json_fields.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

namespace podnet::k8s::fields {
namespace {

namespace json = boost::json;

const json::value kPod = json::parse(R"({
  "metadata": {"name": "web-0", "namespace": "default", "labels": {"app": "web"}, "deletionTimestamp": null},
  "spec": {"nodeName": "node-1", "containers": [{"name": "c"}], "priority": 7, "weight": 2.0,
           "big": 18446744073709551615},
  "status": "not-an-object"})");

TEST(JsonFields, PathWalksReadAbsentNullAndWrongTypeAsAbsent) {
  EXPECT_EQ(string_at(kPod, {"metadata", "labels", "app"}), "web");
  EXPECT_EQ(string_at(kPod.as_object(), {"spec", "nodeName"}), "node-1");
  EXPECT_EQ(string_at(kPod, {"metadata", "missing"}), "");
  EXPECT_EQ(string_at(kPod, {"spec", "priority"}), "") << "not a string";
  EXPECT_EQ(at(kPod, {"metadata", "deletionTimestamp"}), nullptr) << "null is unset, as in the API";
  EXPECT_EQ(at(kPod, {"status", "phase"}), nullptr) << "a step through a non-object";
  EXPECT_EQ(at(kPod, {}), &kPod);
  ASSERT_NE(object_at(kPod, {"metadata", "labels"}), nullptr);
  EXPECT_EQ(object_at(kPod, {"spec", "containers"}), nullptr);
  ASSERT_NE(array_at(kPod, {"spec", "containers"}), nullptr);
  EXPECT_EQ(array_at(kPod, {"spec", "containers"})->size(), 1u);
  EXPECT_EQ(int_at(kPod, {"spec", "priority"}), 7);
  EXPECT_EQ(int_at(kPod, {"spec", "weight"}), 2) << "an integral double";
  EXPECT_EQ(int_at(kPod, {"spec", "big"}, -1), -1) << "past int64";
  EXPECT_EQ(int_at(kPod, {"spec", "nodeName"}, -1), -1);
}

TEST(JsonFields, StrictReadersNameTheField) {
  const json::object& spec = kPod.at("spec").as_object();
  auto bad = string_at(spec, "priority", "spec.priority");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message(), "spec.priority: expected a string");
  EXPECT_EQ(*string_at(spec, "absent", "spec.absent"), "");
  EXPECT_FALSE(object_at(spec, "containers", "spec.containers"));
}

}  // namespace
}  // namespace podnet::k8s::fields
