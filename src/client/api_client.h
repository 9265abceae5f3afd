// What informers need from the Kubernetes API: LIST one page, open a WATCH stream. An interface so
// the informer logic is tested with a fake; HttpsApiClient (https_client.h) is the real one.
#pragma once

#include <boost/json/value.hpp>
#include <cerrno>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/error.h"

namespace podnet::client {

// Error::code of "410 Gone / Expired": the resourceVersion (or continue token) asked for is older
// than the server keeps. Not a system error, but errno values are what Error carries, and ESTALE
// ("stale handle") names the same situation; callers compare with is_expired().
inline constexpr int kExpired = ESTALE;
inline bool is_expired(const Error& e) {
  return e.code == kExpired;
}
// 404 NotFound: the object (or resource) does not exist.
inline constexpr int kNotFound = ENOENT;
// 409 AlreadyExists: a create found an object of that name.
inline constexpr int kAlreadyExists = EEXIST;
// 409 Conflict: an update or patch carried a resourceVersion (or precondition) the object no longer
// has; re-read and retry. EBUSY because ESTALE already means 410.
inline constexpr int kConflict = EBUSY;
inline bool is_not_found(const Error& e) {
  return e.code == kNotFound;
}
inline bool is_already_exists(const Error& e) {
  return e.code == kAlreadyExists;
}
inline bool is_conflict(const Error& e) {
  return e.code == kConflict;
}

struct ListPage {
  std::vector<boost::json::value> items;
  std::string resource_version;  // metadata.resourceVersion of the list
  std::string continue_token;    // empty on the last page
};

struct WatchEvent {
  enum class Type { kAdded, kModified, kDeleted, kBookmark, kError };
  Type type = Type::kAdded;
  boost::json::value object;  // the object, or a metav1.Status for kError
};

class WatchStream {
 public:
  virtual ~WatchStream() = default;
  // The next event; nullopt when the server ended the stream cleanly (its timeout). Errors are a
  // dropped connection, a read timeout, malformed JSON, or cancel().
  virtual Result<std::optional<WatchEvent>> next() = 0;
  // Makes a next() running on another thread return promptly with an error (ECANCELED).
  virtual void cancel() = 0;
};

class ApiClient {
 public:
  virtual ~ApiClient() = default;
  // GET `path` (e.g. /api/v1/services) with ?limit and ?continue.
  virtual Result<ListPage> list(const std::string& path, size_t limit, const std::string& continue_token) = 0;
  // GET `path`?watch=1&resourceVersion=...&allowWatchBookmarks=true. kExpired when the server
  // answers 410 at once.
  virtual Result<std::unique_ptr<WatchStream>> watch(const std::string& path,
                                                     const std::string& resource_version) = 0;
};

}  // namespace podnet::client
