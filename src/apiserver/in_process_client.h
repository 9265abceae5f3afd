// k8s::ApiClient for code in the API server's process (the controllers): each call becomes the
// request an HTTPS client would send (method, target, JSON body, content type) and goes through the
// server's request chain (request_chain.h) as the given identity, minus only TLS and the socket:
// authorization, admission, the per-kind strategies and write hooks all decide as they would over
// HTTPS, and answers become Errors by the same mapping (k8s::status_error). Watches are the
// server's own watch streams, run on a thread of this client.
#pragma once

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <memory>
#include <string>
#include <thread>

#include "apiserver/http/http_types.h"
#include "k8s/api_client.h"

namespace podnet::apiserver {

class InProcessClient final : public k8s::ApiClient {
 public:
  // `chain` (RequestChain::handler()) must outlive the client, and the client every watch it opened.
  InProcessClient(HttpHandler& chain, Identity who, std::string user_agent = "podnet-controller-manager");
  ~InProcessClient() override;

  Result<boost::json::value> get(const std::string& path) override;
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

  // The answer as it came (status, headers, body); for tests that compare it with HTTPS.
  Reply roundtrip(http::verb method, const std::string& target, std::string body = {},
                  std::string_view content_type = {});

  // Server-side watches end after this long, as an HTTPS client's do (the informer resumes).
  static constexpr int kWatchTimeoutSeconds = 300;

 private:
  Result<boost::json::value> call(http::verb method, const std::string& target, std::string body = {},
                                  std::string_view content_type = {});

  HttpHandler& chain_;
  Identity who_;
  std::string user_agent_;
  boost::asio::io_context io_;  // runs the watch streams
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  std::thread thread_;
};

}  // namespace podnet::apiserver
