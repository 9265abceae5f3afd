// The real ApiClient: HTTPS to a Kubernetes API server with Boost.Beast and OpenSSL, CA
// verification, client-certificate and/or bearer-token auth. One TLS connection per request.
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
};

// "https://host[:port][/prefix]" split up; IPv6 hosts in brackets.
struct ServerUrl {
  std::string host;  // without brackets
  std::string port;  // "443" when absent
  std::string prefix;
};
Result<ServerUrl> parse_server_url(const std::string& url);

class HttpsApiClient : public ApiClient {
 public:
  static Result<std::unique_ptr<HttpsApiClient>> create(const ClusterAccess& access,
                                                        HttpsClientOptions options = {});
  ~HttpsApiClient() override;

  // GET one object or any JSON document.
  Result<boost::json::value> get(const std::string& path);
  Result<ListPage> list(const std::string& path, size_t limit, const std::string& continue_token) override;
  Result<std::unique_ptr<WatchStream>> watch(const std::string& path,
                                             const std::string& resource_version) override;

  struct Impl;

 private:
  explicit HttpsApiClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace podnet::client
