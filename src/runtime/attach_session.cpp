// One thread per session: a poll loop over the API server's connection and the shim's socket, frames
// decoded on both sides so that only what the client asked for passes (stdout, stderr, its stdin).
#include "runtime/attach_session.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <boost/json.hpp>
#include <cerrno>
#include <chrono>

#include "common/query.h"
#include "common/request_target.h"
#include "common/stream_frames.h"
#include "runtime/shim.h"
#include "runtime/tls_send.h"

namespace podnet::runtime {
namespace json = boost::json;

namespace {

constexpr size_t kMaxTarget = 16 * 1024;
constexpr size_t kReadChunk = 32 * 1024;

std::unexpected<ExecRequestError> bad(std::string message) {
  return std::unexpected(ExecRequestError{400, std::move(message)});
}

bool write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

}  // namespace

std::expected<AttachRequest, ExecRequestError> parse_attach_request(std::string_view t) {
  if (t.size() > kMaxTarget) return bad("request target too long");
  auto ct = parse_container_target(t, "attach", 16);
  if (!ct) return std::unexpected(ct.error());
  AttachRequest r{std::move(ct->ns), std::move(ct->pod), std::move(ct->container)};
  for (auto& [key, value] : ct->params) {
    if (key == "input")
      r.stdin = target::kube_bool(value);
    else if (key == "output")
      r.stdout = target::kube_bool(value);
    else if (key == "error")
      r.stderr = target::kube_bool(value);
    else if (key == "tty")
      r.tty = target::kube_bool(value);
  }
  if (!r.stdin && !r.stdout && !r.stderr) return bad("you must specify at least 1 of stdin, stdout, stderr");
  return r;
}

std::optional<std::string> attach_resize_payload(std::string_view text) {
  boost::system::error_code ec;
  json::value size = json::parse(text, ec);
  const json::object* o = ec ? nullptr : size.if_object();
  auto dim = [&](const char* k) -> unsigned {
    const json::value* v = o ? o->if_contains(k) : nullptr;
    return v && v->is_int64() && v->get_int64() > 0 && v->get_int64() < 65536
               ? static_cast<unsigned>(v->get_int64())
               : 0;
  };
  unsigned w = dim("Width"), h = dim("Height");
  if (!w || !h) return std::nullopt;
  return std::string{static_cast<char>(w >> 8), static_cast<char>(w & 0xff), static_cast<char>(h >> 8),
                     static_cast<char>(h & 0xff)};
}

void run_attach_session(SSL* ssl, int fd, const AttachRequest& req, UniqueFd shim, const ExecOptions& options,
                        const std::atomic<bool>& stopping) {
  auto finish = [&](const std::string& status) {
    send_all(ssl, streams::encode_frame(streams::kError, status));
    SSL_shutdown(ssl);
  };
  timeval tv{10, 0};
  ::setsockopt(shim.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  if (!write_all(shim.get(), streams::encode_frame(kAttachHello, req.stdin ? "i" : "")))
    return finish(failure_status_json("container not found (\"" + req.container + "\")"));

  streams::FrameDecoder from_client, from_shim;
  auto last_activity = std::chrono::steady_clock::now();
  char buf[kReadChunk];
  for (;;) {
    if (stopping)
      return finish(failure_status_json("the node agent is stopping: the attach session was closed"));
    auto now = std::chrono::steady_clock::now();
    if (now - last_activity > options.idle_timeout)
      return finish(failure_status_json("the attach session was idle for longer than the node's " +
                                        std::to_string(options.idle_timeout.count()) + " ms: closed"));
    pollfd p[2] = {{fd, POLLIN, 0}, {shim.get(), POLLIN, 0}};
    int timeout = SSL_pending(ssl) > 0 ? 0 : 200;
    if (::poll(p, 2, timeout) < 0 && errno != EINTR) return;
    if (SSL_pending(ssl) > 0 || (p[0].revents & (POLLIN | POLLHUP | POLLERR))) {
      size_t got = 0;
      if (SSL_read_ex(ssl, buf, sizeof buf, &got) != 1) return;  // the client detached
      if (!from_client.feed(std::string_view(buf, got)))
        return finish(failure_status_json("malformed stream frames", "BadRequest", 400));
      last_activity = std::chrono::steady_clock::now();
      while (auto f = from_client.next()) {
        std::string out;
        if (f->channel == streams::kStdin && req.stdin) {
          out = streams::encode_frame(streams::kStdin, f->payload);
        } else if (f->channel == streams::kResize) {
          if (auto size = attach_resize_payload(f->payload))
            out = streams::encode_frame(streams::kResize, *size);
        } else if (f->channel == streams::kClose && req.stdin && !f->payload.empty() &&
                   static_cast<uint8_t>(f->payload[0]) == streams::kStdin) {
          out = streams::encode_frame(streams::kClose, f->payload.substr(0, 1));
        }
        if (!out.empty() && !write_all(shim.get(), out))
          return finish(exit_status_json({}, 0));  // the container has gone meanwhile
      }
    }
    if (p[1].revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t n = ::recv(shim.get(), buf, sizeof buf, 0);
      if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      // The shim closes its side when the container has exited (or this attach ended its input).
      if (n <= 0 || !from_shim.feed(std::string_view(buf, static_cast<size_t>(n))))
        return finish(exit_status_json({}, 0));
      last_activity = std::chrono::steady_clock::now();
      while (auto f = from_shim.next()) {
        bool wanted =
            (f->channel == streams::kStdout && req.stdout) || (f->channel == streams::kStderr && req.stderr);
        if (wanted && !send_all(ssl, streams::encode_frame(f->channel, f->payload))) return;
      }
    }
  }
}

}  // namespace podnet::runtime
