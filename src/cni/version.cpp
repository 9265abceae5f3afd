#include "cni/version.h"

#include <array>
#include <boost/json.hpp>
#include <charconv>

namespace podnet::cni {
namespace {

constexpr std::array<std::string_view, 5> kSupported = {"0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"};

std::array<int, 3> parse(std::string_view v) {
  std::array<int, 3> out{-1, -1, -1};
  for (int i = 0; i < 3 && !v.empty(); ++i) {
    auto dot = v.find('.');
    auto part = v.substr(0, dot);
    int n = 0;
    auto [p, ec] = std::from_chars(part.data(), part.data() + part.size(), n);
    if (ec != std::errc() || p != part.data() + part.size()) return {-1, -1, -1};
    out[i] = n;
    v = dot == std::string_view::npos ? std::string_view{} : v.substr(dot + 1);
  }
  return out;
}

}  // namespace

std::span<const std::string_view> supported_versions() {
  return kSupported;
}

bool is_supported_version(std::string_view v) {
  for (auto s : kSupported)
    if (s == v) return true;
  return false;
}

int compare_versions(std::string_view a, std::string_view b) {
  auto x = parse(a), y = parse(b);
  return x < y ? -1 : (x > y ? 1 : 0);
}

std::string version_info_json() {
  boost::json::object o;
  o["cniVersion"] = std::string(kLatestVersion);
  boost::json::array arr;
  for (auto s : kSupported) arr.emplace_back(std::string(s));
  o["supportedVersions"] = std::move(arr);
  return boost::json::serialize(o);
}

}  // namespace podnet::cni
