// One connection's byte stream behind a small virtual interface: TLS over TCP or plain TCP. The
// server's sessions (HTTP, chunked streams, WebSocket, raw upgrades) are written once against it,
// so Beast's composed operations are compiled once, not once per transport; only the few
// read/write/handshake operations of each concrete stream are compiled in its own file. Internal to
// src/http.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/role.hpp>
#include <boost/system/error_code.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/error.h"
#include "http/types.h"

namespace boost::asio::ssl {
class context;
}

namespace podnet::http::detail {

class Stream {
 public:
  using executor_type = boost::asio::any_io_executor;
  using Completion = std::move_only_function<void(boost::system::error_code, size_t)>;
  using Done = std::move_only_function<void(boost::system::error_code)>;

  virtual ~Stream() = default;
  virtual executor_type get_executor() = 0;

  // Beast's AsyncReadStream and AsyncWriteStream.
  template <class MutableBuffers, class Token>
  auto async_read_some(const MutableBuffers& buffers, Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code, size_t)>(
        [this](auto handler, const MutableBuffers& b) {
          boost::asio::mutable_buffer first;
          for (auto it = boost::asio::buffer_sequence_begin(b); it != boost::asio::buffer_sequence_end(b);
               ++it) {
            boost::asio::mutable_buffer one = *it;
            if (one.size() > 0) {
              first = one;
              break;
            }
          }
          read_some(first, Completion([h = std::move(handler)](boost::system::error_code ec,
                                                               size_t n) mutable { std::move(h)(ec, n); }));
        },
        token, buffers);
  }
  template <class ConstBuffers, class Token>
  auto async_write_some(const ConstBuffers& buffers, Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code, size_t)>(
        [this](auto handler, const ConstBuffers& b) {
          std::vector<boost::asio::const_buffer> copy;
          for (auto it = boost::asio::buffer_sequence_begin(b); it != boost::asio::buffer_sequence_end(b);
               ++it) {
            boost::asio::const_buffer one = *it;
            if (one.size() > 0) copy.push_back(one);
          }
          write_some(std::move(copy),
                     Completion([h = std::move(handler)](boost::system::error_code ec, size_t n) mutable {
                       std::move(h)(ec, n);
                     }));
        },
        token, buffers);
  }

  // The server side of the handshake (TLS); a plain stream completes at once.
  virtual void async_handshake(Done done) = 0;
  // The verified client certificate's identity, after the handshake.
  virtual Identity identity() const = 0;
  // Deadline for whatever is outstanding or started next (the TCP layer's timer).
  virtual void expires_after(std::chrono::steady_clock::duration d) = 0;
  virtual void expires_never() = 0;
  // Shuts the socket down both ways and closes it; pending operations complete with an error.
  virtual void close() = 0;
  // What a WebSocket close does after its close frame (TLS close_notify; TCP shutdown and drain).
  virtual void async_teardown(boost::beast::role_type role, Done done) = 0;

 protected:
  virtual void read_some(boost::asio::mutable_buffer buffer, Completion done) = 0;
  virtual void write_some(std::vector<boost::asio::const_buffer> buffers, Completion done) = 0;

  // Beast's customization points, found by argument-dependent lookup.
  friend void beast_close_socket(Stream& s) { s.close(); }
  friend void teardown(boost::beast::role_type, Stream& s, boost::system::error_code& ec) {
    ec = {};
    s.close();
  }
  template <class TeardownHandler>
  friend void async_teardown(boost::beast::role_type role, Stream& s, TeardownHandler&& handler) {
    s.async_teardown(role, Done([h = std::forward<TeardownHandler>(handler)](
                                    boost::system::error_code ec) mutable { std::move(h)(ec); }));
  }
};

// A TLS server stream over the accepted socket (the context's settings: certificate, client CA,
// verify mode). `ctx` outlives the stream.
std::unique_ptr<Stream> make_tls_stream(boost::asio::ip::tcp::socket socket, boost::asio::ssl::context& ctx);
std::unique_ptr<Stream> make_tcp_stream(boost::asio::ip::tcp::socket socket);

}  // namespace podnet::http::detail
