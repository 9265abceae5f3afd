#include "runtime/portforward_session.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <charconv>
#include <chrono>
#include <cstring>

#include "common/fd.h"
#include "common/query.h"
#include "common/request_target.h"
#include "common/stream_frames.h"
#include "netlink/netns.h"

namespace podnet::runtime {
namespace {

// strerror's text as Go prints it ("connection refused").
std::string lower(const char* s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

constexpr size_t kMaxTarget = 16 * 1024;
constexpr size_t kReadChunk = 32 * 1024;
constexpr size_t kBacklog = 1 << 20;  // bytes held for one connection before reads pause

std::unexpected<ExecRequestError> bad(std::string message) {
  return std::unexpected(ExecRequestError{400, std::move(message)});
}

bool send_all(SSL* ssl, std::string_view data) {
  while (!data.empty()) {
    size_t n = 0;
    if (SSL_write_ex(ssl, data.data(), data.size(), &n) != 1) return false;
    data.remove_prefix(n);
  }
  return true;
}

struct Forward {
  uint16_t port = 0;
  UniqueFd sock;
  std::string pending;  // from the client, not yet written to the socket
  bool open = false;
  bool client_done = false, write_shut = false;  // the client sends no more: shut the socket's write side
};

}  // namespace

std::expected<PortForwardRequest, ExecRequestError> parse_portforward_request(std::string_view t) {
  if (t.size() > kMaxTarget) return bad("request target too long");
  std::string_view path = t.substr(0, t.find('?'));
  std::string_view query = path.size() < t.size() ? t.substr(path.size() + 1) : std::string_view();
  constexpr std::string_view prefix = "/portForward/";
  constexpr const char* kShape = "expected /portForward/<namespace>/<pod>";
  if (!path.starts_with(prefix)) return std::unexpected(ExecRequestError{404, kShape});
  auto parts = target::decode_segments(path.substr(prefix.size()), 2);
  if (!parts) return bad(parts.error());
  if (parts->size() != 2) return std::unexpected(ExecRequestError{404, kShape});
  if (!target::valid_name((*parts)[0])) return bad("invalid namespace name");
  if (!target::valid_name((*parts)[1])) return bad("invalid pod name");
  PortForwardRequest r{(*parts)[0], (*parts)[1], {}};
  auto params = target::parse_query(query);
  if (!params) return bad(params.error());
  for (const auto& [key, value] : *params) {
    if (key != "port" && key != "ports") continue;
    std::string_view list = value;
    while (true) {
      size_t comma = list.find(',');
      std::string_view one = list.substr(0, comma);
      unsigned port = 0;
      auto [end, ec] = std::from_chars(one.data(), one.data() + one.size(), port);
      if (one.empty() || ec != std::errc() || end != one.data() + one.size() || port < 1 || port > 65535)
        return bad("invalid port value \"" + std::string(one.substr(0, 16)) + "\"");
      if (r.ports.size() >= kMaxForwardedPorts)
        return bad("at most " + std::to_string(kMaxForwardedPorts) + " ports per port-forward");
      r.ports.push_back(static_cast<uint16_t>(port));
      if (comma == std::string_view::npos) break;
      list = list.substr(comma + 1);
    }
  }
  if (r.ports.empty()) return bad("query parameter \"port\" is required");
  return r;
}

void run_portforward_session(SSL* ssl, int fd, const PortForwardRequest& req, const ProcessId& pod_process,
                             const ExecOptions& options, const std::atomic<bool>& stopping) {
  auto send_frame = [&](uint8_t ch, std::string_view data) {
    return send_all(ssl, streams::encode_frame(ch, data));
  };
  const std::string ns_path = "/proc/" + std::to_string(pod_process.pid) + "/ns/net";
  auto netns = netlink::NetNs::open(ns_path);
  bool same = netns && proc_start_time(pod_process.pid) == pod_process.start_time;
  std::vector<Forward> fwd(req.ports.size());
  for (size_t i = 0; i < req.ports.size(); ++i) {
    Forward& f = fwd[i];
    f.port = req.ports[i];
    std::string prefix{static_cast<char>(f.port & 0xff), static_cast<char>(f.port >> 8)};
    if (!send_frame(static_cast<uint8_t>(2 * i), prefix) ||
        !send_frame(static_cast<uint8_t>(2 * i + 1), prefix))
      return;
    std::string why = "the pod is not running";
    if (same) {
      // Each family's error in containerd's words: "dial tcp4 127.0.0.1:8080: connect: connection refused".
      std::string tried[2];
      auto sock = netns->run([&]() -> Result<int> {
        // IPv4 localhost first, then IPv6, as kubelet's port-forward tries both.
        for (int family : {AF_INET, AF_INET6}) {
          std::string& err = tried[family == AF_INET ? 0 : 1];
          err = std::string(family == AF_INET ? "dial tcp4 127.0.0.1:" : "dial tcp6 [::1]:") +
                std::to_string(f.port) + ": connect: ";
          UniqueFd s(::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0));
          if (!s.valid()) {
            err += lower(std::strerror(errno));
            continue;
          }
          int rc;
          if (family == AF_INET) {
            sockaddr_in a{};
            a.sin_family = AF_INET;
            a.sin_port = htons(f.port);
            a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            rc = ::connect(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof a);
          } else {
            sockaddr_in6 a{};
            a.sin6_family = AF_INET6;
            a.sin6_port = htons(f.port);
            a.sin6_addr = in6addr_loopback;
            rc = ::connect(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof a);
          }
          if (rc == 0) return s.release();
          err += lower(std::strerror(errno));
        }
        return fail("connect");
      });
      if (sock) {
        f.sock = UniqueFd(*sock);
        f.open = true;
        int one = 1;
        ::setsockopt(f.sock.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        ::fcntl(f.sock.get(), F_SETFL, ::fcntl(f.sock.get(), F_GETFL) | O_NONBLOCK);
        continue;
      }
      why = tried[0].empty() ? sock.error().message() : "IPv4: " + tried[0] + " IPv6 " + tried[1];
    }
    send_frame(static_cast<uint8_t>(2 * i + 1),
               "error forwarding port " + std::to_string(f.port) + " to pod " + req.pod +
                   ": failed to connect to localhost:" + std::to_string(f.port) +
                   " inside the pod's network namespace, " + why);
  }

  streams::FrameDecoder decoder;
  auto last_activity = std::chrono::steady_clock::now();
  char buf[kReadChunk];
  for (;;) {
    if (stopping) break;
    auto now = std::chrono::steady_clock::now();
    if (now - last_activity > options.idle_timeout) break;
    while (auto frame = decoder.next()) {
      last_activity = now;
      size_t i = frame->channel / 2;
      if (frame->channel % 2 == 0 && i < fwd.size() && fwd[i].open) fwd[i].pending += frame->payload;
      // The client is done sending on data channel 2i (kubectl's FIN on a SPDY data stream).
      if (frame->channel == streams::kClose && frame->payload.size() == 1) {
        uint8_t done = static_cast<uint8_t>(frame->payload[0]);
        if (done % 2 == 0 && done / 2 < fwd.size()) fwd[done / 2].client_done = true;
      }
    }
    for (auto& f : fwd)
      if (f.open && f.client_done && f.pending.empty() && !f.write_shut) {
        ::shutdown(f.sock.get(), SHUT_WR);
        f.write_shut = true;
      }
    bool any_open = false, backlog = false;
    for (const auto& f : fwd) {
      any_open |= f.open;
      backlog |= f.pending.size() > kBacklog;
    }
    if (!any_open) break;
    std::vector<pollfd> p;
    bool want_sock = !backlog && !decoder.bad();
    p.push_back({want_sock ? fd : -1, POLLIN, 0});
    for (const auto& f : fwd)
      p.push_back(
          {f.open ? f.sock.get() : -1, static_cast<short>(POLLIN | (f.pending.empty() ? 0 : POLLOUT)), 0});
    int timeout = want_sock && SSL_pending(ssl) > 0 ? 0 : 200;
    if (::poll(p.data(), p.size(), timeout) < 0 && errno != EINTR) break;
    if (want_sock && (SSL_pending(ssl) > 0 || (p[0].revents & (POLLIN | POLLHUP | POLLERR)))) {
      size_t got = 0;
      if (SSL_read_ex(ssl, buf, sizeof buf, &got) != 1) return;  // the API server hung up
      if (!decoder.feed(std::string_view(buf, got))) return;
    }
    for (size_t i = 0; i < fwd.size(); ++i) {
      Forward& f = fwd[i];
      short ev = p[i + 1].revents;
      if (!f.open || !ev) continue;
      if (!f.pending.empty() && (ev & (POLLOUT | POLLERR | POLLHUP))) {
        ssize_t w = ::send(f.sock.get(), f.pending.data(), f.pending.size(), MSG_NOSIGNAL);
        if (w > 0) f.pending.erase(0, static_cast<size_t>(w));
        if (w < 0 && errno != EAGAIN && errno != EINTR) f.open = false;
      }
      if (f.open && (ev & (POLLIN | POLLHUP | POLLERR))) {
        ssize_t r = ::recv(f.sock.get(), buf, sizeof buf, 0);
        if (r > 0) {
          last_activity = std::chrono::steady_clock::now();
          if (!send_frame(static_cast<uint8_t>(2 * i), std::string_view(buf, static_cast<size_t>(r)))) return;
        } else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
          f.open = false;
        }
      }
      if (!f.open) f.sock.reset();
    }
  }
  SSL_shutdown(ssl);
}

}  // namespace podnet::runtime
