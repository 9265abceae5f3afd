// Pieces of request-target parsing shared by the node's :10250 endpoints (logs, exec): pure and
// non-throwing, as their parsers are fuzz targets. Query strings and path segments: common/query.h.
#pragma once

#include <algorithm>
#include <cctype>
#include <optional>
#include <string>
#include <string_view>

namespace podnet::target {

inline constexpr size_t kMaxNameLength = 253;

// Namespace, pod and container names: DNS-1123 characters only, so none can step out of the pod's
// directory.
inline bool valid_name(const std::string& s) {
  if (s.empty() || s.size() > kMaxNameLength || s == "." || s == "..") return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.';
  });
}

// kube-apiserver's rule for boolean query parameters: "0" and "false" (any case) are false, the
// rest (including an empty value) true; an absent parameter is false.
inline bool kube_bool(std::string_view v) {
  std::string lower(v);
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  return lower != "0" && lower != "false";
}

}  // namespace podnet::target
