// CNI error values: the spec's well-known codes plus podnet-cni's own (from 100, listed in
// docs/cni.md), and their JSON encoding on stdout.
#pragma once

#include <cstdint>
#include <expected>
#include <string>

#include "common/error.h"

namespace podnet::cni {

enum Code : uint32_t {
  kIncompatibleVersion = 1,
  kUnsupportedField = 2,
  kUnknownContainer = 3,
  kInvalidEnvironment = 4,
  kIoFailure = 5,
  kDecodeFailure = 6,
  kInvalidConfig = 7,
  kTryAgainLater = 11,
  kPluginNotAvailable = 50,
  kPluginNotAvailableLimitedResources = 51,
  // podnet-cni's own codes.
  kKernelFailure = 100,       // a netlink or sysctl operation failed
  kInterfaceExists = 101,     // CNI_IFNAME already exists in the container (second ADD)
  kBridgeConflict = 102,      // the bridge name is taken by a link of another kind, or has another address
  kAddressUnavailable = 103,  // a requested IP is taken or outside every range
  kPoolExhausted = 104,       // no free address in a range set
  kPortMappingFailed = 105,   // hostPort, masquerade or macspoofchk rules could not be installed
  kDelegateFailed = 106,      // a delegated IPAM plugin failed without a CNI error of its own
  kAlreadyAllocated = 107,    // the container already holds addresses on this network
  kCheckFailed = 108,         // CHECK found the attachment differs from its previous result
};

struct CniError {
  uint32_t code = kKernelFailure;
  std::string msg;
  std::string details;
};

template <class T>
using CniResult = std::expected<T, CniError>;
using CniStatus = std::expected<void, CniError>;

inline std::unexpected<CniError> cni_fail(uint32_t code, std::string msg, std::string details = {}) {
  return std::unexpected(CniError{code, std::move(msg), std::move(details)});
}
// A system error becomes a CNI error with the given code; its message carries errno text.
inline std::unexpected<CniError> cni_fail(uint32_t code, const Error& e) {
  return std::unexpected(CniError{code, e.message(), {}});
}

std::string encode_error(const CniError& e, const std::string& cni_version);

}  // namespace podnet::cni

// Like PODNET_TRY for a Result<T> with a system Error, returning it as a CNI error with `code`.
#define CNI_TRY(var, expr, code)                                                 \
  auto var##_result = (expr);                                                    \
  if (!var##_result) return ::podnet::cni::cni_fail(code, var##_result.error()); \
  auto var = std::move(*var##_result)
