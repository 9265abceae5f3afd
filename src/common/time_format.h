// Time as the Kubernetes API writes it (RFC 3339 in UTC, seconds or microseconds) and durations as
// Go and kube's flags spell them ("1h", "90s", "1h30m"). Shared by every module that stamps objects.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "common/error.h"

namespace podnet {

// "2024-01-02T03:04:05Z": metav1.Time (firstTimestamp, creationTimestamp).
std::string rfc3339(std::chrono::system_clock::time_point t);
// "2024-01-02T03:04:05.123456Z": metav1.MicroTime (eventTime, series.lastObservedTime).
std::string rfc3339_micro(std::chrono::system_clock::time_point t);
// Either form, or any fraction, with "Z" or a numeric offset; nullopt when malformed.
std::optional<std::chrono::system_clock::time_point> parse_rfc3339(std::string_view text);
// Go's time.ParseDuration for non-negative values: "300ms", "1.5h", "1h30m", "0". EINVAL otherwise.
Result<std::chrono::milliseconds> parse_duration(std::string_view text);

}  // namespace podnet
