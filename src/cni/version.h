// CNI spec versions podnet-cni speaks, and the rules for which commands each allows.
#pragma once

#include <span>
#include <string>
#include <string_view>

namespace podnet::cni {

inline constexpr std::string_view kLatestVersion = "1.1.0";
std::span<const std::string_view> supported_versions();
bool is_supported_version(std::string_view v);
// Orders versions numerically ("0.3.1" < "0.4.0" < "1.0.0"); unparsable sorts first.
int compare_versions(std::string_view a, std::string_view b);
// {"cniVersion":"1.1.0","supportedVersions":[...]}
std::string version_info_json();

}  // namespace podnet::cni
