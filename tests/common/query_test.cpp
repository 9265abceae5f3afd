#include "common/query.h"

#include <gtest/gtest.h>

namespace podnet::target {
namespace {

std::vector<std::pair<std::string, std::string>> pairs(std::string_view query) {
  auto parsed = parse_query(query);
  EXPECT_TRUE(parsed) << query << ": " << (parsed ? "" : parsed.error());
  std::vector<std::pair<std::string, std::string>> out;
  if (parsed)
    for (auto& p : *parsed) out.emplace_back(p.key, p.value);
  return out;
}

using Pairs = std::vector<std::pair<std::string, std::string>>;

TEST(ParseQuery, DecodesPairsInOrder) {
  EXPECT_EQ(pairs("command=sh&command=-c&command=echo+a%20b%26c&tty=1"),
            (Pairs{{"command", "sh"}, {"command", "-c"}, {"command", "echo a b&c"}, {"tty", "1"}}));
  EXPECT_EQ(pairs("a=b=c&flag&x="), (Pairs{{"a", "b=c"}, {"flag", ""}, {"x", ""}}));
  EXPECT_EQ(pairs(""), Pairs{});
  EXPECT_EQ(pairs(std::string_view()), Pairs{});  // a null data pointer, as query_of gives
  EXPECT_EQ(pairs("&&a=1&"), (Pairs{{"a", "1"}}));
  EXPECT_EQ(pairs("sel=app+in+(a,b)&n=%2F%00"),
            (Pairs{{"sel", "app in (a,b)"}, {"n", std::string("/\0", 2)}}));
}

// boostorg/url#757 in Boost 1.81: parse_query read on past the end of a view to the next NUL.
TEST(ParseQuery, ReadsOnlyTheViewItIsGiven) {
  const std::string request = "tailLines=2&b=x HTTP/1.1\r\nHost: a\r\n";
  EXPECT_EQ(pairs(std::string_view(request).substr(0, 15)), (Pairs{{"tailLines", "2"}, {"b", "x"}}));
  EXPECT_EQ(pairs(std::string_view(request).substr(0, 11)), (Pairs{{"tailLines", "2"}}));
  EXPECT_EQ(pairs(std::string_view(request).substr(0, 0)), Pairs{});
}

TEST(ParseQuery, RefusesWhatAQueryMayNotHold) {
  for (std::string_view bad : {"a=%zz", "a=%4", "a=%", "%=1", "a=\"x\"", "a=[1]", "a b=1", "a=\x01"}) {
    auto parsed = parse_query(bad);
    ASSERT_FALSE(parsed) << bad;
    EXPECT_TRUE(parsed.error() == "invalid percent-encoding in the query" ||
                parsed.error() == "invalid query string: a character a query may not hold (RFC 3986)")
        << bad << ": " << parsed.error();
  }
}

TEST(ParseQuery, NamesTheFault) {
  EXPECT_EQ(parse_query("a=%zz").error(), "invalid percent-encoding in the query");
  EXPECT_EQ(parse_query("a=%4").error(), "invalid percent-encoding in the query");
  EXPECT_EQ(parse_query("a=[1]").error(),
            "invalid query string: a character a query may not hold (RFC 3986)");
  EXPECT_EQ(decode_segments("a/%zz", 3).error(), "invalid percent-encoding in the path");
}

TEST(ParseQuery, BoundsTheNumberOfPairs) {
  std::string q;
  for (int i = 0; i < 300; ++i) q += "a=1&";
  EXPECT_FALSE(parse_query(q));
  EXPECT_TRUE(parse_query(q, 300));
  auto parsed = parse_query(q, 300);
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->size(), 300u);
}

TEST(QueryOf, TakesWhatFollowsTheFirstQuestionMark) {
  EXPECT_EQ(query_of("/exec/a/b/c?command=x?y"), "command=x?y");
  EXPECT_EQ(query_of("/exec/a/b/c"), "");
  EXPECT_EQ(query_of("/p?"), "");
}

TEST(DecodeSegments, SplitsAndDecodesUpToOneMoreThanAsked) {
  auto s = decode_segments("ns/pod%2Dx/c+d", 3);
  ASSERT_TRUE(s);
  EXPECT_EQ(*s, (std::vector<std::string>{"ns", "pod-x", "c+d"}));
  s = decode_segments("a/b/c/d/e/f", 3);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->size(), 4u);  // the caller sees "too many" without decoding the rest
  s = decode_segments("a//", 3);
  ASSERT_TRUE(s);
  EXPECT_EQ(*s, (std::vector<std::string>{"a", "", ""}));
  EXPECT_FALSE(decode_segments("a/%zz/c", 3));
  EXPECT_FALSE(decode_segments("a/b%", 3));
}

}  // namespace
}  // namespace podnet::target
