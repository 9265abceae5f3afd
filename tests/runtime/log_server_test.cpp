// The agent's log server through real TLS sockets: who may read (the API server's kubelet client
// certificate, admins; not anonymous clients, not a node's own credential, not another CA's
// certificate), request parsing that answers 400 instead of aborting, and the TLS policy as
// `openssl s_client` sees it. Also parse_log_request as a pure function.
#include "runtime/log_server.h"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <optional>
#include <thread>

#include "apiserver/auth/pki.h"
#include "common/files.h"
#include "common/time.h"
#include "support/temp_dir.h"
#include "tls_client.h"

namespace podnet::runtime {
namespace {

using apiserver::CertRequest;
using apiserver::KeyPair;
using apiserver::testing::TlsClient;

KeyPair leaf(const KeyPair& ca, const std::string& cn, std::vector<std::string> orgs, bool server) {
  CertRequest r;
  r.common_name = cn;
  r.organizations = std::move(orgs);
  r.server_auth = server;
  r.client_auth = !server;
  if (server) r.ip_addresses = {"127.0.0.1"};
  auto pair = apiserver::make_leaf(ca, r);
  EXPECT_TRUE(pair) << pair.error().message();
  return pair.value_or(KeyPair{});
}

// The command's output (stdout and stderr).
std::string run(const std::string& cmd) {
  std::string out;
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return out;
  char buf[4096];
  for (size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
  ::pclose(p);
  return out;
}

class LogServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ca_ = *apiserver::make_ca("podnet-ca");
    // CRI lines as the shim writes them.
    log_ = dir_.path() + "/c.log";
    ASSERT_TRUE(write_file_atomic(log_,
                                  "2024-05-01T12:00:00.000000001Z stdout F one\n"
                                  "2024-05-01T12:00:01.000000001Z stdout F two\n"
                                  "2024-05-01T12:00:02.000000001Z stdout F three\n"));
    LogServerTls tls;
    serving_ = leaf(ca_, "system:node:node1", {"system:nodes"}, true);
    tls.cert_pem = serving_.cert_pem;
    tls.key_pem = serving_.key_pem;
    tls.client_ca_pem = ca_.cert_pem;
    auto server = LogServer::start("127.0.0.1", 0, nullptr, tls,
                                   [this](const std::string& ns, const std::string& pod,
                                          const std::string& c) -> std::optional<LogSource> {
                                     if (ns != "default" || pod != "web" || c != "c") return std::nullopt;
                                     return LogSource{log_, [] { return false; }};
                                   });
    ASSERT_TRUE(server) << server.error().message();
    server_ = std::move(*server);
  }

  TlsClient as(std::optional<KeyPair> client) { return TlsClient(server_->port(), ca_.cert_pem, client); }
  TlsClient apiserver() { return as(leaf(ca_, "kube-apiserver-kubelet-client", {}, false)); }

  testing::TempDir dir_{"podnet-logsrv"};
  KeyPair ca_, serving_;
  std::string log_;
  std::unique_ptr<LogServer> server_;
};

TEST_F(LogServerTest, TheApiServersClientCertificateReadsLogs) {
  auto r = apiserver().get("/containerLogs/default/web/c?tailLines=2");
  ASSERT_EQ(r.status, 200) << r.error << r.body;
  EXPECT_EQ(r.body, "two\nthree\n");
  auto admin = as(leaf(ca_, "podnet-admin", {"system:masters"}, false)).get("/containerLogs/default/web/c");
  EXPECT_EQ(admin.status, 200) << "system:masters may read";
  EXPECT_EQ(admin.body, "one\ntwo\nthree\n");
  EXPECT_EQ(apiserver().get("/containerLogs/default/other/c").status, 404);
}

TEST_F(LogServerTest, NoOneElseReads) {
  auto anonymous = as(std::nullopt).get("/containerLogs/default/web/c");
  EXPECT_EQ(anonymous.status, 0) << "no client certificate: the handshake fails; got " << anonymous.body;
  // A node's own credential is from the right CA but not the API server: 403, as kubelet's authorizer.
  auto node = as(leaf(ca_, "system:node:node1", {"system:nodes"}, false)).get("/containerLogs/default/web/c");
  EXPECT_EQ(node.status, 403);
  EXPECT_EQ(node.body, "Forbidden (user=system:node:node1, verb=get, resource=nodes, subresource=proxy)\n");
  auto other_ca = *apiserver::make_ca("other-ca");
  auto foreign =
      as(leaf(other_ca, "kube-apiserver-kubelet-client", {}, false)).get("/containerLogs/default/web/c");
  EXPECT_EQ(foreign.status, 0) << "a certificate from another CA fails the handshake";
  EXPECT_EQ(apiserver().get("/containerLogs/default/web/c").status, 200) << "the server still serves";
}

TEST_F(LogServerTest, BadRequestsGet400AndTheServerLives) {
  for (const char* target :
       {"/containerLogs/default/web/c?tailLines=%zz", "/containerLogs/%zz/web/c",
        "/containerLogs/default/web/c%", "/containerLogs/default/web/c?tailLines=99999999999999999999",
        "/containerLogs/default/web/c?limitBytes=-5", "/containerLogs/default/web/c?sinceSeconds=0",
        "/containerLogs/default/web/c?sinceSeconds=1e9", "/containerLogs/default/web/c?sinceTime=yesterday",
        "/containerLogs/default/web/..", "/containerLogs/default/web/c%2F..%2F..%2Fetc"}) {
    auto r = apiserver().get(target);
    EXPECT_EQ(r.status, 400) << target << ": " << r.error << r.body;
  }
  auto r = apiserver().get("/containerLogs/default/web/c?sinceSeconds=99999999999999&timestamps=TRUE");
  ASSERT_EQ(r.status, 200) << "a since before the epoch is everything";
  EXPECT_EQ(r.body.substr(0, 35), "2024-05-01T12:00:00.000000001Z one\n");
}

// Long sessions (log followers here; exec sessions and every connection of a port-forward alike) are
// not capped by the bound on connections still in their handshake: 140 at once are all served (the
// listener used to close every connection past 128).
TEST_F(LogServerTest, ManyLongSessionsAtOnce) {
  std::atomic<bool> live{true};
  LogServerTls tls;
  tls.cert_pem = serving_.cert_pem;
  tls.key_pem = serving_.key_pem;
  tls.client_ca_pem = ca_.cert_pem;
  auto server = LogServer::start(
      "127.0.0.1", 0, nullptr, tls, [&](const std::string&, const std::string&, const std::string&) {
        return std::optional<LogSource>(LogSource{log_, [&] { return live.load(); }});
      });
  ASSERT_TRUE(server) << server.error().message();
  TlsClient client((*server)->port(), ca_.cert_pem, leaf(ca_, "kube-apiserver-kubelet-client", {}, false));
  // Opened from 4 threads (each connection waits on a round trip or two, not on the CPU).
  std::vector<std::unique_ptr<apiserver::testing::WatchReader>> followers[4];
  std::atomic<int> refused{0};
  std::vector<std::thread> openers;
  for (auto& mine : followers)
    openers.emplace_back([&client, &refused, &mine] {
      for (int i = 0; i < 35; ++i) {
        auto f = client.watch("/containerLogs/default/web/c?follow=true");
        if (!f || f->status() != 200) ++refused;
        if (f) mine.push_back(std::move(f));
      }
    });
  for (auto& t : openers) t.join();
  EXPECT_EQ(refused, 0) << "of 140 followers at once";
  live = false;
  for (auto& mine : followers) mine.clear();
}

TEST_F(LogServerTest, TlsPolicyAsOpensslSeesIt) {
  ASSERT_TRUE(write_file_atomic(dir_.path() + "/ca.crt", ca_.cert_pem));
  auto client = leaf(ca_, "kube-apiserver-kubelet-client", {}, false);
  ASSERT_TRUE(write_file_atomic(dir_.path() + "/c.crt", client.cert_pem));
  ASSERT_TRUE(write_file_atomic(dir_.path() + "/c.key", client.key_pem));
  std::string base = "openssl s_client -connect 127.0.0.1:" + std::to_string(server_->port()) + " -CAfile " +
                     dir_.path() + "/ca.crt -cert " + dir_.path() + "/c.crt -key " + dir_.path() +
                     "/c.key -tls1_2 </dev/null";
  std::string aead = run(base + " -cipher ECDHE-ECDSA-AES128-GCM-SHA256");
  EXPECT_NE(aead.find("Cipher is ECDHE-ECDSA-AES128-GCM-SHA256"), std::string::npos) << aead;
  for (const char* cbc : {"ECDHE-ECDSA-AES128-SHA", "ECDHE-ECDSA-AES256-SHA", "ECDHE-ECDSA-AES128-SHA256"}) {
    std::string out = run(base + " -cipher " + std::string(cbc));
    EXPECT_NE(out.find("Cipher is (NONE)"), std::string::npos) << cbc << " must be refused: " << out;
  }
}

// One TLS connection held open by the test, requests written and answers read on it in turn:
// what the API server's node dialer does when it keeps connections to a node.
class KeptConnection {
 public:
  KeptConnection(uint16_t port, const std::string& ca_pem, const KeyPair& client)
      : ctx_(boost::asio::ssl::context::tls_client) {
    // The context is complete before the stream is made from it (SSL_new copies the certificate).
    boost::system::error_code ec;
    ctx_.add_certificate_authority(boost::asio::buffer(ca_pem), ec);
    ctx_.use_certificate_chain(boost::asio::buffer(client.cert_pem), ec);
    ctx_.use_private_key(boost::asio::buffer(client.key_pem), boost::asio::ssl::context::pem, ec);
    ctx_.set_verify_mode(boost::asio::ssl::verify_peer, ec);
    stream_.emplace(ioc_, ctx_);
    auto& tcp = boost::beast::get_lowest_layer(*stream_);
    tcp.expires_after(std::chrono::seconds(10));
    tcp.connect({boost::asio::ip::make_address("127.0.0.1"), port}, ec);
    if (!ec) stream_->handshake(boost::asio::ssl::stream_base::client, ec);
    error_ = ec;
  }
  bool ok() const { return !error_; }
  // Writes the bytes as they are (one request, several, or a malformed one).
  bool write(const std::string& bytes) {
    boost::system::error_code ec;
    boost::beast::get_lowest_layer(*stream_).expires_after(std::chrono::seconds(10));
    boost::asio::write(*stream_, boost::asio::buffer(bytes), ec);
    return !ec;
  }
  bool get(const std::string& target, const std::string& extra = "") {
    return write("GET " + target + " HTTP/1.1\r\nHost: node\r\n" + extra + "\r\n");
  }
  // The next response; status 0 when the connection ended (or nothing came within `timeout`).
  std::pair<int, boost::beast::http::response<boost::beast::http::string_body>> read(
      std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    boost::beast::http::response<boost::beast::http::string_body> res;
    boost::system::error_code ec;
    boost::beast::get_lowest_layer(*stream_).expires_after(timeout);
    boost::beast::http::read(*stream_, buffer_, res, ec);
    if (ec) {
      last_error = ec.message();
      return {0, {}};
    }
    return {res.result_int(), std::move(res)};
  }

 private:
  boost::asio::io_context ioc_;
  boost::asio::ssl::context ctx_;
  std::optional<boost::beast::ssl_stream<boost::beast::tcp_stream>> stream_;
  boost::beast::flat_buffer buffer_;
  boost::system::error_code error_;

 public:
  std::string last_error;  // of the last read that failed
};

// HTTP/1.1 keep-alive, as kubelet's server: requests answered in full leave the connection open for
// the next (node API, a log read, errors after authorization, pipelined requests); a follower, a
// request with Connection: close, a request with a body and an idle connection end it.
TEST_F(LogServerTest, KeepsTheConnectionForTheNextRequest) {
  LogServerTls tls;
  tls.cert_pem = serving_.cert_pem;
  tls.key_pem = serving_.key_pem;
  tls.client_ca_pem = ca_.cert_pem;
  tls.idle_timeout = std::chrono::milliseconds(300);
  std::atomic<int> node_api_calls{0};
  auto server = LogServer::start(
      "127.0.0.1", 0, nullptr, tls,
      [this](const std::string&, const std::string& pod, const std::string&) -> std::optional<LogSource> {
        if (pod != "web") return std::nullopt;
        return LogSource{log_, [] { return false; }};
      },
      {}, {},
      [&](std::string_view target) {
        ++node_api_calls;
        return NodeApiAnswer{200, "{\"target\":\"" + std::string(target) + "\"}"};
      });
  ASSERT_TRUE(server) << server.error().message();
  const KeyPair client = leaf(ca_, "kube-apiserver-kubelet-client", {}, false);
  const uint16_t port = (*server)->port();

  KeptConnection c(port, ca_.cert_pem, client);
  ASSERT_TRUE(c.ok());
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(c.get("/podnet/v1/flows?n=" + std::to_string(i)));
    auto [status, res] = c.read();
    ASSERT_EQ(status, 200) << "request " << i << " on the same connection: " << c.last_error;
    EXPECT_EQ(res.body(), "{\"target\":\"/podnet/v1/flows?n=" + std::to_string(i) + "\"}");
    EXPECT_TRUE(res.keep_alive());
  }
  ASSERT_TRUE(c.get("/containerLogs/default/web/c?tailLines=1"));
  auto [log_status, log] = c.read();
  ASSERT_EQ(log_status, 200);
  EXPECT_EQ(log.body(), "three\n");
  EXPECT_TRUE(log.keep_alive());
  ASSERT_TRUE(c.get("/containerLogs/default/other/c"));
  EXPECT_EQ(c.read().first, 404) << "an error after authorization keeps the connection";
  // Two requests in one write: both answered, in order.
  ASSERT_TRUE(c.write(
      "GET /podnet/v1/a HTTP/1.1\r\nHost: node\r\n\r\nGET /podnet/v1/b HTTP/1.1\r\nHost: node\r\n\r\n"));
  auto [a_status, a] = c.read();
  auto [b_status, b] = c.read();
  ASSERT_EQ(a_status, 200);
  ASSERT_EQ(b_status, 200);
  EXPECT_EQ(a.body(), "{\"target\":\"/podnet/v1/a\"}");
  EXPECT_EQ(b.body(), "{\"target\":\"/podnet/v1/b\"}");
  EXPECT_EQ(node_api_calls, 5);
  // Connection: close is honoured: answered, then the server closes.
  ASSERT_TRUE(c.get("/podnet/v1/last", "Connection: close\r\n"));
  auto [last_status, last] = c.read();
  EXPECT_EQ(last_status, 200);
  EXPECT_FALSE(last.keep_alive());
  EXPECT_EQ(c.read().first, 0) << "closed after Connection: close";

  // A follower's connection ends with its stream.
  KeptConnection follower(port, ca_.cert_pem, client);
  ASSERT_TRUE(follower.get("/containerLogs/default/web/c?follow=true"));
  auto [f_status, f] = follower.read();
  EXPECT_EQ(f_status, 200);
  EXPECT_FALSE(f.keep_alive());
  EXPECT_EQ(follower.read().first, 0);

  // A request with a body is answered and the connection closed (its body is not a request).
  KeptConnection with_body(port, ca_.cert_pem, client);
  ASSERT_TRUE(
      with_body.write("GET /podnet/v1/x HTTP/1.1\r\nHost: node\r\nContent-Length: 40\r\n\r\n"
                      "GET /podnet/v1/smuggled HTTP/1.1\r\n\r\n"));
  EXPECT_EQ(with_body.read().first, 200);
  EXPECT_EQ(with_body.read().first, 0);
  EXPECT_EQ(node_api_calls, 7) << "the body was not read as a request";

  // An idle connection is closed by the server after its idle time.
  KeptConnection idle(port, ca_.cert_pem, client);
  ASSERT_TRUE(idle.get("/podnet/v1/once"));
  EXPECT_EQ(idle.read().first, 200);
  auto before = std::chrono::steady_clock::now();
  EXPECT_EQ(idle.read(std::chrono::seconds(10)).first, 0) << "the server closes an idle connection";
  EXPECT_LT(std::chrono::steady_clock::now() - before, std::chrono::seconds(5));

  // Refused callers still get one answer and a closed connection.
  KeptConnection node(port, ca_.cert_pem, leaf(ca_, "system:node:node1", {"system:nodes"}, false));
  ASSERT_TRUE(node.get("/podnet/v1/flows"));
  auto [denied, denied_res] = node.read();
  EXPECT_EQ(denied, 403);
  EXPECT_FALSE(denied_res.keep_alive());
  EXPECT_EQ(node.read().first, 0);
}

TEST(ParseLogRequest, ParsesAsKubeletDoes) {
  auto r = parse_log_request(
      "/containerLogs/kube-system/web-1/"
      "c.x?follow=True&timestamps=0&tailLines=3&limitBytes=10&sinceSeconds=5");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->ns, "kube-system");
  EXPECT_EQ(r->pod, "web-1");
  EXPECT_EQ(r->container, "c.x");
  EXPECT_TRUE(r->query.follow);
  EXPECT_FALSE(r->query.timestamps);
  EXPECT_EQ(r->query.tail_lines, 3);
  EXPECT_EQ(r->query.limit_bytes, 10);
  EXPECT_EQ(r->since_seconds, 5);
  // kube's booleans: absent, 0 and false in any case are false; anything else (even empty) true.
  for (const char* f : {"follow=FALSE", "follow=0", "follow=fAlSe", "x=1"})
    EXPECT_FALSE(parse_log_request(std::string("/containerLogs/a/b/c?") + f)->query.follow) << f;
  for (const char* t : {"follow=1", "follow=yes", "follow=", "follow", "follow=%54rue"})
    EXPECT_TRUE(parse_log_request(std::string("/containerLogs/a/b/c?") + t)->query.follow) << t;
  auto since = parse_log_request("/containerLogs/a/b/c?sinceTime=2024-05-01T14:00:01%2B02:00");
  ASSERT_TRUE(since);
  EXPECT_EQ(since->query.since_unix_ns, *parse_rfc3339_ns("2024-05-01T12:00:01Z"));
  EXPECT_EQ(*parse_rfc3339_ns("1970-01-01T00:00:01.5Z"), 1'500'000'000);
  EXPECT_FALSE(parse_rfc3339_ns("9999-01-01T00:00:00Z")) << "past int64 nanoseconds";
  EXPECT_FALSE(parse_rfc3339_ns("2024-05-01T12:00:00"));

  struct Case {
    const char* target;
    int status;
  } bad[] = {{"/containerLogs/a/b", 404},
             {"/containerLogs/a/b/c/d", 404},
             {"/other/a/b/c", 404},
             {"/containerLogs/a/b/%zz", 400},
             {"/containerLogs/a/b/c?%=1", 400},
             {"/containerLogs/a/b/c?tailLines=%", 400},
             {"/containerLogs/a/b/c?tailLines=-1", 400},
             {"/containerLogs/a/b/c?tailLines=", 400},
             {"/containerLogs/a/b/c?tailLines=1x", 400},
             {"/containerLogs/a/b/c?tailLines=9223372036854775808", 400},
             {"/containerLogs/a/b/c?limitBytes=0", 400},
             {"/containerLogs/a/b/c?sinceSeconds=-1", 400},
             {"/containerLogs/a/b/c?sinceSeconds=1&sinceTime=2024-05-01T12:00:00Z", 400},
             {"/containerLogs/A/b/c", 400},
             {"/containerLogs/a/b/c%00", 400},
             {"/containerLogs/a/./c", 400}};
  for (const auto& c : bad) {
    auto p = parse_log_request(c.target);
    ASSERT_FALSE(p) << c.target;
    EXPECT_EQ(p.error().status, c.status) << c.target << ": " << p.error().message;
  }
  EXPECT_EQ(parse_log_request("/containerLogs/a/b/c?tailLines=99999999999999999999").error().message,
            "tailLines: invalid value \"99999999999999999999\": want an integer");
}

}  // namespace
}  // namespace podnet::runtime
