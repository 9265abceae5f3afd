#include "runtime/log_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstring>
#include <deque>
#include <fstream>
#include <list>
#include <mutex>
#include <thread>

#include "common/fd.h"
#include "runtime/container_process.h"

namespace podnet::runtime {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

namespace {

// "2024-05-01T12:00:00.123456789Z" -> unix ns; 0 when malformed.
int64_t parse_ts(std::string_view ts) {
  int y, mo, d, h, mi, s;
  long long frac = 0;
  char buf[64] = {};
  std::memcpy(buf, ts.data(), std::min(ts.size(), sizeof buf - 1));
  int n = std::sscanf(buf, "%d-%d-%dT%d:%d:%d.%lld", &y, &mo, &d, &h, &mi, &s, &frac);
  if (n < 6) return 0;
  // days_from_civil (H. Hinnant)
  y -= mo <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  int64_t yoe = y - era * 400, doy = (153 * (mo + (mo > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  int64_t days = era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468;
  return ((days * 86400 + h * 3600 + mi * 60 + s) * 1000000000LL) + (n == 7 ? frac : 0);
}

std::string url_decode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else {
      out += s[i] == '+' ? ' ' : s[i];
    }
  }
  return out;
}

bool truthy(const std::string& v) {
  return v == "true" || v == "1" || v == "True";
}

}  // namespace

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
    if (q.since_unix_ns == 0 || parse_ts(pending_ts) >= q.since_unix_ns) {
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
  std::atomic<bool> stop{false};
  std::thread acceptor;
  std::mutex mu;
  std::list<std::thread> conns;

  void accept_loop() {
    while (!stop) {
      pollfd p{listen_fd.get(), POLLIN, 0};
      if (::poll(&p, 1, 200) <= 0) continue;
      int fd = ::accept4(listen_fd.get(), nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      std::lock_guard lock(mu);
      conns.emplace_back([this, fd] { serve(UniqueFd(fd)); });
    }
  }

  bool send_all(int fd, std::string_view data) {
    while (!data.empty()) {
      ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      data.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }
  bool chunk(int fd, std::string_view data) {
    if (data.empty()) return true;
    char head[32];
    int n = std::snprintf(head, sizeof head, "%zx\r\n", data.size());
    return send_all(fd, std::string_view(head, n)) && send_all(fd, data) && send_all(fd, "\r\n");
  }
  void reply(int fd, int code, const std::string& reason, const std::string& body) {
    send_all(fd, "HTTP/1.1 " + std::to_string(code) + " " + reason +
                     "\r\nContent-Type: text/plain\r\nConnection: close\r\nContent-Length: " +
                     std::to_string(body.size()) + "\r\n\r\n" + body);
  }

  void serve(UniqueFd fd) {
    asio::io_context ioc;
    asio::ip::tcp::socket sock(ioc);
    boost::system::error_code ec;
    // Beast parses the request; responses go out with plain send() so a follow can poll the file.
    timeval tv{10, 0};
    ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    sock.assign(asio::ip::tcp::v6(), ::dup(fd.get()), ec);
    if (ec) return;
    beast::flat_buffer buf;
    http::request<http::empty_body> req;
    http::read(sock, buf, req, ec);
    if (ec) return;
    std::string target(req.target());
    std::string path = target.substr(0, target.find('?')), query;
    if (auto qm = target.find('?'); qm != std::string::npos) query = target.substr(qm + 1);
    if (req.method() != http::verb::get) return reply(fd.get(), 405, "Method Not Allowed", "only GET\n");
    constexpr std::string_view prefix = "/containerLogs/";
    std::vector<std::string> parts;
    if (path.starts_with(prefix)) {
      std::string rest = path.substr(prefix.size());
      size_t p = 0;
      while (p <= rest.size()) {
        size_t e = rest.find('/', p);
        if (e == std::string::npos) e = rest.size();
        parts.push_back(url_decode(rest.substr(p, e - p)));
        p = e + 1;
      }
    }
    if (parts.size() != 3 || parts[0].empty() || parts[1].empty() || parts[2].empty())
      return reply(fd.get(), 404, "Not Found", "expected /containerLogs/<namespace>/<pod>/<container>\n");
    LogQuery q;
    size_t p = 0;
    while (p < query.size()) {
      size_t e = query.find('&', p);
      if (e == std::string::npos) e = query.size();
      std::string kv = query.substr(p, e - p);
      p = e + 1;
      std::string k = url_decode(kv.substr(0, kv.find('='))), v;
      if (auto eq = kv.find('='); eq != std::string::npos) v = url_decode(kv.substr(eq + 1));
      try {
        if (k == "follow") q.follow = truthy(v);
        if (k == "timestamps") q.timestamps = truthy(v);
        if (k == "tailLines") q.tail_lines = std::stoll(v);
        if (k == "limitBytes") q.limit_bytes = std::stoll(v);
        if (k == "sinceSeconds") q.since_unix_ns = unix_now_ns() - std::stoll(v) * 1000000000LL;
        if (k == "sinceTime") q.since_unix_ns = parse_ts(v);
      } catch (const std::exception&) {
        return reply(fd.get(), 400, "Bad Request", "invalid value for " + k + "\n");
      }
    }
    auto src = resolver(parts[0], parts[1], parts[2]);
    if (!src)
      return reply(fd.get(), 404, "Not Found",
                   "container " + parts[2] + " of pod " + parts[0] + "/" + parts[1] + " is not on this node\n");
    std::ifstream in(src->path, std::ios::binary);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    // Only whole lines are rendered; the rest is read again with the next poll.
    size_t done = text.rfind('\n') == std::string::npos ? 0 : text.rfind('\n') + 1;
    std::string first = render_cri_log(text.substr(0, done), q);
    if (!send_all(fd.get(), "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n"
                            "Connection: close\r\n\r\n"))
      return;
    if (!chunk(fd.get(), first)) return;
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
        if (!chunk(fd.get(), out)) return;
        sent += static_cast<int64_t>(out.size());
        done += end + 1;
        continue;
      }
      if (!running) break;
      // A client that hung up shows as readable-with-EOF.
      pollfd pf{fd.get(), POLLIN, 0};
      if (::poll(&pf, 1, 200) > 0) {
        char c;
        if (::recv(fd.get(), &c, 1, MSG_DONTWAIT) <= 0) return;
      }
    }
    send_all(fd.get(), "0\r\n\r\n");
  }
};

Result<std::unique_ptr<LogServer>> LogServer::start(const std::string& address, uint16_t port,
                                                    const netlink::NetNs* netns, LogResolver resolver) {
  auto impl = std::make_unique<Impl>();
  impl->resolver = std::move(resolver);
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
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) return fail("bind log server " + where);
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
  for (auto& t : impl_->conns) t.join();
}

uint16_t LogServer::port() const {
  return impl_->port;
}

}  // namespace podnet::runtime
