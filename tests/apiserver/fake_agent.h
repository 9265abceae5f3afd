// A stand-in for a node agent's log endpoint: plain HTTP on 127.0.0.1:<free port>, answering
// GET /containerLogs/<ns>/<pod>/<container> with two lines (the second after a pause when
// follow=true, sent chunked) and 404 for a container named "missing". Records what it was asked.
#pragma once

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace podnet::apiserver::testing {

class FakeAgent {
 public:
  FakeAgent() : acceptor_(ioc_, {boost::asio::ip::make_address("127.0.0.1"), 0}) {
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

 private:
  void serve() {
    namespace http = boost::beast::http;
    while (!stopping_) {
      boost::system::error_code ec;
      boost::asio::ip::tcp::socket socket(ioc_);
      acceptor_.accept(socket, ec);
      if (ec || stopping_) continue;
      boost::beast::flat_buffer buffer;
      http::request<http::string_body> req;
      http::read(socket, buffer, req, ec);
      if (ec) continue;
      std::string target(req.target());
      {
        std::lock_guard lock(mu_);
        targets_.push_back(target);
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
    }
  }

  boost::asio::io_context ioc_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  std::mutex mu_;
  std::vector<std::string> targets_;
};

}  // namespace podnet::apiserver::testing
