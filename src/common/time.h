// Time as the Kubernetes API writes it (RFC 3339 in UTC: seconds, microseconds or nanoseconds), HTTP
// dates, and durations as Go and kube's flags spell them ("1h", "90s", "1h30m"). The one place every
// module formats or parses a timestamp; no other strftime/strptime/timegm for these.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>

#include "common/error.h"

namespace podnet {

// Digits after the seconds: none (metav1.Time), 6 (metav1.MicroTime), 9 (container log lines).
enum class Fraction { kNone, kMicro, kNano };

// The decimal digits of v into out (at least 20 bytes, or `width` when larger), zero-padded on the
// left to `width`; returns the length. Async-signal-safe, like format_rfc3339.
size_t format_decimal(char* out, uint64_t v, int width = 0);

// Longest text format_rfc3339 writes: "2024-05-01T12:00:00.123456789Z".
inline constexpr size_t kRfc3339MaxLen = 30;

// Writes "2024-05-01T12:00:00[.fraction]Z" into out (at least kRfc3339MaxLen bytes) and returns its
// length. Pure arithmetic, async-signal-safe: a forked child may call it (gmtime_r is not).
size_t format_rfc3339(char* out, int64_t unix_ns, Fraction fraction);

// "2024-01-02T03:04:05Z": metav1.Time (creationTimestamp, firstTimestamp, conditions).
std::string rfc3339(std::chrono::system_clock::time_point t);
// The same from nanoseconds since the epoch, with the fraction asked for.
std::string rfc3339(int64_t unix_ns, Fraction fraction = Fraction::kNone);
// "2024-01-02T03:04:05.123456Z": metav1.MicroTime (eventTime, series.lastObservedTime).
std::string rfc3339_micro(std::chrono::system_clock::time_point t);

// Either form, any fraction (digits past nanoseconds are dropped), "Z" or a numeric offset; nullopt
// when malformed, not a calendar date, or outside what int64 nanoseconds hold (1677..2262).
std::optional<int64_t> parse_rfc3339_ns(std::string_view text);
std::optional<std::chrono::system_clock::time_point> parse_rfc3339(std::string_view text);

// RFC 7231 IMF-fixdate, "Sun, 06 Nov 1994 08:49:37 GMT" (Last-Modified, If-Modified-Since).
std::string http_date(std::time_t t);
std::optional<std::time_t> parse_http_date(std::string_view text);

// Go's time.ParseDuration for non-negative values: "300ms", "1.5h", "1h30m", "0". EINVAL otherwise.
Result<std::chrono::milliseconds> parse_duration(std::string_view text);

}  // namespace podnet
