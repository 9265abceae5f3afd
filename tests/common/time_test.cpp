// RFC 3339 timestamps as the API writes them, Go durations as kube's flags take them, and the
// token bucket and LRU cache that the event recorder and EventRateLimit are built on.
#include "common/time.h"

#include <gtest/gtest.h>

#include "common/lru_cache.h"
#include "common/token_bucket.h"

namespace podnet {
namespace {

using namespace std::chrono_literals;
using Sys = std::chrono::system_clock;

TEST(TimeFormat, Rfc3339RoundTrips) {
  Sys::time_point t = Sys::from_time_t(1700000000) + 123456789ns;
  EXPECT_EQ(rfc3339(t), "2023-11-14T22:13:20Z");
  EXPECT_EQ(rfc3339_micro(t), "2023-11-14T22:13:20.123456Z");
  EXPECT_EQ(parse_rfc3339("2023-11-14T22:13:20Z"), Sys::from_time_t(1700000000));
  EXPECT_EQ(parse_rfc3339("2023-11-14T22:13:20.123456Z"), Sys::from_time_t(1700000000) + 123456us);
  EXPECT_EQ(parse_rfc3339("2023-11-15T00:13:20+02:00"), Sys::from_time_t(1700000000));
  EXPECT_EQ(parse_rfc3339("2023-11-14T21:13:20.5-01:00"), Sys::from_time_t(1700000000) + 500ms);
  for (const char* bad : {"", "2023-11-14", "2023-11-14T22:13:20", "2023-13-14T22:13:20Z",
                          "2023-02-30T00:00:00Z", "2023-11-14T22:13:20.Z", "2023-11-14T22:13:20Zjunk",
                          "2023-11-14T25:13:20Z", "2023-11-14T22:13:20+2:00", "yyyy-11-14T22:13:20Z"})
    EXPECT_FALSE(parse_rfc3339(bad)) << bad;
}

TEST(TimeFormat, OneFormatterForEveryPrecision) {
  char buf[kRfc3339MaxLen];
  int64_t ns = int64_t{1709251199} * 1000000000 + 123456789;  // a leap day, one second before midnight
  EXPECT_EQ(std::string(buf, format_rfc3339(buf, ns, Fraction::kNano)), "2024-02-29T23:59:59.123456789Z");
  EXPECT_EQ(rfc3339(ns, Fraction::kMicro), "2024-02-29T23:59:59.123456Z");
  EXPECT_EQ(rfc3339(ns), "2024-02-29T23:59:59Z");
  EXPECT_EQ(rfc3339(0), "1970-01-01T00:00:00Z");
  // Before the epoch the seconds round down, so the fraction stays positive.
  EXPECT_EQ(rfc3339(int64_t{-1}, Fraction::kNano), "1969-12-31T23:59:59.999999999Z");
  EXPECT_EQ(rfc3339(Sys::time_point{} + 1500ms), "1970-01-01T00:00:01Z");
  // The longest form fits the documented bound.
  EXPECT_EQ(format_rfc3339(buf, INT64_MAX, Fraction::kNano), kRfc3339MaxLen);
}

TEST(TimeFormat, ParsesNanosecondsWithinRange) {
  EXPECT_EQ(parse_rfc3339_ns("2024-02-29T23:59:59.123456789Z"), int64_t{1709251199} * 1000000000 + 123456789);
  EXPECT_EQ(parse_rfc3339_ns("1970-01-01T00:00:01.5Z"), 1'500'000'000);
  EXPECT_EQ(parse_rfc3339_ns("1970-01-01T00:00:00.1234567891Z"), 123456789) << "digits past ns dropped";
  EXPECT_FALSE(parse_rfc3339_ns("9999-01-01T00:00:00Z")) << "past int64 nanoseconds";
  EXPECT_FALSE(parse_rfc3339_ns("2023-02-29T00:00:00Z")) << "not a leap year";
  EXPECT_TRUE(parse_rfc3339_ns("2024-02-29T00:00:00Z"));
  // What a kubectl-written object holds round-trips through the one parser and formatter.
  for (const char* t : {"2025-03-04T05:06:07Z", "2025-03-04T05:06:07.123456Z"}) {
    auto at = parse_rfc3339(t);
    ASSERT_TRUE(at) << t;
    EXPECT_EQ(std::string(t).size() > 20 ? rfc3339_micro(*at) : rfc3339(*at), t);
  }
}

TEST(TimeFormat, HttpDates) {
  EXPECT_EQ(http_date(784111777), "Sun, 06 Nov 1994 08:49:37 GMT");
  EXPECT_EQ(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"), std::optional<std::time_t>(784111777));
  EXPECT_FALSE(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT junk"));
  EXPECT_FALSE(parse_http_date(""));
}

TEST(TimeFormat, GoDurations) {
  EXPECT_EQ(parse_duration("1h"), std::chrono::milliseconds(3600000));
  EXPECT_EQ(parse_duration("1h30m"), std::chrono::milliseconds(5400000));
  EXPECT_EQ(parse_duration("1.5s"), std::chrono::milliseconds(1500));
  EXPECT_EQ(parse_duration("300ms"), std::chrono::milliseconds(300));
  EXPECT_EQ(parse_duration("0"), std::chrono::milliseconds(0));
  EXPECT_EQ(parse_duration("1h0m0s"), std::chrono::milliseconds(3600000));
  for (const char* bad : {"", "1", "h", "1x", "-1s", "1h-2m", "1e400h", "99999999999999999h", ".s"})
    EXPECT_FALSE(parse_duration(bad)) << bad;
}

TEST(TokenBucket, BurstThenRefillAtTheRate) {
  auto t0 = std::chrono::steady_clock::time_point{} + 100s;
  TokenBucket<std::chrono::steady_clock::time_point> b(2, 3, t0);  // 2/s, burst 3
  EXPECT_TRUE(b.take(t0));
  EXPECT_TRUE(b.take(t0));
  EXPECT_TRUE(b.take(t0));
  EXPECT_FALSE(b.take(t0));
  EXPECT_EQ(std::chrono::duration_cast<std::chrono::milliseconds>(b.wait(t0)).count(), 500);
  EXPECT_FALSE(b.take(t0 + 400ms));
  EXPECT_TRUE(b.take(t0 + 500ms));
  EXPECT_FALSE(b.take(t0 - 10s));            // a clock that went back gives nothing
  EXPECT_DOUBLE_EQ(b.tokens(t0 + 1h), 3.0);  // never more than the burst
}

TEST(LruCache, ForgetsTheLeastRecentlyUsed) {
  LruCache<std::string, int> c(2);
  c.put("a", 1);
  c.put("b", 2);
  ASSERT_NE(c.get("a"), nullptr);  // a is now the most recent
  c.put("c", 3);
  EXPECT_EQ(c.get("b"), nullptr);
  EXPECT_EQ(*c.get("a"), 1);
  EXPECT_EQ(*c.get("c"), 3);
  EXPECT_EQ(c.get_or_put("a", [] { return 9; }), 1);
  EXPECT_EQ(c.get_or_put("d", [] { return 4; }), 4);
  EXPECT_EQ(c.size(), 2u);
  c.put("d", 5);
  EXPECT_EQ(*c.get("d"), 5);
}

}  // namespace
}  // namespace podnet
