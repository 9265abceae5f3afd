// The real k8s::ApiClient: HTTPS to a Kubernetes API server with Boost.Beast and OpenSSL, CA
// verification, client-certificate and/or bearer-token auth. Reads and writes share a small pool of
// kept-alive TLS connections (one request at a time on each); each watch has its own.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "client/kubeconfig.h"
#include "k8s/api_client.h"

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

// Thread-safe: any thread may call any method.
class HttpsApiClient : public k8s::ApiClient {
 public:
  static Result<std::unique_ptr<HttpsApiClient>> create(const ClusterAccess& access,
                                                        HttpsClientOptions options = {});
  ~HttpsApiClient() override;

  Result<boost::json::value> get(const std::string& path) override;
  // GET a document that is not JSON (pods/<name>/log); errors as for get().
  Result<std::string> get_text(const std::string& path);
  Result<k8s::ListPage> list(const std::string& path, size_t limit,
                             const std::string& continue_token) override;
  Result<std::unique_ptr<k8s::WatchStream>> watch(const std::string& path,
                                                  const std::string& resource_version) override;
  Result<boost::json::value> create(const std::string& collection, const boost::json::value& object) override;
  Result<boost::json::value> update(const std::string& path, const boost::json::value& object) override;
  Result<boost::json::value> patch(const std::string& path, k8s::PatchType type,
                                   const boost::json::value& patch) override;
  Status remove(const std::string& path) override;
  Status remove(const std::string& path, const boost::json::value& delete_options) override;
  // Connections opened so far (tests: keep-alive reuses one).
  uint64_t connections_opened() const;

  struct Impl;

 private:
  explicit HttpsApiClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace podnet::client
