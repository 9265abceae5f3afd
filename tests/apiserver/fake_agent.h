// A stand-in for a node agent's log endpoint: HTTPS on 127.0.0.1:<free port> with a serving
// certificate the cluster CA under `pki_dir` signs (for `cn` and `ips`; the real node's by default),
// client certificates required, answering GET /containerLogs/<ns>/<pod>/<container> with two lines
// (the second after a pause when follow=true, sent chunked) and 404 for a container named
// "missing". Records what it was asked and the CN of the client certificate that asked.
#pragma once

#include <openssl/ssl.h>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "apiserver/auth/pki.h"
#include "common/files.h"

namespace podnet::apiserver::testing {

class FakeAgent {
 public:
  explicit FakeAgent(const std::string& pki_dir, const std::string& cn = "system:node:node1",
                     std::vector<std::string> ips = {"127.0.0.1"})
      : tls_(boost::asio::ssl::context::tls_server),
        acceptor_(ioc_, {boost::asio::ip::make_address("127.0.0.1"), 0}) {
    KeyPair ca{read_file(pki_dir + "/ca.crt").value_or(""), read_file(pki_dir + "/ca.key").value_or("")};
    CertRequest req;
    req.common_name = cn;
    req.organizations = {"system:nodes"};
    req.server_auth = true;
    req.ip_addresses = std::move(ips);
    auto serving = make_leaf(ca, req);
    if (serving) {
      tls_.use_certificate_chain(boost::asio::buffer(serving->cert_pem));
      tls_.use_private_key(boost::asio::buffer(serving->key_pem), boost::asio::ssl::context::pem);
    }
    tls_.add_certificate_authority(boost::asio::buffer(ca.cert_pem));
    tls_.set_verify_mode(boost::asio::ssl::verify_peer | boost::asio::ssl::verify_fail_if_no_peer_cert);
    thread_ = std::thread([this] { serve(); });
  }
  ~FakeAgent() {
    stopping_ = true;
    boost::system::error_code ignored;
    boost::asio::ip::tcp::socket wake(ioc_);
    wake.connect(acceptor_.local_endpoint(), ignored);  // unblocks accept()
    thread_.join();
  }

  uint16_t port() const { return acceptor_.local_endpoint().port(); }
  std::vector<std::string> targets() {
    std::lock_guard lock(mu_);
    return targets_;
  }
  std::vector<std::string> clients() {
    std::lock_guard lock(mu_);
    return clients_;
  }

 private:
  void serve() {
    namespace http = boost::beast::http;
    while (!stopping_) {
      boost::system::error_code ec;
      boost::asio::ssl::stream<boost::asio::ip::tcp::socket> socket(ioc_, tls_);
      acceptor_.accept(socket.next_layer(), ec);
      if (ec || stopping_) continue;
      socket.handshake(boost::asio::ssl::stream_base::server, ec);
      if (ec) continue;
      std::string client;
      if (X509* peer = SSL_get1_peer_certificate(socket.native_handle())) {
        client = subject_of(peer).common_name;
        X509_free(peer);
      }
      boost::beast::flat_buffer buffer;
      http::request<http::string_body> req;
      http::read(socket, buffer, req, ec);
      if (ec) continue;
      std::string target(req.target());
      {
        std::lock_guard lock(mu_);
        targets_.push_back(target);
        clients_.push_back(client);
      }
      if (target.find("/missing") != std::string::npos) {
        http::response<http::string_body> res{http::status::not_found, 11};
        res.body() = "container \"missing\" not found in pod\n";
        res.prepare_payload();
        http::write(socket, res, ec);
        continue;
      }
      std::string first = "line 1 of " + target.substr(0, target.find('?')) + "\n";
      if (target.find("follow=true") == std::string::npos) {
        http::response<http::string_body> res{http::status::ok, 11};
        res.set(http::field::content_type, "text/plain");
        res.body() = first + "line 2\n";
        res.prepare_payload();
        http::write(socket, res, ec);
        continue;
      }
      http::response<http::empty_body> head{http::status::ok, 11};
      head.set(http::field::content_type, "text/plain");
      head.chunked(true);
      http::response_serializer<http::empty_body> sr{head};
      http::write_header(socket, sr, ec);
      boost::asio::write(socket, http::make_chunk(boost::asio::buffer(first)), ec);
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
      std::string second = "line 2\n";
      boost::asio::write(socket, http::make_chunk(boost::asio::buffer(second)), ec);
      boost::asio::write(socket, http::make_chunk_last(), ec);
      socket.shutdown(ec);
    }
  }

  boost::asio::io_context ioc_;
  boost::asio::ssl::context tls_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  std::mutex mu_;
  std::vector<std::string> targets_;
  std::vector<std::string> clients_;
};

}  // namespace podnet::apiserver::testing
