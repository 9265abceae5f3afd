// The API server's limits (limits.h) as functions: bounded parsing of bodies and stored objects,
// the checks on every object written, annotation validation with kube's messages, JSON patch's
// operation cap, copy budget and depth bound, the linear duplicate-key scan, and the start-up
// audit over a real SQLite store holding objects no read could serve.
#include "apiserver/http/limits.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "apiserver/apply/field_validation.h"
#include "apiserver/apply/patch.h"
#include "apiserver/registry/stored_audit.h"
#include "apiserver/validation/validation.h"
#include "storage/sqlite_store.h"
#include "support/temp_dir.h"

namespace podnet::apiserver {
namespace {

namespace json = boost::json;

std::string nested(size_t levels, const std::string& leaf = "\"x\"") {
  std::string s;
  for (size_t i = 0; i < levels; ++i) s += "{\"a\":";
  s += leaf;
  for (size_t i = 0; i < levels; ++i) s += "}";
  return s;
}

// Test inputs deeper than Boost.JSON's default (32 levels).
json::value parse(const std::string& text) {
  json::parse_options options;
  options.max_depth = 1000;
  return json::parse(text, {}, options);
}

TEST(Limits, ReadsAcceptDeeperJsonThanWrites) {
  boost::system::error_code ec;
  limits::parse_request(nested(limits::kMaxWriteDepth), ec);
  EXPECT_FALSE(ec) << ec.message();
  limits::parse_request(nested(limits::kMaxWriteDepth + 1), ec);
  EXPECT_TRUE(ec) << "a body one level deeper than the write limit";
  // What older servers could store (~63 levels through a JSON patch) and more is readable.
  limits::parse_stored(nested(limits::kMaxReadDepth), ec);
  EXPECT_FALSE(ec) << ec.message();
  limits::parse_stored(nested(limits::kMaxReadDepth + 1), ec);
  EXPECT_TRUE(ec);
}

TEST(Limits, DepthAndSerializedSize) {
  EXPECT_EQ(limits::depth(json::value(1)), 0u);
  EXPECT_EQ(limits::depth(parse("{}")), 1u);
  EXPECT_EQ(limits::depth(parse(R"({"a":[1,{"b":[]}],"c":{}})")), 4u);
  EXPECT_EQ(limits::depth(parse(nested(50))), 50u);
  for (const char* text : {R"({"a":[1,2.5,"\u00e9\n",null,true],"b":{"c":-7}})", "[]", "\"x\""}) {
    json::value v = parse(text);
    EXPECT_EQ(limits::serialized_size(v), json::serialize(v).size()) << text;
  }
}

TEST(Limits, CheckObjectRefusesLargeAndDeepObjects) {
  json::value small = parse(R"({"metadata":{"name":"n"}})");
  EXPECT_TRUE(limits::check_object(small, json::serialize(small), "", "Node", "n"));

  std::string big(limits::kMaxObjectBytes + 1, 'x');
  auto large = limits::check_object(small, big, "", "Node", "n");
  ASSERT_FALSE(large);
  EXPECT_EQ(large.error().code, 413);
  EXPECT_EQ(large.error().reason, "RequestEntityTooLarge");

  json::value deep = parse(R"({"metadata":{"name":"n","x":)" + nested(limits::kMaxWriteDepth) + "}}");
  auto too_deep = limits::check_object(deep, json::serialize(deep), "", "Node", "n");
  ASSERT_FALSE(too_deep);
  EXPECT_EQ(too_deep.error().code, 422);
  ASSERT_EQ(too_deep.error().causes.size(), 1u);
  EXPECT_TRUE(too_deep.error().causes[0].field.starts_with("metadata.x.a.a."))
      << too_deep.error().causes[0].field;
}

TEST(Limits, AnnotationsAsKubeValidatesThem) {
  json::value ok = parse(R"({"podnet.io/overlay":"vxlan","A_b.c":""})");
  EXPECT_TRUE(validate_annotations(&ok).empty());
  EXPECT_FALSE(annotations_type_error(&ok));

  json::value object_value = parse(R"({"a":{"b":"c"}})");
  EXPECT_EQ(
      annotations_type_error(&object_value).value_or(""),
      "json: cannot unmarshal object into Go struct field ObjectMeta.metadata.annotations of type string");
  json::value not_map = parse(R"([1])");
  EXPECT_EQ(annotations_type_error(&not_map).value_or(""),
            "json: cannot unmarshal array into Go struct field ObjectMeta.metadata.annotations of type "
            "map[string]string");

  json::value bad_key = parse(R"({"bad key!":"v","a/b/c":"v","/x":"v"})");
  auto causes = validate_annotations(&bad_key);
  ASSERT_EQ(causes.size(), 3u);  // "/x": empty prefix; its name part is fine
  for (const auto& c : causes) EXPECT_EQ(c.field, "metadata.annotations");
  EXPECT_NE(causes[0].message.find(R"(Invalid value: "bad key!": name part must consist of)"),
            std::string::npos)
      << causes[0].message;
  EXPECT_NE(causes[1].message.find(R"(Invalid value: "a/b/c": a qualified name must consist of)"),
            std::string::npos)
      << causes[1].message;
  EXPECT_EQ(causes[2].message, R"(Invalid value: "/x": prefix part must be non-empty)");

  json::object large;
  large["a"] = std::string(limits::kMaxAnnotationsBytes, 'x');  // with its key: one byte over
  json::value too_long(std::move(large));
  causes = validate_annotations(&too_long);
  ASSERT_EQ(causes.size(), 1u);
  EXPECT_EQ(causes[0].reason, "FieldValueTooLong");
  EXPECT_EQ(causes[0].field + ": " + causes[0].message,
            "metadata.annotations: Too long: must have at most 262144 bytes");
}

TEST(Limits, JsonPatchOperationCap) {
  json::array ops;
  for (size_t i = 0; i <= limits::kMaxJsonPatchOperations; ++i)
    ops.push_back(json::object{{"op", "test"}, {"path", "/a"}, {"value", 1}});
  auto r = apply_json_patch(parse(R"({"a":1})"), ops);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, 413);
  EXPECT_EQ(r.error().message,
            "Request entity too large: The allowed maximum operations in a JSON patch is 10000, got 10001");
  ops.pop_back();
  EXPECT_TRUE(apply_json_patch(parse(R"({"a":1})"), ops));
}

TEST(Limits, JsonPatchCopiesAreBudgeted) {
  // Each copy of /d into itself doubles it: 1 KB -> 16 MB in 14 operations without a budget.
  json::array ops{json::object{{"op", "add"}, {"path", "/d"}, {"value", {{"x", std::string(1000, 'x')}}}}};
  for (int i = 0; i < 24; ++i)
    ops.push_back(json::object{{"op", "copy"}, {"from", "/d"}, {"path", "/d/c" + std::to_string(i)}});
  auto r = apply_json_patch(json::object{}, ops);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, 422);
  EXPECT_TRUE(
      r.error().message.starts_with("Unable to complete the copy, the accumulated size increase of copy is "))
      << r.error().message;
  EXPECT_NE(r.error().message.find("exceeding the limit 3145728"), std::string::npos);
}

TEST(Limits, JsonPatchCannotBuildADeepDocument) {
  // 40 levels added under a 30-level path: each within the body limit, together too deep.
  std::string path;
  for (int i = 0; i < 30; ++i) path += "/a";
  json::value doc = parse(nested(30));
  std::string value = nested(40);
  auto r = apply_json_patch(doc, parse(R"([{"op":"add","path":")" + path + R"(","value":)" + value + "}]"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, 422);
  // Copying a subtree into its own deepest level over and over roughly doubles its depth each time.
  std::string deepest;
  for (int i = 0; i < 19; ++i) deepest += "/a";
  json::array ops;
  for (int i = 0; i < 10; ++i)
    ops.push_back(json::object{{"op", "copy"}, {"from", "/a"}, {"path", deepest + "/k" + std::to_string(i)}});
  r = apply_json_patch(parse(nested(20)), ops);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, 422);
}

TEST(Limits, DuplicateKeysFoundInOnePass) {
  // 80,000 keys, every second one repeated: the scan is linear (this took 15 s when quadratic).
  std::string body = "{";
  for (int i = 0; i < 80000; ++i) body += (i ? ",\"k" : "\"k") + std::to_string(i / 2) + "\":1";
  body += "}";
  auto dups = duplicate_fields(body);
  ASSERT_EQ(dups.size(), 40000u);
  EXPECT_EQ(dups[0], "k0");
  EXPECT_EQ(duplicate_fields(R"({"a\u0062":1,"ab":2})"), std::vector<std::string>{"ab"});
}

TEST(Limits, StartUpAuditRepairsOrQuarantines) {
  podnet::testing::TempDir dir("pn-limits-audit");
  storage::SqliteOptions options;
  options.path = dir.path() + "/state.db";
  auto store = storage::SqliteStore::open(options);
  ASSERT_TRUE(store) << store.error().str();
  auto& s = **store;
  std::string good = R"({"kind":"Node","metadata":{"name":"good","annotations":{"a":"b"}}})";
  std::string object_annotation =
      R"({"kind":"Node","metadata":{"name":"fixable","annotations":{"keep":"v","drop":)" + nested(60) + "}}}";
  std::string unreadable = R"({"kind":"Node","metadata":{"name":"deep","x":)" + nested(300) + "}}";
  std::string deep_managed = R"({"kind":"Node","metadata":{"name":"managed","managedFields":[{"fieldsV1":)" +
                             nested(70, "{}") + "}]}}";
  ASSERT_TRUE(s.create("/registry/nodes/good", good));
  ASSERT_TRUE(s.create("/registry/nodes/fixable", object_annotation));
  ASSERT_TRUE(s.create("/registry/nodes/deep", unreadable));
  ASSERT_TRUE(s.create("/registry/nodes/managed", deep_managed));
  ASSERT_TRUE(s.create("/registry/nodes/garbage", "not json"));

  auto report = audit_stored_objects(s);
  ASSERT_TRUE(report) << report.error().message();
  EXPECT_EQ(report->checked, 5u);
  EXPECT_EQ(report->repaired, 1u);
  EXPECT_EQ(report->quarantined, 3u);
  EXPECT_EQ(report->findings.size(), 4u);

  EXPECT_EQ(s.get("/registry/nodes/good")->value, good);
  auto fixed = s.get("/registry/nodes/fixable");
  ASSERT_TRUE(fixed);
  EXPECT_EQ(parse(fixed->value).at("metadata").at("annotations"), parse(R"({"keep":"v"})"));
  for (const char* gone : {"deep", "managed", "garbage"})
    EXPECT_FALSE(s.get(std::string("/registry/nodes/") + gone)) << gone;
  // Every original is kept for a person to look at.
  EXPECT_EQ(s.get("/quarantine/registry/nodes/fixable")->value, object_annotation);
  EXPECT_EQ(s.get("/quarantine/registry/nodes/deep")->value, unreadable);
  EXPECT_EQ(s.get("/quarantine/registry/nodes/garbage")->value, "not json");

  auto again = audit_stored_objects(s);  // idempotent: nothing left to do
  ASSERT_TRUE(again);
  EXPECT_EQ(again->repaired + again->quarantined, 0u);
}

}  // namespace
}  // namespace podnet::apiserver
