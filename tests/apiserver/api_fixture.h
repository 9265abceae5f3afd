// A real ApiServer on 127.0.0.1:<free port> over a temporary data directory, with clients that
// authenticate as the admin or not at all. A small body limit and fast bookmarks keep tests quick.
#pragma once

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "apiserver/api_server.h"
#include "common/files.h"
#include "support/temp_dir.h"
#include "tls_client.h"

namespace podnet::apiserver::testing {

inline constexpr size_t kTestBodyLimit = 64 * 1024;

class ApiServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ApiServerOptions options;
    options.data_dir = dir_.path() + "/data";
    options.port = 0;
    options.body_limit = kTestBodyLimit;
    options.bookmark_interval = std::chrono::milliseconds(200);
    options.random_seed = 42;
    auto server = ApiServer::start(options);
    ASSERT_TRUE(server) << server.error().message();
    server_ = std::move(*server);
    auto ca = read_file(server_->pki_dir() + "/ca.crt");
    auto cert = read_file(server_->pki_dir() + "/admin.crt");
    auto key = read_file(server_->pki_dir() + "/admin.key");
    ASSERT_TRUE(ca && cert && key);
    ca_pem_ = *ca;
    admin_ = KeyPair{*cert, *key};
  }

  TlsClient admin() const { return TlsClient(server_->port(), ca_pem_, admin_); }
  TlsClient anonymous() const { return TlsClient(server_->port(), ca_pem_, std::nullopt); }

  // POSTs a minimal object and returns the created one.
  boost::json::value create(const std::string& collection, boost::json::value object) {
    auto r = admin().post(collection, object);
    EXPECT_EQ(r.status, 201) << r.body;
    return r.json();
  }

  podnet::testing::TempDir dir_{"podnet-api"};
  std::unique_ptr<ApiServer> server_;
  std::string ca_pem_;
  KeyPair admin_;

 public:
  static boost::json::value pod(const std::string& name, boost::json::object labels = {}) {
    return boost::json::object{
        {"apiVersion", "v1"},
        {"kind", "Pod"},
        {"metadata", {{"name", name}, {"labels", std::move(labels)}}},
        {"spec", {{"containers", boost::json::array{{{"name", "c"}, {"image", "nginx"}}}}}}};
  }

  static std::string str(const boost::json::value& v, std::initializer_list<const char*> path) {
    const boost::json::value* cur = &v;
    for (const char* p : path) {
      const auto* o = cur->if_object();
      cur = o ? o->if_contains(p) : nullptr;
      if (!cur) return {};
    }
    return cur->is_string() ? std::string(cur->get_string()) : boost::json::serialize(*cur);
  }
};

}  // namespace podnet::apiserver::testing
