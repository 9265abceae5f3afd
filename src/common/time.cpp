#include "common/time.h"

#include <charconv>
#include <cmath>
#include <ctime>

namespace podnet {

size_t format_decimal(char* out, uint64_t v, int width) {
  char tmp[24];
  size_t n = 0;
  do {
    tmp[n++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v);
  while (static_cast<int>(n) < width) tmp[n++] = '0';
  for (size_t i = 0; i < n; ++i) out[i] = tmp[n - 1 - i];
  return n;
}

namespace {

using Clock = std::chrono::system_clock;

int64_t floor_div(int64_t a, int64_t b) {
  return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

// H. Hinnant's days_from_civil / civil_from_days: proleptic Gregorian, no tables, no locale.
int64_t days_from_civil(int64_t y, int64_t m, int64_t d) {
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  int64_t yoe = y - era * 400, doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  return era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468;
}

bool digits(std::string_view s, size_t pos, size_t n, int& out) {
  if (pos + n > s.size()) return false;
  out = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    out = out * 10 + (s[i] - '0');
  }
  return true;
}

bool leap(int y) {
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int days_in_month(int y, int m) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && leap(y) ? 29 : kDays[m - 1];
}

constexpr const char* kHttpDate = "%a, %d %b %Y %H:%M:%S GMT";

}  // namespace

size_t format_rfc3339(char* out, int64_t unix_ns, Fraction fraction) {
  int64_t secs = floor_div(unix_ns, 1000000000), frac = unix_ns - secs * 1000000000;
  int64_t days = floor_div(secs, 86400), rem = secs - days * 86400;
  int64_t z = days + 719468, era = (z >= 0 ? z : z - 146096) / 146097;
  int64_t doe = z - era * 146097, yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t y = yoe + era * 400, doy = doe - (365 * yoe + yoe / 4 - yoe / 100), mp = (5 * doy + 2) / 153;
  int64_t d = doy - (153 * mp + 2) / 5 + 1, m = mp < 10 ? mp + 3 : mp - 9;
  if (m <= 2) ++y;
  size_t n = 0;
  n += format_decimal(out + n, static_cast<uint64_t>(y), 4);
  out[n++] = '-';
  n += format_decimal(out + n, static_cast<uint64_t>(m), 2);
  out[n++] = '-';
  n += format_decimal(out + n, static_cast<uint64_t>(d), 2);
  out[n++] = 'T';
  n += format_decimal(out + n, static_cast<uint64_t>(rem / 3600), 2);
  out[n++] = ':';
  n += format_decimal(out + n, static_cast<uint64_t>(rem / 60 % 60), 2);
  out[n++] = ':';
  n += format_decimal(out + n, static_cast<uint64_t>(rem % 60), 2);
  if (fraction == Fraction::kMicro) {
    out[n++] = '.';
    n += format_decimal(out + n, static_cast<uint64_t>(frac / 1000), 6);
  } else if (fraction == Fraction::kNano) {
    out[n++] = '.';
    n += format_decimal(out + n, static_cast<uint64_t>(frac), 9);
  }
  out[n++] = 'Z';
  return n;
}

std::string rfc3339(int64_t unix_ns, Fraction fraction) {
  char buf[kRfc3339MaxLen + 2];
  return std::string(buf, format_rfc3339(buf, unix_ns, fraction));
}

std::string rfc3339(Clock::time_point t) {
  return rfc3339(std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count());
}

std::string rfc3339_micro(Clock::time_point t) {
  return rfc3339(std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count(),
                 Fraction::kMicro);
}

std::optional<int64_t> parse_rfc3339_ns(std::string_view s) {
  int y, mo, d, h, mi, sec;
  if (s.size() < 20 || !digits(s, 0, 4, y) || s[4] != '-' || !digits(s, 5, 2, mo) || s[7] != '-' ||
      !digits(s, 8, 2, d) || (s[10] != 'T' && s[10] != 't') || !digits(s, 11, 2, h) || s[13] != ':' ||
      !digits(s, 14, 2, mi) || s[16] != ':' || !digits(s, 17, 2, sec))
    return std::nullopt;
  if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || sec > 60)
    return std::nullopt;
  size_t pos = 19;
  int64_t frac = 0;
  if (s[pos] == '.') {
    size_t n = 0;
    for (++pos; pos < s.size() && s[pos] >= '0' && s[pos] <= '9'; ++pos, ++n)
      if (n < 9) frac = frac * 10 + (s[pos] - '0');
    if (n == 0) return std::nullopt;
    for (; n < 9; ++n) frac *= 10;
  }
  int64_t offset = 0;
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
    ++pos;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    int oh, om;
    if (!digits(s, pos + 1, 2, oh) || pos + 3 >= s.size() || s[pos + 3] != ':' ||
        !digits(s, pos + 4, 2, om) || oh > 23 || om > 59)
      return std::nullopt;
    offset = (oh * 3600 + om * 60) * (s[pos] == '+' ? 1 : -1);
    pos += 6;
  } else {
    return std::nullopt;
  }
  if (pos != s.size()) return std::nullopt;
  int64_t secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - offset;
  // int64 nanoseconds reach from 1677 to 2262.
  if (secs < -9'000'000'000LL || secs > 9'000'000'000LL) return std::nullopt;
  return secs * 1'000'000'000LL + frac;
}

std::optional<Clock::time_point> parse_rfc3339(std::string_view text) {
  auto ns = parse_rfc3339_ns(text);
  if (!ns) return std::nullopt;
  return Clock::time_point(std::chrono::duration_cast<Clock::duration>(std::chrono::nanoseconds(*ns)));
}

std::string http_date(std::time_t t) {
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[64];
  size_t n = std::strftime(buf, sizeof buf, kHttpDate, &tm);
  return std::string(buf, n);
}

std::optional<std::time_t> parse_http_date(std::string_view text) {
  std::string s(text);
  std::tm tm{};
  const char* end = ::strptime(s.c_str(), kHttpDate, &tm);
  if (!end || *end != '\0') return std::nullopt;
  return ::timegm(&tm);
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
