#include "runtime/log_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <charconv>
#include <chrono>
#include <cstring>
#include <deque>
#include <fstream>
#include <list>
#include <mutex>
#include <thread>

#include "common/c_ptr.h"
#include "common/fd.h"
#include "common/query.h"
#include "common/request_target.h"
#include "common/time.h"
#include "common/tls_policy.h"
#include "http/tls_context.h"
#include "runtime/container_process.h"
#include "runtime/portforward_session.h"
#include "runtime/shim.h"
#include "runtime/tls_send.h"

namespace podnet::runtime {
using target::kube_bool;
using target::valid_name;
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using SslPtr = CPtr<SSL, SSL_free>;

namespace {

constexpr size_t kMaxRequestHead = 16 * 1024;
// Connections still in their TLS handshake or request head (unauthenticated, or not yet known to be
// the API server): a flood of idle handshakes stops here.
constexpr size_t kMaxPendingConnections = 128;
// Every connection is a thread; an authorized one may be a long session (a follower, an exec, one
// forwarded port-forward connection each: 100 concurrent local connections are 100 of these).
constexpr size_t kMaxConnections = 2048;

// Decimal int64 with nothing around it; overflow and junk are errors, never exceptions.
std::optional<int64_t> parse_int64(std::string_view v) {
  int64_t out = 0;
  auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
  if (v.empty() || ec != std::errc() || end != v.data() + v.size()) return std::nullopt;
  return out;
}

std::unexpected<LogRequestError> bad(std::string message) {
  return std::unexpected(LogRequestError{400, std::move(message)});
}

}  // namespace

std::expected<LogRequest, LogRequestError> parse_log_request(std::string_view target) {
  if (target.size() > kMaxRequestHead) return bad("request target too long");
  std::string_view path = target.substr(0, target.find('?'));
  std::string_view query = path.size() < target.size() ? target.substr(path.size() + 1) : std::string_view();
  constexpr std::string_view prefix = "/containerLogs/";
  constexpr const char* kShape = "expected /containerLogs/<namespace>/<pod>/<container>";
  if (!path.starts_with(prefix)) return std::unexpected(LogRequestError{404, kShape});
  auto parts = target::decode_segments(path.substr(prefix.size()), 3);
  if (!parts) return bad(parts.error());
  if (parts->size() != 3) return std::unexpected(LogRequestError{404, kShape});
  static constexpr const char* kWhat[] = {"namespace", "pod", "container"};
  for (size_t i = 0; i < 3; ++i)
    if (!valid_name((*parts)[i])) return bad(std::string("invalid ") + kWhat[i] + " name");
  LogRequest r{(*parts)[0], (*parts)[1], (*parts)[2], {}, 0};
  bool since_time = false;
  auto params = target::parse_query(query);
  if (!params) return bad(params.error());
  for (const auto& [k, v] : *params) {
    auto integer = [&](int64_t min, const char* rule) -> std::expected<int64_t, LogRequestError> {
      auto n = parse_int64(v);
      if (!n) return bad(k + ": invalid value \"" + v.substr(0, 64) + "\": want an integer");
      if (*n < min) return bad(k + ": invalid value " + v + ": " + rule);
      return *n;
    };
    if (k == "follow") {
      r.query.follow = kube_bool(v);
    } else if (k == "timestamps") {
      r.query.timestamps = kube_bool(v);
    } else if (k == "tailLines") {
      auto n = integer(0, "must be greater than or equal to 0");
      if (!n) return std::unexpected(n.error());
      r.query.tail_lines = *n;
    } else if (k == "limitBytes") {
      auto n = integer(1, "must be greater than 0");
      if (!n) return std::unexpected(n.error());
      r.query.limit_bytes = *n;
    } else if (k == "sinceSeconds") {
      auto n = integer(1, "must be greater than 0");
      if (!n) return std::unexpected(n.error());
      r.since_seconds = *n;
    } else if (k == "sinceTime") {
      auto ns = parse_rfc3339_ns(v);
      if (!ns) return bad("sinceTime: invalid value \"" + v.substr(0, 64) + "\": want RFC 3339");
      r.query.since_unix_ns = *ns;
      since_time = true;
    }
  }
  if (since_time && r.since_seconds > 0)
    return bad("at most one of sinceTime or sinceSeconds may be specified");
  return r;
}

std::string render_cri_log(const std::string& text, const LogQuery& q) {
  // Whole log lines: a run of P fragments closed by an F fragment.
  struct Line {
    std::string ts, body;
  };
  std::deque<Line> lines;
  std::string pending, pending_ts;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) break;  // a line still being written
    std::string_view l(text.data() + pos, nl - pos);
    pos = nl + 1;
    size_t a = l.find(' '), b = a == std::string_view::npos ? a : l.find(' ', a + 1);
    if (b == std::string_view::npos || b + 2 > l.size()) continue;
    std::string_view ts = l.substr(0, a), tag = l.substr(b + 1, 1);
    std::string_view body = b + 3 <= l.size() ? l.substr(b + 3) : std::string_view();
    if (pending.empty()) pending_ts = std::string(ts);
    pending.append(body);
    if (tag == "P") continue;
    if (q.since_unix_ns == 0 || parse_rfc3339_ns(pending_ts).value_or(0) >= q.since_unix_ns) {
      lines.push_back({pending_ts, std::move(pending)});
      if (q.tail_lines >= 0 && static_cast<int64_t>(lines.size()) > q.tail_lines) lines.pop_front();
    }
    pending.clear();
  }
  std::string out;
  for (const auto& l : lines) {
    if (q.timestamps) out += l.ts + " ";
    out += l.body;
    out += '\n';
  }
  if (q.limit_bytes >= 0 && static_cast<int64_t>(out.size()) > q.limit_bytes) out.resize(q.limit_bytes);
  return out;
}

struct LogServer::Impl {
  UniqueFd listen_fd;
  uint16_t port = 0;
  LogResolver resolver;
  ExecResolver exec_resolver;
  ExecOptions exec_options;
  NodeApiHandler node_api;
  PodAddressResolver pod_addresses;
  AttachResolver attach_resolver;
  const netlink::NetNs* netns = nullptr;  // the node's: where pod proxy connections start
  LogServerTls tls;
  std::unique_ptr<ssl::context> ctx;
  std::atomic<bool> stop{false};
  std::thread acceptor;
  std::mutex mu;
  struct Conn {
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> done = std::make_shared<std::atomic<bool>>(false);
  };
  std::list<Conn> conns;
  std::atomic<size_t> pending{0};  // connections not yet past authorization

  void accept_loop() {
    while (!stop) {
      pollfd p{listen_fd.get(), POLLIN, 0};
      if (::poll(&p, 1, 200) <= 0) continue;
      int fd = ::accept4(listen_fd.get(), nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      std::lock_guard lock(mu);
      for (auto it = conns.begin(); it != conns.end();) {
        if (!*it->done) {
          ++it;
          continue;
        }
        it->thread.join();
        it = conns.erase(it);
      }
      // A thread per connection: bounded, so a flood of idle handshakes cannot exhaust the node.
      if (conns.size() >= kMaxConnections || pending >= kMaxPendingConnections) {
        ::close(fd);
        continue;
      }
      auto& c = conns.emplace_back();
      ++pending;
      c.thread = std::thread([this, fd, done = c.done] {
        bool counted = true;
        serve(UniqueFd(fd), counted);
        if (counted) --pending;
        *done = true;
      });
    }
  }

  static bool chunk(SSL* ssl, std::string_view data) {
    if (data.empty()) return true;
    char head[32];
    int n = std::snprintf(head, sizeof head, "%zx\r\n", data.size());
    return send_all(ssl, std::string_view(head, n)) && send_all(ssl, data) && send_all(ssl, "\r\n");
  }
  // The status line and the connection header: "close" unless the connection stays open for the
  // client's next request (an HTTP/1.0 client that asked for keep-alive is told so).
  static std::string status_line(int code, std::string_view reason, bool keep_alive, unsigned version) {
    std::string line = "HTTP/1.1 " + std::to_string(code) + " " + std::string(reason) + "\r\n";
    if (!keep_alive) return line + "Connection: close\r\n";
    return version < 11 ? line + "Connection: keep-alive\r\n" : line;
  }
  // A complete plain-text answer; false when the connection is to close after it (asked so, or the
  // write failed).
  static bool reply(SSL* ssl, int code, const std::string& reason, const std::string& body,
                    bool keep_alive = false, unsigned version = 11) {
    return send_all(ssl, status_line(code, reason, keep_alive, version) +
                             "Content-Type: text/plain\r\nContent-Length: " + std::to_string(body.size()) +
                             "\r\n\r\n" + body) &&
           keep_alive;
  }

  // Between requests on a kept-alive connection: true once the client sent more (or hung up: the
  // read that follows finds out); false after the idle time without a byte, or when the server stops.
  bool await_next_request(SSL* ssl, int fd, const std::string& buffered) const {
    if (!buffered.empty() || SSL_pending(ssl) > 0) return true;
    const auto deadline = std::chrono::steady_clock::now() + tls.idle_timeout;
    while (!stop) {
      pollfd p{fd, POLLIN, 0};
      int r = ::poll(&p, 1, 200);
      if (r > 0) return true;
      if (r < 0 && errno != EINTR) return false;
      if (std::chrono::steady_clock::now() >= deadline) return false;
    }
    return false;
  }

  // kubelet's authorization of the API server: a certificate the client CA signed (checked in the
  // handshake) whose CN or one of whose O values is allowed.
  bool authorized(const CertSubject& who) const {
    if (std::find(tls.users.begin(), tls.users.end(), who.common_name) != tls.users.end()) return true;
    return std::any_of(who.organizations.begin(), who.organizations.end(), [&](const std::string& o) {
      return std::find(tls.groups.begin(), tls.groups.end(), o) != tls.groups.end();
    });
  }

  // `pending`: true while this connection counts as pending; cleared once it is authorized.
  void serve(UniqueFd fd, bool& pending_counted) {
    // Bounds a silent or stalled peer: the handshake, the request and every write.
    timeval tv{10, 0};
    ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    SslPtr ssl(SSL_new(ctx->native_handle()));
    if (!ssl || SSL_set_fd(ssl.get(), fd.get()) != 1) return;
    if (SSL_accept(ssl.get()) != 1) return;  // no certificate, a foreign one, or no common suite
    struct Shutdown {
      SSL* s;
      ~Shutdown() { SSL_shutdown(s); }
    } shutdown{ssl.get()};
    // HTTP/1.1 keep-alive, as kubelet's Go server: a request answered in full (the node API, logs
    // without follow, most errors) leaves the connection open for the next one, so the API server's
    // node dialer can reuse its TLS session. Streams and upgrades end the connection.
    std::string buffered;  // bytes read past the last request's head: the start of the next one
    while (serve_one(ssl.get(), fd.get(), buffered, pending_counted) &&
           await_next_request(ssl.get(), fd.get(), buffered)) {
    }
  }

  // One request; true when the connection stays open for another.
  bool serve_one(SSL* ssl, int fd, std::string& buffered, bool& pending_counted) {
    std::string head = std::move(buffered);
    buffered.clear();
    char buf[4096];
    while (head.find("\r\n\r\n") == std::string::npos) {
      if (head.size() > kMaxRequestHead)
        return reply(ssl, 431, "Request Header Fields Too Large", "request head over 16 KiB\n");
      size_t n = 0;
      if (SSL_read_ex(ssl, buf, sizeof buf, &n) != 1) return false;
      head.append(buf, n);
    }
    const size_t head_end = head.find("\r\n\r\n") + 4;
    http::request_parser<http::empty_body> parser;
    parser.header_limit(kMaxRequestHead + 4096);
    beast::error_code ec;
    parser.put(asio::buffer(head.data(), head_end), ec);
    if (ec || !parser.is_header_done()) return reply(ssl, 400, "Bad Request", "malformed request\n");
    const auto& req = parser.get();
    // No request here has a body; one that comes with one is answered, and the connection closed
    // rather than its body read as the next request.
    const bool has_body = parser.chunked() || parser.content_length().value_or(0) > 0;
    const bool keep = req.keep_alive() && !has_body;
    const unsigned version = req.version();
    if (keep) buffered = head.substr(head_end);

    const X509* peer = SSL_get0_peer_certificate(ssl);
    CertSubject who = peer ? cert_subject(peer) : CertSubject{};
    if (!peer || !authorized(who))
      return reply(ssl, 403, "Forbidden",
                   "Forbidden (user=" + who.common_name + ", verb=get, resource=nodes, subresource=proxy)\n");
    if (pending_counted) --pending;
    pending_counted = false;
    std::string_view path(req.target().data(), req.target().size());
    if (path.starts_with("/podnet/") && node_api) {
      if (req.method() != http::verb::get)
        return reply(ssl, 405, "Method Not Allowed", "only GET\n", keep, version);
      NodeApiAnswer a = node_api(path);
      return send_all(ssl, status_line(a.status, "node-api", keep, version) +
                               "Content-Type: application/json\r\nContent-Length: " +
                               std::to_string(a.body.size()) + "\r\n\r\n" + a.body) &&
             keep;
    }
    if (path.starts_with("/podProxy/")) {
      if (req.method() != http::verb::get) return reply(ssl, 405, "Method Not Allowed", "only GET\n");
      auto pp = parse_pod_proxy_request(path);
      if (!pp)
        return reply(ssl, pp.error().status, pp.error().status == 404 ? "Not Found" : "Bad Request",
                     pp.error().message + "\n");
      auto ips = pod_addresses ? pod_addresses(pp->ns, pp->pod) : std::nullopt;
      if (!ips)
        return reply(
            ssl, 404, "Not Found",
            "pod " + pp->ns + "/" + pp->pod + " is not running on this node (or uses the host network)\n");
      if (auto ok = check_pod_proxy_address(*pp, *ips); !ok)
        return reply(ssl, ok.error().status, ok.error().status == 403 ? "Forbidden" : "Bad Request",
                     ok.error().message + "\n");
      if (head.size() != head.find("\r\n\r\n") + 4)
        return reply(ssl, 400, "Bad Request", "data before the upgrade\n");
      auto sock = dial_pod(netns, pp->ip, pp->port, std::chrono::seconds(5));
      if (!sock) return reply(ssl, 502, "Bad Gateway", sock.error().message() + "\n");
      if (!send_all(ssl,
                    "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
                    "Upgrade: podnet-stream\r\n\r\n"))
        return false;
      run_pod_proxy_session(ssl, fd, std::move(*sock), exec_options, stop);
      return false;
    }
    if (path.starts_with("/portForward/")) {
      if (req.method() != http::verb::get && req.method() != http::verb::post)
        return reply(ssl, 405, "Method Not Allowed", "only GET and POST\n");
      auto pf = parse_portforward_request(path);
      if (!pf)
        return reply(ssl, pf.error().status, pf.error().status == 404 ? "Not Found" : "Bad Request",
                     pf.error().message + "\n");
      auto process = exec_resolver ? exec_resolver(pf->ns, pf->pod, "") : std::nullopt;
      if (!process)
        return reply(ssl, 404, "Not Found", "pod " + pf->ns + "/" + pf->pod + " is not running\n");
      if (head.size() != head.find("\r\n\r\n") + 4)
        return reply(ssl, 400, "Bad Request", "data before the upgrade\n");
      if (!send_all(ssl,
                    "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
                    "Upgrade: podnet-stream\r\n\r\n"))
        return false;
      timeval send_timeout{300, 0};
      ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &send_timeout, sizeof send_timeout);
      run_portforward_session(ssl, fd, *pf, *process, exec_options, stop);
      return false;
    }
    if (path.starts_with("/attach/")) {
      if (req.method() != http::verb::get && req.method() != http::verb::post)
        return reply(ssl, 405, "Method Not Allowed", "only GET and POST\n");
      auto at = parse_attach_request(path);
      if (!at)
        return reply(ssl, at.error().status, at.error().status == 404 ? "Not Found" : "Bad Request",
                     at.error().message + "\n");
      // kubelet's words when the container does not run (not started yet, exited, not here).
      const std::string not_found =
          "container " + at->container + " not found in pod " + at->pod + "_" + at->ns + "\n";
      auto socket_path = attach_resolver ? attach_resolver(at->ns, at->pod, at->container) : std::nullopt;
      if (!socket_path) return reply(ssl, 500, "Internal Server Error", not_found);
      UniqueFd shim(connect_attach_socket(*socket_path));
      if (!shim.valid()) return reply(ssl, 500, "Internal Server Error", not_found);
      if (head.size() != head.find("\r\n\r\n") + 4)
        return reply(ssl, 400, "Bad Request", "data before the upgrade\n");
      if (!send_all(ssl,
                    "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
                    "Upgrade: podnet-stream\r\n\r\n"))
        return false;
      timeval send_timeout{300, 0};
      ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &send_timeout, sizeof send_timeout);
      run_attach_session(ssl, fd, *at, std::move(shim), exec_options, stop);
      return false;
    }
    if (path.starts_with("/exec/")) {
      if (req.method() != http::verb::get && req.method() != http::verb::post)
        return reply(ssl, 405, "Method Not Allowed", "only GET and POST\n");
      auto exec = parse_exec_request(path);
      if (!exec)
        return reply(ssl, exec.error().status, exec.error().status == 404 ? "Not Found" : "Bad Request",
                     exec.error().message + "\n");
      auto process = exec_resolver ? exec_resolver(exec->ns, exec->pod, exec->container) : std::nullopt;
      if (!process)
        return reply(ssl, 404, "Not Found", "container not found (\"" + exec->container + "\")\n");
      // The API server sends nothing before it has read the 101; anything after the head is a
      // protocol error, and not read as frames.
      if (head.size() != head.find("\r\n\r\n") + 4)
        return reply(ssl, 400, "Bad Request", "data before the upgrade\n");
      if (!send_all(ssl,
                    "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
                    "Upgrade: podnet-stream\r\n\r\n"))
        return false;
      // A client that reads slowly (a paused terminal) may hold a write this long.
      timeval send_timeout{300, 0};
      ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &send_timeout, sizeof send_timeout);
      run_exec_session(ssl, fd, *exec, *process, exec_options, stop);
      return false;
    }
    if (req.method() != http::verb::get)
      return reply(ssl, 405, "Method Not Allowed", "only GET\n", keep, version);

    auto request = parse_log_request(req.target());
    if (!request)
      return reply(ssl, request.error().status, request.error().status == 404 ? "Not Found" : "Bad Request",
                   request.error().message + "\n", keep, version);
    LogQuery q = request->query;
    if (request->since_seconds > 0) {
      int64_t now = unix_now_ns();
      // Further back than the epoch is everything; no multiplication can overflow.
      q.since_unix_ns = request->since_seconds >= now / 1'000'000'000LL
                            ? 0
                            : now - request->since_seconds * 1'000'000'000LL;
    }
    auto src = resolver(request->ns, request->pod, request->container);
    if (!src)
      return reply(ssl, 404, "Not Found",
                   "container " + request->container + " of pod " + request->ns + "/" + request->pod +
                       " is not on this node\n",
                   keep, version);
    std::ifstream in(src->path, std::ios::binary);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    // Only whole lines are rendered; the rest is read again with the next poll.
    size_t done = text.rfind('\n') == std::string::npos ? 0 : text.rfind('\n') + 1;
    std::string first = render_cri_log(text.substr(0, done), q);
    // A follower's connection ends with its stream (a hang-up is how it stops); a plain read may
    // be followed by another request.
    const bool keep_log = keep && !q.follow;
    if (!send_all(ssl, status_line(200, "OK", keep_log, version) +
                           "Content-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n"))
      return false;
    if (!chunk(ssl, first)) return false;
    int64_t sent = static_cast<int64_t>(first.size());
    LogQuery more = q;
    more.tail_lines = -1;
    while (q.follow && !stop && (q.limit_bytes < 0 || sent < q.limit_bytes)) {
      bool running = src->running ? src->running() : false;
      std::ifstream again(src->path, std::ios::binary);
      again.seekg(static_cast<std::streamoff>(done));
      std::string add((std::istreambuf_iterator<char>(again)), std::istreambuf_iterator<char>());
      size_t end = add.rfind('\n');
      if (end != std::string::npos) {
        std::string out = render_cri_log(add.substr(0, end + 1), more);
        if (q.limit_bytes >= 0 && sent + static_cast<int64_t>(out.size()) > q.limit_bytes)
          out.resize(static_cast<size_t>(q.limit_bytes - sent));
        if (!chunk(ssl, out)) return false;
        sent += static_cast<int64_t>(out.size());
        done += end + 1;
        continue;
      }
      if (!running) break;
      // The client sends nothing after its request: anything readable (close_notify, EOF) means it
      // hung up.
      pollfd pf{fd, POLLIN, 0};
      if (::poll(&pf, 1, 200) > 0) return false;
    }
    return send_all(ssl, "0\r\n\r\n") && keep_log;
  }
};

Result<std::unique_ptr<LogServer>> LogServer::start(const std::string& address, uint16_t port,
                                                    const netlink::NetNs* netns, LogServerTls tls,
                                                    LogResolver resolver, ExecResolver exec,
                                                    ExecOptions exec_options, NodeApiHandler node_api,
                                                    PodAddressResolver pod_addresses, AttachResolver attach) {
  auto impl = std::make_unique<Impl>();
  impl->attach_resolver = std::move(attach);
  impl->node_api = std::move(node_api);
  impl->pod_addresses = std::move(pod_addresses);
  impl->netns = netns;
  impl->resolver = std::move(resolver);
  impl->exec_resolver = std::move(exec);
  impl->exec_options = exec_options;
  // kubelet's server: no client certificate, no connection.
  PODNET_TRY(ctx, podnet::http::server_tls_context({tls.cert_pem, tls.key_pem, tls.client_ca_pem, true}));
  impl->ctx = std::move(ctx);
  impl->tls = std::move(tls);
  sockaddr_in6 sa{};
  sa.sin6_family = AF_INET6;
  sa.sin6_port = htons(port);
  in_addr v4{};
  if (::inet_pton(AF_INET, address.c_str(), &v4) == 1) {
    // v4-mapped on a dual-stack socket keeps one code path for both families.
    std::string mapped = "::ffff:" + address;
    ::inet_pton(AF_INET6, mapped.c_str(), &sa.sin6_addr);
  } else if (::inet_pton(AF_INET6, address.c_str(), &sa.sin6_addr) != 1) {
    return fail("log server address " + address, EINVAL);
  }
  auto make = [&]() -> Result<UniqueFd> {
    UniqueFd fd(::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd.valid()) return fail("log server socket");
    int one = 1, zero = 0;
    ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    ::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
    return fd;
  };
  PODNET_TRY(fd, netns ? netns->run(make) : make());
  std::string where = address + ":" + std::to_string(port);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0)
    return fail("bind log server " + where);
  if (::listen(fd.get(), 64) != 0) return fail("listen log server " + where);
  socklen_t len = sizeof sa;
  ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&sa), &len);
  impl->port = ntohs(sa.sin6_port);
  impl->listen_fd = std::move(fd);
  Impl* raw = impl.get();
  impl->acceptor = std::thread([raw] { raw->accept_loop(); });
  return std::unique_ptr<LogServer>(new LogServer(std::move(impl)));
}

LogServer::LogServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

LogServer::~LogServer() {
  impl_->stop = true;
  impl_->acceptor.join();
  std::lock_guard lock(impl_->mu);
  for (auto& c : impl_->conns) c.thread.join();
}

uint16_t LogServer::port() const {
  return impl_->port;
}

}  // namespace podnet::runtime
