// The one client interface of the Kubernetes API: get, list (one page), watch, create, update (and
// the status subresource), patch with one PatchType, delete. Paths are the REST paths
// (/api/v1/namespaces/ns/pods/name); errors are Error with the codes below. HttpsApiClient
// (client/https_client.h) is the real one; the agent, the proxy, DNS, policy and the pod runner see
// only this header, and tests put fakes behind it.
#pragma once

#include <boost/json/value.hpp>
#include <cerrno>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"

namespace podnet::k8s {

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

// Content types of PATCH: RFC 7386 JSON merge patch, Kubernetes strategic merge patch, RFC 6902
// JSON patch. The only PatchType of the code base: the API server's patch code uses it too
// (scripts/check-layering.py refuses a second one).
enum class PatchType { kMerge, kStrategicMerge, kJson };

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

// Implementations are thread-safe: any thread may call any method.
class ApiClient {
 public:
  virtual ~ApiClient() = default;
  // GET one object or any JSON document.
  virtual Result<boost::json::value> get(const std::string& path) = 0;
  // GET `path` (e.g. /api/v1/services) with ?limit and ?continue.
  virtual Result<ListPage> list(const std::string& path, size_t limit, const std::string& continue_token) = 0;
  // GET `path`?watch=1&resourceVersion=...&allowWatchBookmarks=true. kExpired when the server
  // answers 410 at once.
  virtual Result<std::unique_ptr<WatchStream>> watch(const std::string& path,
                                                     const std::string& resource_version) = 0;
  // Writes return the object as the server stored it. Kubernetes Status errors become Error codes:
  // 404 kNotFound, 409 kAlreadyExists (reason AlreadyExists) or kConflict, 410 kExpired,
  // 401/403 EACCES, 400/422 EINVAL, others 0; the message is the Status message.
  // POST to a collection path (/api/v1/nodes).
  virtual Result<boost::json::value> create(const std::string& collection,
                                            const boost::json::value& object) = 0;
  // PUT to an object path (or its /status); a metadata.resourceVersion in `object` is a precondition.
  virtual Result<boost::json::value> update(const std::string& path, const boost::json::value& object) = 0;
  virtual Result<boost::json::value> patch(const std::string& path, PatchType type,
                                           const boost::json::value& patch) = 0;
  // DELETE; the server's answer (the deleted object or a Status) is dropped.
  virtual Status remove(const std::string& path) = 0;
  // DELETE with a DeleteOptions body (gracePeriodSeconds, preconditions).
  virtual Status remove(const std::string& path, const boost::json::value& delete_options) = 0;

  // The status subresource of the object at `path`: PUT `path`/status.
  Result<boost::json::value> update_status(const std::string& path, const boost::json::value& object) {
    return update(path + "/status", object);
  }
};

// What both implementations share, so that they cannot disagree: a failed answer (HTTP status and
// its metav1.Status body) as an Error with the codes above ("HTTP 409: <Status message>"), a watch
// event line, a LIST answer as a page, and the request targets of LIST and WATCH.
Error status_error(unsigned status, std::string_view body);
Result<WatchEvent> parse_watch_event(std::string_view json_text);
Result<ListPage> parse_list_page(const boost::json::value& answer, const std::string& path);
std::string list_target(const std::string& path, size_t limit, const std::string& continue_token);
std::string watch_target(const std::string& path, const std::string& resource_version, int timeout_seconds);

}  // namespace podnet::k8s
