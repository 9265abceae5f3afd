#include "common/time_format.h"

#include <charconv>
#include <cmath>
#include <ctime>

namespace podnet {
namespace {

std::string format(std::chrono::system_clock::time_point t, bool micro) {
  auto secs = std::chrono::floor<std::chrono::seconds>(t);
  std::time_t tt = std::chrono::system_clock::to_time_t(secs);
  std::tm tm;
  gmtime_r(&tt, &tm);
  char buf[40];
  size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::string out(buf, n);
  if (micro) {
    auto us = std::chrono::duration_cast<std::chrono::microseconds>(t - secs).count();
    char frac[24];
    std::snprintf(frac, sizeof frac, ".%06lld", static_cast<long long>(us));
    out += frac;
  }
  return out + "Z";
}

bool digits(std::string_view s, size_t pos, size_t n, int& out) {
  if (pos + n > s.size()) return false;
  auto r = std::from_chars(s.data() + pos, s.data() + pos + n, out);
  return r.ec == std::errc() && r.ptr == s.data() + pos + n;
}

}  // namespace

std::string rfc3339(std::chrono::system_clock::time_point t) {
  return format(t, false);
}

std::string rfc3339_micro(std::chrono::system_clock::time_point t) {
  return format(t, true);
}

std::optional<std::chrono::system_clock::time_point> parse_rfc3339(std::string_view s) {
  int year, month, day, hour, minute, second;
  if (s.size() < 20 || !digits(s, 0, 4, year) || s[4] != '-' || !digits(s, 5, 2, month) || s[7] != '-' ||
      !digits(s, 8, 2, day) || (s[10] != 'T' && s[10] != 't') || !digits(s, 11, 2, hour) || s[13] != ':' ||
      !digits(s, 14, 2, minute) || s[16] != ':' || !digits(s, 17, 2, second))
    return std::nullopt;
  std::chrono::year_month_day ymd{std::chrono::year(year), std::chrono::month(month), std::chrono::day(day)};
  if (!ymd.ok() || hour > 23 || minute > 59 || second > 60) return std::nullopt;
  size_t pos = 19;
  std::chrono::nanoseconds frac{0};
  if (pos < s.size() && s[pos] == '.') {
    size_t start = ++pos;
    int64_t value = 0, scale = 1000000000;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      if (scale > 1) {
        scale /= 10;
        value += (s[pos] - '0') * scale;
      }
      ++pos;
    }
    if (pos == start) return std::nullopt;
    frac = std::chrono::nanoseconds(value);
  }
  std::chrono::seconds offset{0};
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
    ++pos;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    int oh, om;
    if (!digits(s, pos + 1, 2, oh) || pos + 3 >= s.size() || s[pos + 3] != ':' ||
        !digits(s, pos + 4, 2, om) || oh > 23 || om > 59)
      return std::nullopt;
    offset = std::chrono::hours(oh) + std::chrono::minutes(om);
    if (s[pos] == '-') offset = -offset;
    pos += 6;
  } else {
    return std::nullopt;
  }
  if (pos != s.size()) return std::nullopt;
  auto t = std::chrono::sys_days(ymd) + std::chrono::hours(hour) + std::chrono::minutes(minute) +
           std::chrono::seconds(second) - offset;
  return std::chrono::time_point_cast<std::chrono::system_clock::duration>(t + frac);
}

Result<std::chrono::milliseconds> parse_duration(std::string_view text) {
  auto bad = [&] { return std::unexpected(Error{EINVAL, "invalid duration \"" + std::string(text) + "\""}); };
  if (text == "0") return std::chrono::milliseconds(0);
  if (text.empty()) return bad();
  double total_ms = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t start = pos;
    while (pos < text.size() && ((text[pos] >= '0' && text[pos] <= '9') || text[pos] == '.')) ++pos;
    if (pos == start) return bad();
    double value = 0;
    auto r = std::from_chars(text.data() + start, text.data() + pos, value);
    if (r.ec != std::errc() || r.ptr != text.data() + pos) return bad();
    size_t unit_start = pos;
    while (pos < text.size() && !((text[pos] >= '0' && text[pos] <= '9') || text[pos] == '.')) ++pos;
    std::string_view unit = text.substr(unit_start, pos - unit_start);
    double scale = unit == "h"                    ? 3600000.0
                   : unit == "m"                  ? 60000.0
                   : unit == "s"                  ? 1000.0
                   : unit == "ms"                 ? 1.0
                   : unit == "us" || unit == "µs" ? 0.001
                   : unit == "ns"                 ? 0.000001
                                                  : -1;
    if (scale < 0) return bad();
    total_ms += value * scale;
  }
  // Beyond ~290 years Go's Duration overflows; refuse rather than wrap.
  if (!std::isfinite(total_ms) || total_ms > 9.2e15) return bad();
  return std::chrono::milliseconds(static_cast<int64_t>(total_ms));
}

}  // namespace podnet
