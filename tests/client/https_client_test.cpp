// HttpsApiClient and the Informer over real TLS against FakeApiServer on 127.0.0.1: CA and
// hostname verification, client certificates, tokens, paged lists, chunked watch streams, drops
// with resume, 410 with relist, and prompt cancellation.
#include "client/https_client.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <thread>

#include "client/fake_apiserver.h"
#include "client/informer.h"
#include "client/watch_decoder.h"

namespace podnet::client {
namespace {

namespace json = boost::json;
using podnet::testing::FakeApiServer;
using podnet::testing::TestPki;

constexpr const char* kPath = "/api/v1/services";

json::object svc(const std::string& name, const std::string& ip = "10.96.0.1") {
  return json::object{{"kind", "Service"},
                      {"metadata", {{"name", name}, {"namespace", "default"}}},
                      {"spec", {{"clusterIP", ip}}}};
}

// Thread-safe record of what an informer delivered, with waiting.
class SyncRecorder : public InformerHandler {
 public:
  void on_upsert(const json::value& o) override { add("upsert " + object_key(o)); }
  void on_delete(const json::value& o) override { add("delete " + object_key(o)); }
  void on_synced() override { add("synced"); }
  bool wait_for(const std::string& entry, int count = 1) {
    std::unique_lock l(mu_);
    return cv_.wait_for(l, std::chrono::seconds(10),
                        [&] { return std::count(log_.begin(), log_.end(), entry) >= count; });
  }
  std::vector<std::string> log() {
    std::lock_guard l(mu_);
    return log_;
  }

 private:
  void add(std::string s) {
    std::lock_guard l(mu_);
    log_.push_back(std::move(s));
    cv_.notify_all();
  }
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> log_;
};

class HttpsClientTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { pki_ = new TestPki(TestPki::make()); }
  static void TearDownTestSuite() { delete pki_; }

  ClusterAccess access(const FakeApiServer& server) const {
    ClusterAccess a;
    a.server = server.url();
    a.ca_pem = pki_->ca.cert_pem;
    a.client_cert_pem = pki_->client.cert_pem;
    a.client_key_pem = pki_->client.key_pem;
    return a;
  }
  std::unique_ptr<HttpsApiClient> client(const ClusterAccess& a) {
    auto c = HttpsApiClient::create(a, {.request_timeout = std::chrono::seconds(5)});
    EXPECT_TRUE(c) << c.error().message();
    return c ? std::move(*c) : nullptr;
  }
  static size_t count_prefix(const std::vector<std::string>& reqs, const std::string& prefix) {
    return std::count_if(reqs.begin(), reqs.end(), [&](const auto& r) { return r.starts_with(prefix); });
  }

  static TestPki* pki_;
};
TestPki* HttpsClientTest::pki_ = nullptr;

TEST_F(HttpsClientTest, PagedListWithClientCertificate) {
  FakeApiServer server(*pki_, {.require_client_cert = true});
  for (int i = 0; i < 5; ++i) server.upsert(kPath, svc("s" + std::to_string(i)));
  auto c = client(access(server));
  auto p1 = c->list(kPath, 2, "");
  ASSERT_TRUE(p1) << p1.error().message();
  EXPECT_EQ(p1->items.size(), 2u);
  EXPECT_EQ(p1->continue_token, "2");
  EXPECT_EQ(p1->resource_version, "6");

  SyncRecorder rec;
  Informer inf(*c, rec, {.path = kPath, .page_size = 2});
  ASSERT_TRUE(inf.step());
  EXPECT_EQ(inf.size(), 5u);
  EXPECT_EQ(server.requests().back(), std::string(kPath) + "?limit=2&continue=4");
}

TEST_F(HttpsClientTest, VerificationAndAuthFailures) {
  FakeApiServer server(*pki_, {.require_client_cert = true});
  server.add_resource(kPath);
  {
    auto a = access(server);
    a.ca_pem = TestPki::make().ca.cert_pem;  // another CA: the server is not trusted
    auto r = client(a)->list(kPath, 10, "");
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message().find("TLS handshake"), std::string::npos) << r.error().message();
  }
  {
    auto a = access(server);
    a.server = "https://localhost:" + std::to_string(server.port());  // the cert says 127.0.0.1 only
    auto r = client(a)->list(kPath, 10, "");
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message().find("TLS handshake"), std::string::npos) << r.error().message();
  }
  {
    auto a = access(server);
    a.client_cert_pem.clear();
    a.client_key_pem.clear();
    EXPECT_FALSE(client(a)->list(kPath, 10, ""));  // the server wants a client certificate
  }
  {
    auto a = access(server);
    a.ca_pem.clear();
    a.insecure_skip_tls_verify = true;
    EXPECT_TRUE(client(a)->list(kPath, 10, ""));
  }
}

TEST_F(HttpsClientTest, BearerToken) {
  FakeApiServer server(*pki_, {.token = "s3cret"});
  server.add_resource(kPath);
  ClusterAccess a;
  a.server = server.url();
  a.ca_pem = pki_->ca.cert_pem;
  a.token = "wrong";
  auto r = client(a)->list(kPath, 10, "");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("HTTP 401: Unauthorized"), std::string::npos) << r.error().message();
  a.token = "s3cret";
  EXPECT_TRUE(client(a)->list(kPath, 10, ""));
  auto missing = client(a)->list("/api/v1/nothing", 10, "");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message().find("HTTP 404"), std::string::npos);
}

TEST_F(HttpsClientTest, InformerFollowsWatchResumesAndRelists) {
  FakeApiServer server(*pki_);
  server.upsert(kPath, svc("a"));
  auto c = client(access(server));
  SyncRecorder rec;
  Informer inf(*c, rec, {.path = kPath, .initial_backoff = std::chrono::milliseconds(10)});
  std::thread t([&] { inf.run(); });
  // A failed ASSERT returns early: stop and join rather than abort on a joinable thread.
  struct Joiner {
    Informer& inf;
    std::thread& t;
    ~Joiner() {
      if (!t.joinable()) return;
      inf.stop();
      t.join();
    }
  } joiner{inf, t};
  ASSERT_TRUE(rec.wait_for("synced"));
  for (int i = 0; i < 200 && server.open_watches() == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));

  // Events over the chunked stream.
  server.upsert(kPath, svc("b"));
  server.upsert(kPath, svc("a", "10.96.0.2"));
  server.remove(kPath, "default/b");
  ASSERT_TRUE(rec.wait_for("delete default/b"));
  EXPECT_EQ(rec.log(), (std::vector<std::string>{"upsert default/a", "synced", "upsert default/b",
                                                 "upsert default/a", "delete default/b"}));

  // A cut connection: the next watch resumes from the last event's resourceVersion.
  server.drop_watches();
  server.upsert(kPath, svc("c"));
  ASSERT_TRUE(rec.wait_for("upsert default/c"));
  EXPECT_EQ(count_prefix(server.requests(),
                         std::string(kPath) +
                             "?watch=1&allowWatchBookmarks=true&timeoutSeconds=300&resourceVersion=5"),
            1u)
      << ::testing::PrintToString(server.requests());

  // Bookmarks move the position without delivering anything.
  server.bookmark(kPath);
  for (int i = 0; i < 200 && inf.resource_version() != "7"; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));

  // History compacted while disconnected: ERROR 410 in the stream, then a relist that finds d.
  server.hold_watches(true);
  server.drop_watches();
  server.compact();
  server.upsert(kPath, svc("d"));
  server.compact();
  server.hold_watches(false);
  ASSERT_TRUE(rec.wait_for("synced", 2));
  ASSERT_TRUE(rec.wait_for("upsert default/d"));

  // HTTP 410 on the watch request itself: relist as well.
  server.fail_watches_with_410(1);
  server.drop_watches();
  ASSERT_TRUE(rec.wait_for("synced", 3));

  // stop() returns promptly even though a watch is blocked waiting for events.
  for (int i = 0; i < 200 && server.open_watches() == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  auto before = std::chrono::steady_clock::now();
  inf.stop();
  t.join();
  EXPECT_LT(std::chrono::steady_clock::now() - before, std::chrono::seconds(2));
}

TEST(ServerUrl, Parses) {
  auto u = parse_server_url("https://[fd00::1]:6443/k8s/");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->host, "fd00::1");
  EXPECT_EQ(u->port, "6443");
  EXPECT_EQ(u->prefix, "/k8s");
  u = parse_server_url("https://api.example");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->port, "443");
  EXPECT_FALSE(parse_server_url("http://x"));
  EXPECT_FALSE(parse_server_url("https://x:port"));
}

}  // namespace
}  // namespace podnet::client
