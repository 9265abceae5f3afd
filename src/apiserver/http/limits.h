// The API server's resource limits, all in one place (docs/security.md, "Limits", lists them): how
// large and how deep a request body and a stored object may be, how much a patch may do, and how
// stored objects are parsed back. Reads accept deeper JSON than writes may store, so nothing a
// write stored can be unreadable.
#pragma once

#include <boost/json/value.hpp>
#include <chrono>
#include <cstddef>
#include <string_view>

#include "apiserver/api_error.h"

namespace podnet::apiserver::limits {

// kube-apiserver's MaxRequestBodyBytes: larger bodies are 413 before they are read.
inline constexpr size_t kMaxRequestBodyBytes = 3 * 1024 * 1024;
// A stored object, serialized: etcd's default request size limit (--max-request-bytes 1.5 MiB).
inline constexpr size_t kMaxObjectBytes = 3 * 512 * 1024;
// Nesting of objects and arrays ({} is 1) in a request body and in every object written.
inline constexpr size_t kMaxWriteDepth = 64;
// Nesting accepted when a stored object is read back: well above kMaxWriteDepth, so objects stored
// before the write limit existed (up to ~63 levels deep) are still read.
inline constexpr size_t kMaxReadDepth = 256;
static_assert(kMaxReadDepth >= kMaxWriteDepth);
// kube's TotalAnnotationSizeLimitB: keys plus values of metadata.annotations.
inline constexpr size_t kMaxAnnotationsBytes = 256 * 1024;
// kube's maxJSONPatchOperations.
inline constexpr size_t kMaxJsonPatchOperations = 10000;
// kube's JSONPatchMaxCopyBytes: the total a JSON patch's copy operations may add.
inline constexpr size_t kMaxJsonPatchCopyBytes = 3 * 1024 * 1024;
// A watch from a resourceVersion the store has not reached waits this long for it (kube's
// blockTimeout), then is answered 504 with Retry-After: kFutureWatchRetrySeconds.
inline constexpr std::chrono::seconds kFutureWatchWait{3};
inline constexpr int kFutureWatchRetrySeconds = 1;
// Concurrent connections of the HTTPS server (`podnet server --max-connections`); beyond them a new
// connection is closed at once.
inline constexpr size_t kDefaultMaxConnections = 4096;

// A request body (or any JSON from a client): Boost.JSON within kMaxWriteDepth. Never throws.
boost::json::value parse_request(std::string_view text, boost::system::error_code& ec,
                                 boost::json::storage_ptr sp = {});
// A stored object: within kMaxReadDepth. Never throws.
boost::json::value parse_stored(std::string_view text, boost::system::error_code& ec,
                                boost::json::storage_ptr sp = {});

// Nesting of `v` ({} and [] are 1, scalars 0), counted without recursion.
size_t depth(const boost::json::value& v);
// The length of serialize(v), counted without building the string.
size_t serialized_size(const boost::json::value& v);

// The checks every object passes before it is stored: `serialized` is what is about to be written.
// 413 RequestEntityTooLarge past kMaxObjectBytes, 422 Invalid past kMaxWriteDepth.
ApiResult<void> check_object(const boost::json::value& object, std::string_view serialized,
                             const std::string& group, const std::string& kind, const std::string& name);

}  // namespace podnet::apiserver::limits
