// Where the tests find kubectl, and the reason they give for skipping without it: a fresh Debian 12
// has no kubectl (its kubernetes-client package is v1.20); README.md says where ours comes from.
#pragma once

#include <unistd.h>

#include <string>

namespace podnet::testing {

inline constexpr const char* kKubectl = "/usr/bin/kubectl";

// Empty when kubectl is there; otherwise the skip reason to print.
inline std::string kubectl_missing() {
  if (::access(kKubectl, X_OK) == 0) return {};
  return std::string("SKIPPED: no kubectl at ") + kKubectl +
         " (Debian 12 has none new enough: install the official release binary, v1.32, as README.md's "
         "\"kubectl\" section says)";
}

}  // namespace podnet::testing
