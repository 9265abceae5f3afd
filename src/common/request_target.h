// Pieces of request-target parsing shared by the node's :10250 endpoints (logs, exec): pure and
// non-throwing, as their parsers are fuzz targets.
#pragma once

#include <algorithm>
#include <cctype>
#include <optional>
#include <string>
#include <string_view>

namespace podnet::target {

inline constexpr size_t kMaxNameLength = 253;

inline int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Percent-decoding; nullopt on a '%' not followed by two hex digits. '+' is a space only in a query.
inline std::optional<std::string> percent_decode(std::string_view s, bool plus_is_space) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%') {
      if (i + 2 >= s.size()) return std::nullopt;
      int hi = hex_value(s[i + 1]), lo = hex_value(s[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else {
      out += plus_is_space && s[i] == '+' ? ' ' : s[i];
    }
  }
  return out;
}

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
