// The real ApiClient: HTTPS to a Kubernetes API server with Boost.Beast and OpenSSL, CA
// verification, client-certificate and/or bearer-token auth. Reads and writes share a small pool of
// kept-alive TLS connections (one request at a time on each); each watch has its own.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "client/api_client.h"
#include "client/kubeconfig.h"

namespace podnet::client {

struct HttpsClientOptions {
  std::chrono::seconds request_timeout{30};  // connect + TLS + one whole LIST page
  // Asked of the server (timeoutSeconds); the client gives up on a silent stream 30 s after that,
  // which is what catches a peer that vanished without a reset.
  int watch_timeout_seconds = 300;
  std::string user_agent = "podnet";
  // Kept-alive request connections kept for reuse while no request uses them.
  size_t max_idle_connections = 8;
};

// "https://host[:port][/prefix]" split up; IPv6 hosts in brackets.
struct ServerUrl {
  std::string host;  // without brackets
  std::string port;  // "443" when absent
  std::string prefix;
};
Result<ServerUrl> parse_server_url(const std::string& url);

// Content types of PATCH: RFC 7386 JSON merge patch, Kubernetes strategic merge patch, RFC 6902.
enum class PatchType { kMerge, kStrategicMerge, kJson };

// Thread-safe: any thread may call any method.
class HttpsApiClient : public ApiClient {
 public:
  static Result<std::unique_ptr<HttpsApiClient>> create(const ClusterAccess& access,
                                                        HttpsClientOptions options = {});
  ~HttpsApiClient() override;

  // GET one object or any JSON document.
  Result<boost::json::value> get(const std::string& path);
  // GET a document that is not JSON (pods/<name>/log); errors as for get().
  Result<std::string> get_text(const std::string& path);
  // Writes return the object as the server stored it. Kubernetes Status errors become Error codes:
  // 404 kNotFound, 409 kAlreadyExists (reason AlreadyExists) or kConflict, 410 kExpired,
  // 401/403 EACCES, 400/422 EINVAL, others 0 (api_client.h); the message is the Status message.
  // POST to a collection path (/api/v1/nodes).
  Result<boost::json::value> create(const std::string& collection, const boost::json::value& object);
  // PUT to an object path (or its /status); a metadata.resourceVersion in `object` is a precondition.
  Result<boost::json::value> update(const std::string& path, const boost::json::value& object);
  Result<boost::json::value> patch(const std::string& path, PatchType type, const boost::json::value& patch);
  // DELETE; the server's answer (the deleted object or a Status) is dropped.
  Status remove(const std::string& path);
  // DELETE with a DeleteOptions body (gracePeriodSeconds, preconditions).
  Status remove(const std::string& path, const boost::json::value& delete_options);
  // Connections opened so far (tests: keep-alive reuses one).
  uint64_t connections_opened() const;
  Result<ListPage> list(const std::string& path, size_t limit, const std::string& continue_token) override;
  Result<std::unique_ptr<WatchStream>> watch(const std::string& path,
                                             const std::string& resource_version) override;

  struct Impl;

 private:
  explicit HttpsApiClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace podnet::client
