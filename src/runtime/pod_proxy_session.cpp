#include "runtime/pod_proxy_session.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstring>

#include "common/ip_scope.h"
#include "common/query.h"
#include "common/request_target.h"
#include "runtime/tls_send.h"

namespace podnet::runtime {
namespace {

constexpr size_t kMaxTarget = 2048;
constexpr size_t kReadChunk = 32 * 1024;

std::unexpected<ExecRequestError> bad(std::string message) {
  return std::unexpected(ExecRequestError{400, std::move(message)});
}

bool send_all(int fd, const char* data, size_t size) {
  while (size > 0) {
    ssize_t w = ::send(fd, data, size, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    data += w;
    size -= static_cast<size_t>(w);
  }
  return true;
}

}  // namespace

std::expected<PodProxyRequest, ExecRequestError> parse_pod_proxy_request(std::string_view t) {
  if (t.size() > kMaxTarget) return bad("request target too long");
  constexpr std::string_view prefix = "/podProxy/";
  constexpr const char* kShape = "expected /podProxy/<namespace>/<pod>/<ip>/<port>";
  if (!t.starts_with(prefix)) return std::unexpected(ExecRequestError{404, kShape});
  if (t.find('?') != std::string_view::npos) return bad("no query parameters are accepted");
  auto parts = target::decode_segments(t.substr(prefix.size()), 4);
  if (!parts) return bad(parts.error());
  if (parts->size() != 4) return std::unexpected(ExecRequestError{404, kShape});
  PodProxyRequest r{(*parts)[0], (*parts)[1], (*parts)[2], 0};
  if (!target::valid_name(r.ns)) return bad("invalid namespace name");
  if (!target::valid_name(r.pod)) return bad("invalid pod name");
  if (!parse_ip(r.ip)) return bad("invalid address \"" + r.ip.substr(0, 64) + "\"");
  unsigned port = 0;
  const std::string& p = (*parts)[3];
  auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), port);
  if (p.empty() || ec != std::errc() || end != p.data() + p.size() || port < 1 || port > 65535)
    return bad("invalid port \"" + p.substr(0, 16) + "\"");
  r.port = static_cast<uint16_t>(port);
  return r;
}

std::expected<void, ExecRequestError> check_pod_proxy_address(const PodProxyRequest& req,
                                                              const std::vector<std::string>& pod_ips) {
  auto ip = parse_ip(req.ip);
  if (!ip || !ip_global_unicast(*ip)) return bad("address not allowed");
  for (const auto& own : pod_ips)
    if (auto a = parse_ip(own); a && *a == *ip) return {};
  return std::unexpected(ExecRequestError{
      403, "address " + req.ip + " is not an address of pod " + req.ns + "/" + req.pod + " on this node"});
}

Result<UniqueFd> dial_pod(const netlink::NetNs* netns, const std::string& ip_text, uint16_t port,
                          std::chrono::milliseconds timeout) {
  auto ip = parse_ip(ip_text);
  if (!ip) return std::unexpected(ip.error());
  const std::string what =
      "dial tcp " + (ip->is_v6() ? "[" + ip_text + "]" : ip_text) + ":" + std::to_string(port) + ": ";
  auto make = [&]() -> Result<int> {
    int s = ::socket(ip->is_v4() ? AF_INET : AF_INET6, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (s < 0) return fail(what + "socket");
    return s;
  };
  auto sock = netns ? netns->run(make) : make();
  if (!sock) return std::unexpected(sock.error());
  UniqueFd fd(*sock);
  sockaddr_storage ss{};
  socklen_t len = 0;
  if (ip->is_v4()) {
    auto* a = reinterpret_cast<sockaddr_in*>(&ss);
    a->sin_family = AF_INET;
    a->sin_port = htons(port);
    auto b = ip->to_v4().to_bytes();
    std::memcpy(&a->sin_addr, b.data(), 4);
    len = sizeof *a;
  } else {
    auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(port);
    auto b = ip->to_v6().to_bytes();
    std::memcpy(&a->sin6_addr, b.data(), 16);
    len = sizeof *a;
  }
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&ss), len) != 0) {
    if (errno != EINPROGRESS) return fail_msg(what + "connect: " + std::strerror(errno));
    pollfd p{fd.get(), POLLOUT, 0};
    int rc = ::poll(&p, 1, static_cast<int>(timeout.count()));
    if (rc == 0) return fail_msg(what + "i/o timeout");
    int err = 0;
    socklen_t el = sizeof err;
    if (rc < 0 || ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &el) != 0) err = errno;
    if (err != 0) return fail_msg(what + "connect: " + std::strerror(err));
  }
  // Blocking from here on, with a bound on every write: the relay polls before it reads.
  ::fcntl(fd.get(), F_SETFL, ::fcntl(fd.get(), F_GETFL) & ~O_NONBLOCK);
  timeval tv{30, 0};
  ::setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  int one = 1;
  ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

void run_pod_proxy_session(SSL* ssl, int fd, UniqueFd pod, const ExecOptions& options,
                           const std::atomic<bool>& stopping) {
  auto last_activity = std::chrono::steady_clock::now();
  bool from_server_open = true;
  char buf[kReadChunk];
  while (!stopping) {
    if (std::chrono::steady_clock::now() - last_activity > options.idle_timeout) break;
    pollfd p[2] = {{from_server_open ? fd : -1, POLLIN, 0}, {pod.get(), POLLIN, 0}};
    int timeout = from_server_open && SSL_pending(ssl) > 0 ? 0 : 200;
    if (::poll(p, 2, timeout) < 0 && errno != EINTR) break;
    if (from_server_open && (SSL_pending(ssl) > 0 || (p[0].revents & (POLLIN | POLLHUP | POLLERR)))) {
      size_t got = 0;
      if (SSL_read_ex(ssl, buf, sizeof buf, &got) == 1) {
        last_activity = std::chrono::steady_clock::now();
        if (!send_all(pod.get(), buf, got)) break;
      } else {
        int err = SSL_get_error(ssl, 0);
        if (err == SSL_ERROR_WANT_READ) continue;
        if (err != SSL_ERROR_ZERO_RETURN) return;  // the API server hung up: nothing more to relay
        // The API server sends no more (close_notify): pass the end on and keep answering.
        ::shutdown(pod.get(), SHUT_WR);
        from_server_open = false;
      }
    }
    if (p[1].revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t r = ::recv(pod.get(), buf, sizeof buf, 0);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) break;  // the pod closed (or reset) its side: the answer is complete
      last_activity = std::chrono::steady_clock::now();
      if (!send_all(ssl, std::string_view(buf, static_cast<size_t>(r)))) return;
    }
  }
  SSL_shutdown(ssl);
}

}  // namespace podnet::runtime
