// Listeners and the threads they share. Accepting, the connection caps and the accept back-off
// live here; what happens on a connection is session.cpp's.
#include "http/server.h"

#include <algorithm>
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <cerrno>
#include <future>
#include <thread>
#include <vector>

#include "http/session.h"
#include "http/tls_context.h"

namespace podnet::http {
namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
using tcp = net::ip::tcp;
using detail::SessionControl;

namespace {

// Out of file descriptors or memory: waiting is the only cure (a connection closing frees one);
// accepting again at once would spin a core on the same error.
bool resource_shortage(const boost::system::error_code& ec) {
  int e = ec.category() == boost::system::system_category() ? ec.value() : 0;
  return e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM;
}

}  // namespace

struct Listener : std::enable_shared_from_this<Listener> {
  Listener(Server::Impl& server, net::io_context& io, ListenerOptions opts, std::shared_ptr<Handler> h,
           std::shared_ptr<std::atomic<size_t>> total)
      : impl(server),
        ioc(io),
        options(std::move(opts)),
        handler(std::move(h)),
        acceptor(net::make_strand(io)),
        backoff_timer(acceptor.get_executor()),
        counters(std::make_shared<detail::ConnectionCounters>()) {
    counters->server = std::move(total);
  }

  void accept();

  Server::Impl& impl;
  net::io_context& ioc;
  ListenerOptions options;
  std::shared_ptr<Handler> handler;
  std::unique_ptr<ssl::context> tls;  // null: plain HTTP
  tcp::acceptor acceptor;
  net::steady_timer backoff_timer;  // on the acceptor's strand
  std::chrono::milliseconds backoff{0};
  std::shared_ptr<detail::ConnectionCounters> counters;
};

struct Server::Impl {
  net::io_context ioc;
  std::shared_ptr<std::atomic<size_t>> open = std::make_shared<std::atomic<size_t>>(0);
  std::vector<std::thread> threads;
  mutable std::mutex mu;
  std::map<std::string, std::shared_ptr<Listener>> listeners;
  std::mutex sessions_mu;
  std::vector<std::weak_ptr<SessionControl>> sessions;

  void track(const std::shared_ptr<SessionControl>& session) {
    std::lock_guard lock(sessions_mu);
    std::erase_if(sessions, [](const auto& w) { return w.expired(); });
    sessions.push_back(session);
  }

  // Closes the acceptor on its strand and waits for it, so the port is free when this returns.
  static void close_acceptor(const std::shared_ptr<Listener>& listener) {
    std::promise<void> closed;
    net::post(listener->acceptor.get_executor(), [listener, &closed] {
      boost::system::error_code ec;
      listener->acceptor.close(ec);
      listener->backoff_timer.cancel();
      closed.set_value();
    });
    closed.get_future().wait();
  }

  // Closes every connection and waits (bounded) for the sessions to let go of their streams, so no
  // watch outlives the server with a callback into a destroyed io_context.
  void close_all() {
    std::vector<std::weak_ptr<SessionControl>> live;
    {
      std::lock_guard lock(sessions_mu);
      live = sessions;
    }
    for (const auto& w : live)
      if (auto s = w.lock()) s->shutdown();
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (std::chrono::steady_clock::now() < deadline &&
           std::any_of(live.begin(), live.end(), [](const auto& w) { return !w.expired(); }))
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
};

void Listener::accept() {
  acceptor.async_accept(
      net::make_strand(ioc), [self = shared_from_this()](boost::system::error_code ec, tcp::socket socket) {
        if (ec == net::error::operation_aborted || !self->acceptor.is_open()) return;
        if (resource_shortage(ec)) {
          self->backoff = self->backoff.count() == 0
                              ? std::chrono::milliseconds(5)
                              : std::min(self->backoff * 2, std::chrono::milliseconds(1000));
          self->backoff_timer.expires_after(self->backoff);
          self->backoff_timer.async_wait([self](boost::system::error_code wait_ec) {
            if (!wait_ec && self->acceptor.is_open()) self->accept();
          });
          return;
        }
        self->backoff = std::chrono::milliseconds(0);
        if (!ec) {
          if (self->counters->listener.load() >= self->options.max_connections) {
            boost::system::error_code ignored;
            socket.close(ignored);
            return self->accept();
          }
          // Responses go out as several TLS records; without this, Nagle's algorithm holds the last
          // one back until the client's delayed ACK (40 ms per request).
          boost::system::error_code ignored;
          socket.set_option(tcp::no_delay(true), ignored);
          auto stream = self->tls ? detail::make_tls_stream(std::move(socket), *self->tls)
                                  : detail::make_tcp_stream(std::move(socket));
          detail::SessionSettings settings{self->handler,
                                           self->counters,
                                           self->options.body_limit,
                                           self->options.header_limit,
                                           self->options.idle_timeout,
                                           self->options.handshake_timeout};
          self->impl.track(detail::start_session(std::move(stream), std::move(settings)));
        }
        self->accept();
      });
}

Server::Server(int threads) : impl_(std::make_unique<Impl>()) {
  for (int i = 0; i < std::max(1, threads); ++i)
    impl_->threads.emplace_back([ioc = &impl_->ioc] {
      auto work = net::make_work_guard(*ioc);
      ioc->run();
    });
}

Server::~Server() {
  std::map<std::string, std::shared_ptr<Listener>> listeners;
  {
    std::lock_guard lock(impl_->mu);
    listeners.swap(impl_->listeners);
  }
  for (const auto& [_, listener] : listeners) Impl::close_acceptor(listener);
  impl_->close_all();
  impl_->ioc.stop();
  for (auto& t : impl_->threads) t.join();
  // Destroying the io_context destroys pending handlers and with them the sessions and streams.
}

Result<uint16_t> Server::listen(const std::string& key, ListenerOptions options,
                                std::shared_ptr<Handler> handler) {
  std::lock_guard lock(impl_->mu);
  if (impl_->listeners.count(key)) return fail("listen " + key, EEXIST);
  const tcp::endpoint endpoint = options.endpoint;
  auto listener =
      std::make_shared<Listener>(*impl_, impl_->ioc, std::move(options), std::move(handler), impl_->open);
  if (listener->options.tls) {
    PODNET_TRY(ctx, server_tls_context(*listener->options.tls));
    listener->tls = std::move(ctx);
  }
  const std::string what = endpoint.address().to_string() + ":" + std::to_string(endpoint.port());
  auto& acc = listener->acceptor;
  boost::system::error_code ec;
  acc.open(endpoint.protocol(), ec);
  if (ec) return fail("listen on " + what, ec.value());
  acc.set_option(net::socket_base::reuse_address(true), ec);
  // [::] serves IPv4 clients too, as Go's listeners do.
  if (endpoint.address().is_v6() && endpoint.address().is_unspecified())
    acc.set_option(net::ip::v6_only(false), ec);
  acc.bind(endpoint, ec);
  if (!ec) acc.listen(net::socket_base::max_listen_connections, ec);
  if (ec) return fail(what + ": " + ec.message(), ec.value());
  const uint16_t port = acc.local_endpoint(ec).port();
  impl_->listeners.emplace(key, listener);
  net::post(acc.get_executor(), [listener] { listener->accept(); });
  return port;
}

void Server::close(const std::string& key) {
  std::shared_ptr<Listener> listener;
  {
    std::lock_guard lock(impl_->mu);
    auto it = impl_->listeners.find(key);
    if (it == impl_->listeners.end()) return;
    listener = std::move(it->second);
    impl_->listeners.erase(it);
  }
  Impl::close_acceptor(listener);
}

bool Server::is_open(const std::string& key) const {
  std::lock_guard lock(impl_->mu);
  return impl_->listeners.count(key) != 0;
}

std::optional<uint16_t> Server::port(const std::string& key) const {
  std::lock_guard lock(impl_->mu);
  auto it = impl_->listeners.find(key);
  if (it == impl_->listeners.end()) return std::nullopt;
  boost::system::error_code ec;
  auto endpoint = it->second->acceptor.local_endpoint(ec);
  if (ec) return std::nullopt;
  return endpoint.port();
}

size_t Server::connections() const {
  return impl_->open->load();
}

}  // namespace podnet::http
