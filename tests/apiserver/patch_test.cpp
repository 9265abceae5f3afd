// JSON merge patch (RFC 7386 appendix A cases) and JSON patch (RFC 6902 operations and errors).
#include "apiserver/apply/patch.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

namespace podnet::apiserver {
namespace {

namespace json = boost::json;

TEST(MergePatch, Rfc7386Examples) {
  struct Case {
    const char *target, *patch, *result;
  } cases[] = {
      {R"({"a":"b"})", R"({"a":"c"})", R"({"a":"c"})"},
      {R"({"a":"b"})", R"({"b":"c"})", R"({"a":"b","b":"c"})"},
      {R"({"a":"b"})", R"({"a":null})", R"({})"},
      {R"({"a":"b","b":"c"})", R"({"a":null})", R"({"b":"c"})"},
      {R"({"a":["b"]})", R"({"a":"c"})", R"({"a":"c"})"},
      {R"({"a":"c"})", R"({"a":["b"]})", R"({"a":["b"]})"},
      {R"({"a":{"b":"c"}})", R"({"a":{"b":"d","c":null}})", R"({"a":{"b":"d"}})"},
      {R"({"a":[{"b":"c"}]})", R"({"a":[1]})", R"({"a":[1]})"},
      {R"(["a","b"])", R"(["c","d"])", R"(["c","d"])"},
      {R"({"e":null})", R"({"a":1})", R"({"e":null,"a":1})"},
      {R"({})", R"({"a":{"bb":{"ccc":null}}})", R"({"a":{"bb":{}}})"},
  };
  for (const auto& c : cases)
    EXPECT_EQ(apply_merge_patch(json::parse(c.target), json::parse(c.patch)), json::parse(c.result))
        << c.patch;
}

TEST(JsonPatch, Operations) {
  struct Case {
    const char *doc, *patch, *result;
  } cases[] = {
      {R"({"a":1})", R"([{"op":"add","path":"/b","value":2}])", R"({"a":1,"b":2})"},
      {R"({"a":[1,3]})", R"([{"op":"add","path":"/a/1","value":2}])", R"({"a":[1,2,3]})"},
      {R"({"a":[1]})", R"([{"op":"add","path":"/a/-","value":2}])", R"({"a":[1,2]})"},
      {R"({"a":1,"b":2})", R"([{"op":"remove","path":"/a"}])", R"({"b":2})"},
      {R"({"a":1})", R"([{"op":"replace","path":"/a","value":5}])", R"({"a":5})"},
      {R"({"a":{"x":1}})", R"([{"op":"move","from":"/a/x","path":"/b"}])", R"({"a":{},"b":1})"},
      {R"({"a":[1]})", R"([{"op":"copy","from":"/a","path":"/b"}])", R"({"a":[1],"b":[1]})"},
      {R"({"a/b":1,"m~n":2})",
       R"([{"op":"replace","path":"/a~1b","value":3},{"op":"remove","path":"/m~0n"}])", R"({"a/b":3})"},
      {R"({"a":"x"})", R"([{"op":"test","path":"/a","value":"x"}])", R"({"a":"x"})"},
  };
  for (const auto& c : cases) {
    auto r = apply_json_patch(json::parse(c.doc), json::parse(c.patch));
    ASSERT_TRUE(r) << c.patch << ": " << r.error().message;
    EXPECT_EQ(*r, json::parse(c.result)) << c.patch;
  }
}

TEST(JsonPatch, Failures) {
  struct Case {
    const char* patch;
    int code;
  } cases[] = {
      {R"({"op":"add"})", 400},
      {R"([{"op":"jump","path":"/a"}])", 400},
      {R"([{"op":"add","path":"/a"}])", 400},
      {R"([{"op":"remove","path":"/missing"}])", 422},
      {R"([{"op":"replace","path":"/missing","value":1}])", 422},
      {R"([{"op":"add","path":"/x/y","value":1}])", 422},
      {R"([{"op":"test","path":"/a","value":2}])", 422},
      {R"([{"op":"remove","path":"/l/5"}])", 422},
      {R"([{"op":"add","path":"/l/01","value":1}])", 422},
  };
  for (const auto& c : cases) {
    auto r = apply_json_patch(json::parse(R"({"a":1,"l":[0]})"), json::parse(c.patch));
    ASSERT_FALSE(r) << c.patch;
    EXPECT_EQ(r.error().code, c.code) << c.patch;
  }
}

}  // namespace
}  // namespace podnet::apiserver
